"""A plugin for the core's tests: events that echo, fail and join rooms.

Loaded through `LVNG_PLUGIN_MODULES=probe=tests.support.probe_plugin`.
"""

from __future__ import annotations

import logging

from pydantic import BaseModel, ConfigDict, Field
from sanic import Blueprint, json

from core.errors import ErrorCode, LvngError
from core.hookspecs import hookimpl
from core.http import authenticate, parse_body
from core.identity import ID_PATTERN
from core.platform import EventContext
from core.rooms import Room

log = logging.getLogger("lvng.probe")


class Echo(BaseModel):
    model_config = ConfigDict(extra="ignore")
    text: str = Field(min_length=1, max_length=100)
    count: int = Field(1, ge=1, le=10)


class RoomRef(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str = Field(pattern=ID_PATTERN)


async def echo(ctx: EventContext, payload: Echo) -> dict:
    await ctx.reply("probe:echoed", {"text": payload.text, "count": payload.count,
                                     "userId": ctx.identity.user_id})
    return {"text": payload.text, "count": payload.count}


async def boom(ctx: EventContext, payload: dict | None) -> dict:
    raise RuntimeError("probe exploded on purpose")


async def refuse(ctx: EventContext, payload: dict | None) -> dict:
    raise LvngError(ErrorCode.CONFLICT, "probe refuses")


async def join(ctx: EventContext, payload: RoomRef) -> dict:
    room = ctx.room("probe", payload.name)
    await ctx.join(room)
    await ctx.broadcast("probe:joined", {"name": payload.name, "userId": ctx.identity.user_id},
                        room)
    return {"room": room.name}


async def shout(ctx: EventContext, payload: RoomRef) -> dict:
    room = ctx.room("probe", payload.name)
    ctx.require_member(room)
    await ctx.broadcast("probe:shout", {"name": payload.name, "from": ctx.identity.user_id},
                        room, include_self=False)
    return {}


@hookimpl
def lvng_register_events(events):
    events.add("probe:echo", Echo, echo)
    events.add("probe:boom", None, boom)
    events.add("probe:refuse", None, refuse)
    events.add("probe:join", RoomRef, join)
    events.add("probe:shout", RoomRef, shout)
    events.add("probe:publish", Publish, publish)
    events.add("probe:announce", Publish, announce)


@hookimpl
def lvng_authorize_join(identity, room):
    if room.name == "probe:vetoed":
        return "the probe plugin vetoes this room"
    if room.name.startswith("probe:vip") and "vip" not in identity.roles:
        return "vip rooms need the vip role"
    return None


@hookimpl
async def lvng_client_left_room(session, room, platform, reason):
    """Tell the room, as a leave would."""
    if room.kind == "probe":
        await platform.emit("probe:left", {"name": room.parts[1], "userId": session.user_id,
                                           "reason": reason}, room=room)


@hookimpl
def lvng_client_connected(session, platform):
    if session.identity.user_id == "hook-crasher":
        raise RuntimeError("probe connect hook fails on purpose")


class Publish(BaseModel):
    model_config = ConfigDict(extra="ignore")
    note: str = Field(min_length=1, max_length=100)


async def publish(ctx: EventContext, payload: Publish) -> dict:
    await ctx.publish("probe.published", {"note": payload.note, "userId": ctx.identity.user_id})
    return {}


async def announce(ctx: EventContext, payload: Publish) -> dict:
    """To the sender's whole organization, through the org room every socket joins."""
    org = ctx.identity.organization_id
    await ctx.broadcast("probe:announced", {"note": payload.note}, ctx.room("org", org))
    return {}


@hookimpl
async def lvng_domain_event(event, platform):
    """Echo probe's own domain events to the publishing user's devices."""
    if event.source == "probe" and event.name == "probe.published":
        room = Room.of(event.organization_id, "user", event.data["userId"])
        await platform.emit("probe:domain", {"name": event.name, "source": event.source,
                                             "data": event.data}, room=room)


@hookimpl
def lvng_routes(platform):
    bp = Blueprint("probe", url_prefix="/api/v1/probe")

    @bp.get("/whoami")
    async def whoami(request):
        identity = authenticate(request)
        return json({"userId": identity.user_id, "organizationId": identity.organization_id,
                     "roles": sorted(identity.roles)})

    @bp.post("/echo")
    async def echo_body(request):
        authenticate(request)
        body = parse_body(request, Echo)
        return json({"text": body.text, "count": body.count})

    return bp


@hookimpl
async def lvng_startup(platform):
    log.info("probe plugin started with %d sessions", len(platform.sessions))


@hookimpl
async def lvng_shutdown(platform):
    log.info("probe plugin stopping")

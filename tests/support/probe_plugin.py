"""A plugin for the core's tests: events that echo, fail and join rooms.

Loaded through `LVNG_PLUGIN_MODULES=probe=tests.support.probe_plugin`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from sanic import Blueprint, json

from core.api import (
    ID_PATTERN,
    ErrorCode,
    EventContext,
    LvngError,
    Room,
    authenticate,
    hookimpl,
    parse_body,
)

log = logging.getLogger("lvng.probe")


class Echo(BaseModel):
    model_config = ConfigDict(extra="ignore")
    text: str = Field(min_length=1, max_length=100)
    count: int = Field(1, ge=1, le=10)


class RoomRef(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str = Field(pattern=ID_PATTERN)


async def echo(ctx: EventContext, payload: Echo) -> dict:
    await ctx.reply(
        "probe:echoed",
        {"text": payload.text, "count": payload.count, "userId": ctx.identity.user_id},
    )
    return {"text": payload.text, "count": payload.count}


async def boom(ctx: EventContext, payload: dict | None) -> dict:
    raise RuntimeError("probe exploded on purpose")


async def refuse(ctx: EventContext, payload: dict | None) -> dict:
    raise LvngError(ErrorCode.CONFLICT, "probe refuses")


async def join(ctx: EventContext, payload: RoomRef) -> dict:
    room = ctx.room("probe", payload.name)
    await ctx.join(room)
    await ctx.broadcast(
        "probe:joined", {"name": payload.name, "userId": ctx.identity.user_id}, room
    )
    return {"room": room.name}


async def shout(ctx: EventContext, payload: RoomRef) -> dict:
    room = ctx.room("probe", payload.name)
    ctx.require_member(room)
    await ctx.broadcast(
        "probe:shout",
        {"name": payload.name, "from": ctx.identity.user_id},
        room,
        include_self=False,
    )
    return {}


async def after(ctx: EventContext, payload: dict | None) -> dict:
    """Queues three emits to the sender on the after-ack work: they must follow the ack."""
    for n in range(3):
        ctx.after_ack.emit("probe:after", {"n": n}, to=ctx.sid)
    return {"queued": 3}


async def _fails() -> None:
    raise RuntimeError("probe's after-ack item fails on purpose")


async def after_fails(ctx: EventContext, payload: RoomRef) -> dict:
    """Under the turn of `probe/{name}`: queues an emit, an item that fails, another emit.
    The second emit and the turn's release (queued last) must still run."""
    async with ctx.platform.turn(f"probe/{payload.name}", ctx.after_ack):
        ctx.after_ack.emit("probe:after", {"n": 0, "name": payload.name}, to=ctx.sid)
        ctx.after_ack.then(_fails)
        ctx.after_ack.emit("probe:after", {"n": 2, "name": payload.name}, to=ctx.sid)
    return {"queued": 3}


@hookimpl
def lvng_register_events(events):
    events.add("probe:after", None, after)
    events.add("probe:after-fails", RoomRef, after_fails)
    events.add("probe:echo", Echo, echo)
    events.add("probe:boom", None, boom)
    events.add("probe:refuse", None, refuse)
    events.add("probe:join", RoomRef, join)
    events.add("probe:shout", RoomRef, shout)
    events.add("probe:publish", Publish, publish)
    events.add("probe:announce", Publish, announce)
    events.add("probe:publish-bad", BadPublish, publish_bad)
    events.add("probe:hold", None, hold)


class Published(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str
    userId: str


@hookimpl
def lvng_register_domain_events(events):
    events.add("probe.published", Published, "a user asked the probe to publish a note")


@hookimpl
def lvng_authorize_join(identity, room):
    if room.name == "probe:vetoed":
        return "the probe plugin vetoes this room"
    if room.name.startswith("probe:vip") and "vip" not in identity.roles:
        return "vip rooms need the vip role"
    return None


@hookimpl(trylast=True)
async def lvng_client_left_room(room, member, last, reason, platform):
    """Tell the room, as a leave would (not for a disconnect: the probe says nothing then).

    And tell the member's organization `probe:gone` for every room a socket left without
    asking. Called last, so what the other plugins emit for that leave without waiting is
    out first: a test that reads `probe:gone` knows the leave has been told."""
    if room.kind == "probe" and reason != "disconnected":
        await platform.emit(
            "probe:left",
            {"name": room.parts[1], "userId": member.user_id, "reason": reason},
            room=room,
        )
    org = member.organization_id
    await platform.emit(
        "probe:gone",
        {"room": room.name, "userId": member.user_id, "last": last, "reason": reason},
        room=Room.of(org, "org", org),
    )


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


class BadPublish(BaseModel):
    model_config = ConfigDict(extra="ignore")
    kind: str = Field(pattern="^(undeclared|invalid|extra)$")


async def publish_bad(ctx: EventContext, payload: BadPublish) -> dict:
    """Publish what the probe did not declare, or declared data of the wrong shape."""
    user = ctx.identity.user_id
    if payload.kind == "undeclared":
        await ctx.publish("probe.undeclared", {"note": "x", "userId": user})
    elif payload.kind == "invalid":
        await ctx.publish("probe.published", {"note": 42, "userId": user})
    else:
        await ctx.publish("probe.published", {"note": "x", "userId": user, "secret": 1})
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
        await platform.emit(
            "probe:domain",
            {"name": event.name, "source": event.source, "data": event.data},
            room=room,
        )


@hookimpl
def lvng_routes(platform):
    bp = Blueprint("probe", url_prefix="/api/v1/probe")

    @bp.get("/whoami")
    async def whoami(request):
        identity = authenticate(request)
        return json(
            {
                "userId": identity.user_id,
                "organizationId": identity.organization_id,
                "roles": sorted(identity.roles),
            }
        )

    @bp.post("/echo")
    async def echo_body(request):
        authenticate(request)
        body = parse_body(request, Echo)
        return json({"text": body.text, "count": body.count})

    return bp


@hookimpl
async def lvng_client_active(session, platform):
    """Tell the socket each time the gateway reports it active (the throttle under test)."""
    if session.identity.user_id.startswith("active-"):
        await platform.emit("probe:active", {"sid": session.sid}, to=session.sid)


@hookimpl
async def lvng_startup(platform):
    log.info("probe plugin started with %d sessions", len(platform.sessions))


@hookimpl
async def lvng_shutdown(platform):
    """Logs what the platform looks like when shutdown hooks run (tests read the log)."""
    from core.database import ping_database

    try:
        await ping_database()
        database = "open"
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        database = f"unusable ({type(exc).__name__})"
    log.info("probe shutdown sees %d sessions, database %s", len(platform.sessions), database)
    log.info("probe plugin stopping")


async def hold(ctx: EventContext, payload: dict | None) -> dict:
    """An event still running when the server begins to stop: it says `probe:holding`,
    waits for the stop, says `probe:stopping`, then works half a second more."""
    await ctx.reply("probe:holding", {})
    for _ in range(1000):  # at most 10 s
        if ctx.platform.stopping:
            break
        await asyncio.sleep(0.01)
    await ctx.reply("probe:stopping", {"stopping": ctx.platform.stopping})
    await asyncio.sleep(0.5)
    return {"held": True}


@hookimpl
async def lvng_client_disconnected(session, reason):
    log.info("probe saw %s disconnect: %s", session.identity.user_id, reason)
    if session.identity.user_id.startswith("slowstop-") and reason == "server shutdown":
        # Holds the stop among its sockets' disconnects until the test writes the file
        # PROBE_RELEASE names (at most 10 s).
        release = Path(os.environ["PROBE_RELEASE"])
        log.info("probe holding the disconnect of %s", session.identity.user_id)
        for _ in range(1000):
            if release.exists():
                break
            await asyncio.sleep(0.01)

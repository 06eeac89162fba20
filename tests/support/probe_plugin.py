"""A plugin for the core's tests: events that echo, fail and join rooms.

Loaded through `LVNG_PLUGIN_MODULES=probe=tests.support.probe_plugin`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from core.errors import ErrorCode, LvngError
from core.hookspecs import hookimpl
from core.platform import EventContext


class Echo(BaseModel):
    model_config = ConfigDict(extra="ignore")
    text: str = Field(min_length=1, max_length=100)
    count: int = Field(1, ge=1, le=10)


class RoomRef(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str = Field(pattern=r"^[A-Za-z0-9_.:\-]{1,128}$")


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
    return {"room": room.scope}


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


@hookimpl
def lvng_authorize_join(identity, room):
    if room.scope == "probe:vetoed":
        return "the probe plugin vetoes this room"
    return None


@hookimpl
def lvng_client_connected(session, platform):
    if session.identity.user_id == "hook-crasher":
        raise RuntimeError("probe connect hook fails on purpose")

"""Socket.IO handlers of the calls plugin: each takes the validated payload, calls the
service, and returns its ack's keys (the gateway adds `ok: true`). What the call hears is
queued by the service on the event's after-ack work, inside the room's turn."""

from __future__ import annotations

from typing import Any

from core.api import EventContext, EventRegistrar
from plugins.calls import outbound, schemas
from plugins.calls.state import CallsState


async def join(ctx: EventContext, payload: schemas.CallRef) -> dict[str, Any]:
    return await ctx.state_as(CallsState).calls.join(ctx.caller, payload.roomName)


async def leave(ctx: EventContext, payload: schemas.CallRef) -> dict[str, Any]:
    return await ctx.state_as(CallsState).calls.leave(ctx.caller, payload.roomName)


async def transcription(ctx: EventContext, payload: schemas.Transcription) -> dict[str, Any]:
    return await ctx.state_as(CallsState).transcripts.relay(
        ctx.caller, payload.roomName, payload.segment
    )


def register(events: EventRegistrar) -> None:
    events.add("call:join", schemas.CallRef, join)
    events.add("call:leave", schemas.CallRef, leave)
    events.add("call:transcription", schemas.Transcription, transcription)
    outbound.register(events)

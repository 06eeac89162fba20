"""Socket.IO handlers of the calls plugin: each takes the validated payload, calls the
service, and returns its ack's keys (the gateway adds `ok: true`). What the call hears is
queued by the service on the event's after-ack work, inside the room's turn."""

from __future__ import annotations

from typing import Any

from core.api import EventContext, EventRegistrar
from plugins.calls import outbound, payloads, schemas
from plugins.calls.state import CallsState


async def join(ctx: EventContext, payload: schemas.CallRef) -> dict[str, Any]:
    return await ctx.state_as(CallsState).calls.join(ctx.caller, payload.roomName)


async def leave(ctx: EventContext, payload: schemas.CallRef) -> dict[str, Any]:
    return await ctx.state_as(CallsState).calls.leave(ctx.caller, payload.roomName)


async def transcription(ctx: EventContext, payload: schemas.Transcription) -> dict[str, Any]:
    return await ctx.state_as(CallsState).transcripts.relay(
        ctx.caller, payload.roomName, payload.segment
    )


async def transcript(ctx: EventContext, payload: schemas.TranscriptPage) -> dict[str, Any]:
    """A page of the latest call's transcript (or the one asked for), for anyone of the
    organization: `{roomName, callId, startedAt, endedAt, segments, hasMore}`."""
    t = ctx.state_as(CallsState).transcripts
    call = await t.find_call(ctx.identity.organization_id, payload.roomName, payload.callId)
    segments, more = await t.page(
        call, before=payload.before, after=payload.after, limit=payload.limit
    )
    return payloads.transcript(call, segments, more)


def register(events: EventRegistrar) -> None:
    events.add("call:join", schemas.CallRef, join)
    events.add("call:leave", schemas.CallRef, leave)
    events.add("call:transcription", schemas.Transcription, transcription)
    events.add("call:transcript", schemas.TranscriptPage, transcript)
    outbound.register(events)

"""Socket.IO handlers of the swarm plugin: each takes the validated payload, calls the
service, and returns its ack's keys (the gateway adds `ok: true`). What the socket hears
next is queued by the service on the event's after-ack work."""

from __future__ import annotations

from typing import Any

from core.api import EventContext, EventRegistrar
from plugins.swarm import outbound, schemas
from plugins.swarm.state import SwarmState


async def subscribe(ctx: EventContext, payload: schemas.Subscribe) -> dict[str, Any]:
    return await ctx.state_as(SwarmState).subscriptions.subscribe(
        ctx.caller, payload.sessionId, payload.afterSeq
    )


async def unsubscribe(ctx: EventContext, payload: schemas.SessionRef) -> dict[str, Any]:
    return await ctx.state_as(SwarmState).subscriptions.unsubscribe(ctx.caller, payload.sessionId)


def register(events: EventRegistrar) -> None:
    events.add("swarm:subscribe", schemas.Subscribe, subscribe)
    events.add("swarm:unsubscribe", schemas.SessionRef, unsubscribe)
    outbound.register(events)

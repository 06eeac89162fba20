"""Socket.IO handlers of the activity plugin: each takes the validated payload, calls the
service, and returns its ack's keys (the gateway adds `ok: true`). What sockets hear is
queued by the service on the event's after-ack work."""

from __future__ import annotations

from typing import Any

from core.api import EventContext, EventRegistrar
from plugins.activity import outbound, schemas
from plugins.activity.state import ActivityState


async def subscribe(ctx: EventContext, payload: schemas.CustomerRef) -> dict[str, Any]:
    return await ctx.state_as(ActivityState).feed.subscribe(ctx.caller, payload.customerId)


async def unsubscribe(ctx: EventContext, payload: schemas.CustomerRef) -> dict[str, Any]:
    return await ctx.state_as(ActivityState).feed.unsubscribe(ctx.caller, payload.customerId)


async def read(ctx: EventContext, payload: schemas.Read) -> dict[str, Any]:
    return await ctx.state_as(ActivityState).feed.read(
        ctx.caller, payload.customerId, payload.itemId
    )


def register(events: EventRegistrar) -> None:
    events.add("activity:subscribe", schemas.CustomerRef, subscribe)
    events.add("activity:unsubscribe", schemas.CustomerRef, unsubscribe)
    events.add("activity:read", schemas.Read, read)
    outbound.register(events)

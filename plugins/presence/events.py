"""Socket.IO handlers of the presence plugin: each takes the validated payload, calls the
service, and returns its ack's keys (the gateway adds `ok: true`)."""

from __future__ import annotations

from typing import Any

from core.api import EventContext, EventRegistrar
from plugins.presence import outbound, schemas
from plugins.presence.state import PresenceState


async def update(ctx: EventContext, payload: schemas.UpdatePresence) -> dict[str, Any]:
    """Ack: the user's presence as the organization hears it."""
    return await ctx.state_as(PresenceState).presence.update(ctx.caller, payload)


async def heartbeat(ctx: EventContext, payload: schemas.Empty) -> dict[str, Any]:
    """Nothing to do: like any event, it is activity (`lvng_client_active`)."""
    return {}


async def list_users(ctx: EventContext, payload: schemas.ListPresence) -> dict[str, Any]:
    """Ack: one page of the organization's users, by id; `nextCursor` null on the last."""
    state = ctx.state_as(PresenceState)
    users, cursor = await state.listing.page(ctx.caller.org, payload.limit, payload.cursor)
    return {"users": users, "nextCursor": cursor}


async def subscribe(ctx: EventContext, payload: schemas.UserIds) -> dict[str, Any]:
    """Ack: each user's current presence; from now on this socket hears their changes,
    whatever the organization's size (at most 2,000 per socket)."""
    state = ctx.state_as(PresenceState)
    return {"users": await state.subscriptions.subscribe(ctx.caller, payload.userIds)}


async def unsubscribe(ctx: EventContext, payload: schemas.UserIds) -> dict[str, Any]:
    """Ack: the ids this socket was subscribed to and no longer is."""
    state = ctx.state_as(PresenceState)
    return {"userIds": await state.subscriptions.unsubscribe(ctx.caller, payload.userIds)}


def register(events: EventRegistrar) -> None:
    events.add("presence:update", schemas.UpdatePresence, update)
    events.add("presence:heartbeat", schemas.Empty, heartbeat)
    events.add("presence:list", schemas.ListPresence, list_users)
    events.add("presence:subscribe", schemas.UserIds, subscribe)
    events.add("presence:unsubscribe", schemas.UserIds, unsubscribe)
    outbound.register(events)

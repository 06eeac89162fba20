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


async def list_users(ctx: EventContext, payload: schemas.Empty) -> dict[str, Any]:
    return {"users": await ctx.state_as(PresenceState).presence.users(ctx.identity.organization_id)}


def register(events: EventRegistrar) -> None:
    events.add("presence:update", schemas.UpdatePresence, update)
    events.add("presence:heartbeat", schemas.Empty, heartbeat)
    events.add("presence:list", schemas.Empty, list_users)
    outbound.register(events)

"""The presence plugin: who is online, across devices and nodes (contract section 6).
Hook implementations only; the folder's map is in README.md.

Settings, `[plugins.presence]` in the config file (settings.py):

    away_after_seconds = 120        # no event for this long turns `online` into `away`
    offline_grace_seconds = 10      # the last socket gone this long → `offline`
    org_broadcast_limit = 1000      # above this many online users, only subscribers hear
    coalesce_ms = 50                # a large organization's changes wait this window

Domain events it publishes: none.
"""

from __future__ import annotations

from typing import Any

from sanic import Blueprint

from core.api import EventRegistrar, Member, Platform, PluginMetrics, Room, Session, hookimpl
from plugins.presence import events as events_module
from plugins.presence.metrics import PresenceMetrics
from plugins.presence.routes import routes
from plugins.presence.settings import PresenceSettings
from plugins.presence.state import PresenceState

PLUGIN = "presence"


@hookimpl
def lvng_settings() -> type[PresenceSettings]:
    return PresenceSettings


@hookimpl
def lvng_metrics(metrics: PluginMetrics) -> PresenceMetrics:
    return PresenceMetrics(metrics)


@hookimpl
def lvng_state(platform: Platform) -> PresenceState:
    return PresenceState(
        platform,
        platform.settings_of(PLUGIN, PresenceSettings),
        platform.metrics_of(PLUGIN, PresenceMetrics),
    )


@hookimpl
def lvng_register_events(events: EventRegistrar) -> None:
    events_module.register(events)


@hookimpl
def lvng_routes() -> Blueprint:
    return routes


@hookimpl
async def lvng_client_connected(session: Session, platform: Platform) -> None:
    await platform.state_of(PLUGIN, PresenceState).presence.connected(session)


@hookimpl
async def lvng_client_active(session: Session, platform: Platform) -> None:
    await platform.state_of(PLUGIN, PresenceState).presence.active(session)


@hookimpl
async def lvng_client_left_room(
    room: Room, member: Member, last: bool, reason: str, platform: Platform
) -> None:
    """Only `org:{organizationId}`: leaving it is leaving the organization (for `last`,
    the user's last socket anywhere)."""
    if room.kind == "org":
        state = platform.state_of(PLUGIN, PresenceState)
        state.subscriptions.gone(member.sid)
        await state.presence.left(member, last, reason)


@hookimpl
async def lvng_admin_snapshot(platform: Platform, organization_id: str) -> dict[str, Any]:
    """The inspection page's presence: every user of the organization and their status."""
    return {
        "users": await platform.state_of(PLUGIN, PresenceState).listing.everyone(organization_id)
    }

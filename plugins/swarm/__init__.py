"""The swarm plugin: agent sessions with live, replayable progress (contract section 8).
Hook implementations only; the folder's map is in README.md.

Settings, `[plugins.swarm]` in the config file (settings.py):

    read_page = 100            # updates per GET page when `limit` is not given (1 to 500)
    max_event_bytes = 65536    # an event's output and data together, as JSON

Domain events it publishes (`lvng_domain_event`), for session events whose `data` carries
a `customerId`: `swarm.session.started`, `swarm.step.started`, `swarm.step.completed`,
`swarm.step.failed`, `swarm.session.completed`, `swarm.session.failed`; each carries the
update (`sessionId`, `seq`, `type`, `agent`, `stepId`, `title`, `status`, `output`,
`data`, `timestamp`, `eventId`), `customerId`, `sessionStatus`, and the publishing
service's `userId` and `userName`.
"""

from __future__ import annotations

from typing import Any

from sanic import Blueprint

from core.api import (
    DomainEventRegistrar,
    EventRegistrar,
    Member,
    Platform,
    PluginMetrics,
    Room,
    hookimpl,
)
from plugins.swarm import admin, domain_events
from plugins.swarm import events as events_module
from plugins.swarm.metrics import SwarmMetrics
from plugins.swarm.routes import routes
from plugins.swarm.settings import SwarmSettings
from plugins.swarm.state import SwarmState

PLUGIN = "swarm"


@hookimpl
def lvng_settings() -> type[SwarmSettings]:
    return SwarmSettings


@hookimpl
def lvng_register_domain_events(events: DomainEventRegistrar) -> None:
    domain_events.register(events)


@hookimpl
def lvng_metrics(metrics: PluginMetrics) -> SwarmMetrics:
    return SwarmMetrics(metrics)


@hookimpl
def lvng_state(platform: Platform) -> SwarmState:
    return SwarmState(
        platform,
        platform.settings_of(PLUGIN, SwarmSettings),
        platform.metrics_of(PLUGIN, SwarmMetrics),
    )


@hookimpl
def lvng_register_events(events: EventRegistrar) -> None:
    events_module.register(events)


@hookimpl
def lvng_models() -> list[str]:
    return ["plugins.swarm.models"]


@hookimpl
def lvng_routes() -> Blueprint:
    return routes


@hookimpl
async def lvng_client_left_room(
    room: Room, member: Member, last: bool, reason: str, platform: Platform
) -> None:
    """A subscriber's socket went (the room is told nothing: a subscription is private);
    one an admin removed hears `swarm:unsubscribed`."""
    if room.kind == "swarm":
        await platform.state_of(PLUGIN, SwarmState).subscriptions.left_room(room, member, reason)


@hookimpl
async def lvng_admin_snapshot(platform: Platform, organization_id: str) -> dict[str, Any]:
    """The inspection page's swarm sessions: the latest ones, status and subscribers."""
    return await admin.snapshot(platform, organization_id)

"""The calls plugin: call rooms and live transcription (contract section 7). Hook
implementations only; the folder's map is in README.md.

Settings, `[plugins.calls]` in the config file (settings.py):

    join_transcript_limit = 500     # final segments a joiner's call:joined carries (0-500)
    metrics_refresh_seconds = 15    # how often the gauges are re-read from the database

Domain events it publishes (`lvng_domain_event`): `call.started`, `call.ended`,
`call.participant_joined`, `call.participant_left`, `call.transcript_segment`; each
carries `roomName` and `callId`.
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
    Session,
    hookimpl,
)
from plugins.calls import admin, domain_events
from plugins.calls import events as events_module
from plugins.calls.metrics import CallsMetrics
from plugins.calls.routes import routes
from plugins.calls.settings import CallsSettings
from plugins.calls.state import CallsState

PLUGIN = "calls"


@hookimpl
def lvng_settings() -> type[CallsSettings]:
    return CallsSettings


@hookimpl
def lvng_register_domain_events(events: DomainEventRegistrar) -> None:
    domain_events.register(events)


@hookimpl
def lvng_metrics(metrics: PluginMetrics) -> CallsMetrics:
    return CallsMetrics(metrics)


@hookimpl
def lvng_state(platform: Platform) -> CallsState:
    return CallsState(
        platform,
        platform.settings_of(PLUGIN, CallsSettings),
        platform.metrics_of(PLUGIN, CallsMetrics),
    )


@hookimpl
def lvng_register_events(events: EventRegistrar) -> None:
    events_module.register(events)


@hookimpl
def lvng_models() -> list[str]:
    return ["plugins.calls.models"]


@hookimpl
def lvng_routes() -> Blueprint:
    return routes


@hookimpl
async def lvng_startup(platform: Platform) -> None:
    await platform.state_of(PLUGIN, CallsState).start()


@hookimpl
async def lvng_client_recovered(session: Session, rooms: list[Room], platform: Platform) -> None:
    """A recovered socket whose user had left its calls at the drop is back in them, as
    the same participant, while the call goes on."""
    calls = platform.state_of(PLUGIN, CallsState).calls
    for room in rooms:
        await calls.came_back(session, room)


@hookimpl
async def lvng_client_left_room(
    room: Room, member: Member, last: bool, reason: str, platform: Platform
) -> None:
    """A disconnect (or a dead node) takes the user out of the call when it was its last
    socket: `call:participant_left` with reason `disconnected`."""
    await platform.state_of(PLUGIN, CallsState).calls.left_room(room, member, last, reason)


@hookimpl
async def lvng_admin_snapshot(organization_id: str) -> dict[str, Any]:
    """The inspection page's calls: those in progress, with their participants."""
    return await admin.snapshot(organization_id)

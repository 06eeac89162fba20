"""The activity plugin: a live feed per customer, made of what the other plugins do
(contract section 8). Hook implementations only; the folder's map is in README.md.

It imports no other plugin: it consumes their domain events by name
(`message.created` in a customer conversation, `conversation.member_joined`,
`swarm.session.completed` / `swarm.session.failed` with a `customerId`), and services post
items over HTTP. It publishes no domain events.

Settings, `[plugins.activity]` in the config file (settings.py):

    subscribe_items = 20     # newest items in `activity:subscribed`
    item_writers = 2         # items from domain events written at once on a node
    drain_seconds = 5        # how long shutdown waits for items being made
"""

from __future__ import annotations

from sanic import Blueprint

from core.api import (
    DomainEvent,
    EventRegistrar,
    Member,
    Platform,
    PluginMetrics,
    Room,
    hookimpl,
)
from plugins.activity import events as events_module
from plugins.activity.metrics import ActivityMetrics
from plugins.activity.routes import routes
from plugins.activity.settings import ActivitySettings
from plugins.activity.state import ActivityState

PLUGIN = "activity"


@hookimpl
def lvng_settings() -> type[ActivitySettings]:
    return ActivitySettings


@hookimpl
def lvng_metrics(metrics: PluginMetrics) -> ActivityMetrics:
    return ActivityMetrics(metrics)


@hookimpl
def lvng_state(platform: Platform) -> ActivityState:
    state = ActivityState(
        platform,
        platform.settings_of(PLUGIN, ActivitySettings),
        platform.metrics_of(PLUGIN, ActivityMetrics),
    )
    platform.derived.add(PLUGIN, state.sources.derive)  # items in their cause's transaction
    return state


@hookimpl
def lvng_register_events(events: EventRegistrar) -> None:
    events_module.register(events)


@hookimpl
def lvng_models() -> list[str]:
    return ["plugins.activity.models"]


@hookimpl
def lvng_routes() -> Blueprint:
    return routes


@hookimpl
def lvng_domain_event(event: DomainEvent, platform: Platform) -> None:
    """Start making the item of an event published without its cause's transaction, off
    the publisher's path (the others were stored with their cause: sources.py)."""
    platform.state_of(PLUGIN, ActivityState).sources.take(event)


@hookimpl
async def lvng_client_left_room(
    room: Room, member: Member, reason: str, platform: Platform
) -> None:
    await platform.state_of(PLUGIN, ActivityState).feed.left_room(room, member, reason)


@hookimpl
async def lvng_shutdown(platform: Platform) -> None:
    """Let items being made from domain events finish before the database closes."""
    state = platform.state_of(PLUGIN, ActivityState)
    await state.sources.drain(state.settings.drain_seconds)

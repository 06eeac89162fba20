"""Every hook a plugin can implement, in one place (contract section 9).

A plugin is a module (or object) with functions decorated by `hookimpl` and named after
the specs below. Any implementation may be `async def`; the core awaits it. The core calls
each plugin's implementation on its own, so it always knows which plugin answered and one
failing plugin never stops the others in a fan-out hook.

Registration hooks (events, models, metrics, routes) run once at start-up; a plugin that
raises there stops the start with one line naming it. Fan-out hooks (connect, disconnect,
startup, shutdown, domain events) log and count a failure in
`lvng_plugin_errors_total{plugin,hook}` and go on with the next plugin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from sanic import Blueprint

    from core.identity import Identity
    from core.platform import DomainEvent, Platform, PluginMetrics, Session
    from core.registry import EventRegistrar
    from core.rooms import Room

PROJECT = "lvng"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# --- registration: called once per plugin at start-up ---------------------------------


@hookspec
def lvng_register_events(events: EventRegistrar) -> None:
    """Called at start-up: add this plugin's events with `events.add(name, schema, handler)`."""


@hookspec
def lvng_models() -> list[str]:
    """Called at start-up: return the module paths holding this plugin's Tortoise models.

    The app label is the plugin's name; migrations live in the `migrations` package beside
    the models module.
    """


@hookspec
def lvng_metrics(metrics: PluginMetrics) -> Any:
    """Called at start-up: create this plugin's metrics with `metrics.counter(...)` etc.

    Names are prefixed `lvng_NAME_` and land in the app's own registry. Whatever is
    returned is kept and handed back as `ctx.metrics` in this plugin's handlers and as
    `platform.metrics_of(NAME)`.
    """


@hookspec
def lvng_routes(platform: Platform) -> Blueprint | list[Blueprint] | None:
    """Called at start-up: return this plugin's Sanic Blueprint(s) for its HTTP routes."""


# --- lifecycle: fan-out, failures isolated --------------------------------------------


@hookspec
def lvng_startup(platform: Platform) -> None:
    """Called once the database is ready, before the first client connects."""


@hookspec
def lvng_shutdown(platform: Platform) -> None:
    """Called when the server stops, before the database closes."""


@hookspec
def lvng_client_connected(session: Session, platform: Platform) -> None:
    """Called after a client is authenticated and has joined its org and user rooms."""


@hookspec
def lvng_client_disconnected(session: Session, platform: Platform, reason: str) -> None:
    """Called when a client goes, while `session.rooms` still lists the rooms it was in."""


@hookspec
def lvng_client_left_room(session: Session, room: Room, platform: Platform,
                          reason: str) -> None:
    """Called when the core takes a socket out of a room it had joined, not at its own
    request and not by a disconnect; `reason` says why.

    `"refresh"`: an `auth:refresh` token no longer grants the room (`lvng_authorize_join`
    now vetoes it). The socket has already left the room and `session.identity` is the new
    one. The plugin owning the room tells it as it tells a leave (`member:left`, a typing
    stop, ...); the client learns it from the refresh's ack (`left`).
    """


# --- authorization --------------------------------------------------------------------


@hookspec
def lvng_authorize_join(identity: Identity, room: Room, platform: Platform) -> bool | str | None:
    """Called before any socket joins any room: return False (or a reason string) to veto.

    Return None or True to abstain. Every plugin is asked; one veto refuses the join with
    FORBIDDEN. A plugin that raises here refuses the join too (fail closed).
    """


# --- domain events --------------------------------------------------------------------


@hookspec
def lvng_domain_event(event: DomainEvent, platform: Platform) -> None:
    """Called for every domain event a plugin publishes with `platform.publish(...)`.

    This is how plugins talk to each other (a message in a customer conversation becomes
    an activity item, say) without importing each other.
    """

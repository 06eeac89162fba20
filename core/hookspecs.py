"""Every hook a plugin can implement, in one place (contract section 9).

A plugin is a module (or object) with functions decorated by `hookimpl` and named after
the specs below. Any implementation may be `async def`; the core awaits it. The core calls
each plugin's implementation on its own, so it always knows which plugin answered and one
failing plugin never stops the others in a fan-out hook.

Registration hooks (events, domain events, models, metrics, routes) run once at start-up; a
plugin that raises there stops the start with one line naming it. Fan-out hooks (connect,
disconnect, activity, startup, shutdown, domain events) log and count a failure in
`lvng_plugin_errors_total{plugin,hook}` and go on with the next plugin. Implementations run
in pluggy's order (`tryfirst`, then the last registered first, then `trylast`); wrappers
(`wrapper=True`, `hookwrapper=True`) are refused at start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from pydantic import BaseModel
    from sanic import Blueprint

    from core.data import DomainEvent, Member, Session
    from core.identity import Identity
    from core.metrics import PluginMetrics
    from core.platform import Platform
    from core.registry import DomainEventRegistrar, EventRegistrar
    from core.rooms import Room

PROJECT = "lvng"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# --- registration: called once per plugin at start-up ---------------------------------


@hookspec
def lvng_settings() -> type[BaseModel]:
    """Called at start-up: return the pydantic model of this plugin's `[plugins.NAME]` table.

    The core validates the table with it before anything starts (a bad value stops the
    start with one line naming the setting, exit 2) and hands the instance back as
    `ctx.settings` and `platform.settings_of(NAME)`. A plugin without this hook takes no
    settings.
    """


@hookspec
def lvng_state(platform: Platform) -> Any:
    """Called at start-up, after settings and metrics: return this plugin's runtime state
    object (its services, caches, timers' owners), reached as `ctx.state` and
    `platform.state_of(NAME)`. Never keep it in a module-level global."""


@hookspec
def lvng_register_events(events: EventRegistrar) -> None:
    """Called at start-up: add this plugin's events with `events.add(name, schema, handler)`."""


@hookspec
def lvng_register_domain_events(events: DomainEventRegistrar) -> None:
    """Called at start-up: declare each domain event this plugin publishes, with its schema.

    `events.add(name, schema, description)`: a dotted name (`message.created`), a pydantic
    model for the data, one line of text. `platform.publish` checks every event against it.
    """


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
def lvng_client_recovered(session: Session, rooms: list[Room], platform: Platform) -> None:
    """Called after `lvng_client_connected` when the socket recovered a dropped session
    (contract section 12): the same sid, its rooms (`session.rooms`, each authorized
    again) set back and the missed events sent. `rooms`: those set back where the user
    had no other socket, on any node (as a join's `first`): a plugin that told the
    others of the leave at the drop tells them of the return here."""


@hookspec
def lvng_client_disconnected(session: Session, platform: Platform, reason: str) -> None:
    """Called when a client goes, while `session.rooms` still lists the rooms it was in;
    then the core takes it out of each room (`lvng_client_left_room`).

    `reason` is `server shutdown` when the server is stopping (the client will reconnect,
    here or to another node), else python-socketio's (`client disconnect`, `ping timeout`…).
    """


@hookspec
def lvng_client_active(session: Session, platform: Platform) -> None:
    """Called when a socket sends an event, at most once per `platform.activity_interval`
    seconds per socket (5 s unless a plugin asked for less with `platform.want_activity`).

    The signal that a user is active ("any event keeps the user active") without a call
    per event: the gateway stamps `session.last_event_at` for every event and calls this
    hook, in the background, only when the socket's last call is older than the interval.
    So the first event after a quiet spell of at least the interval is always reported at
    once; events of a busy socket are reported once per interval. Runs concurrently with
    the event's handler; it is not called for a rate-limited event.
    """


@hookspec
def lvng_client_left_room(
    room: Room, member: Member, last: bool, reason: str, platform: Platform
) -> None:
    """Called when a socket leaves a room without asking, holding the room's turn, so
    what the plugin tells the room is in order with everything else the room hears.

    `reason` is `disconnected` (the client went), `revoked` (an `auth:refresh` token no
    longer grants the room: the socket's identity is already the new one, and the client
    learns it from the refresh's ack, `left`), `removed` (or another reason a plugin gave
    `platform.recheck_room`: a right was taken away, on any node) or `node_lost` (the
    socket's node stopped answering; this runs on one surviving node). `last` is True
    when no socket of the user is left in the room on any node: tell the room the user
    left only then. Emit directly (awaited).
    """


# --- authorization --------------------------------------------------------------------


@hookspec
def lvng_authorize_join(identity: Identity, room: Room, platform: Platform) -> bool | str | None:
    """Called before any socket joins any room: return False (or a reason string) to veto.

    Return None or True to abstain. Every plugin is asked; one veto refuses the join with
    FORBIDDEN. A plugin that raises here refuses the join too (fail closed).
    """


# --- inspection --------------------------------------------------------------------


@hookspec
def lvng_admin_snapshot(platform: Platform, organization_id: str) -> dict[str, Any] | None:
    """Called for `GET /api/v1/admin/overview` (an admin's request): return this plugin's
    section of the inspection page (`/admin`), about `organization_id` only, as JSON-able
    data; the page shows each section under the plugin's name. Keep it small (say, at
    most 100 rows) and quick. A plugin that raises is left out and counted; None means
    nothing to show."""


# --- domain events --------------------------------------------------------------------


@hookspec
def lvng_domain_event(event: DomainEvent, platform: Platform) -> None:
    """Called for every domain event a plugin publishes with `platform.publish(...)`.

    Only declared events whose data fit their schema arrive (`lvng_register_domain_events`).
    This is how plugins talk to each other (a message in a customer conversation becomes
    an activity item, say) without importing each other.
    """

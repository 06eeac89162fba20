"""The objects plugins work with: the Platform (the services shared by every plugin) and
the EventContext each handler receives. The plain data they carry is in `core.data`."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, overload

from core.caller import Caller
from core.cluster.local import LocalCluster
from core.cluster.owed import OwedWrites
from core.cluster.redis_cluster import RedisCluster
from core.cluster.state import ClusterState
from core.commits import GroupCommit
from core.customers.owners import CustomerOwners
from core.data import DomainEvent, Session
from core.deadlines import Deadlines
from core.derived import DerivedWriters
from core.errors import ErrorCode, LvngError, not_yours
from core.figures import FigureBook
from core.ratelimit import UserWindows
from core.registry import DomainEventError, OutboundPayloadError
from core.room_service import RoomService
from core.rooms import Joined, Left, Room
from core.slots import ConnectionSlots
from core.tasks import Tasks, Timers
from core.turns import AfterAck, RoomTurn, RoomTurns

if TYPE_CHECKING:
    import socketio
    from prometheus_client import CollectorRegistry

    from core.config import Settings
    from core.identity import Identity, TokenVerifier
    from core.metrics import CoreMetrics
    from core.registry import EventRegistry

log = logging.getLogger("lvng")

T = TypeVar("T")

# Room kinds whose second part is a customer id.
CUSTOMER_SCOPES = ("customer", "activity")

# `lvng_client_active` is called at most once per this many seconds per socket, unless a
# plugin asks for less (`Platform.want_activity`).
ACTIVITY_INTERVAL = 5.0
# How many failed events the inspection page can show (per node).
RECENT_ERRORS = 200


class PluginCalls(Protocol):
    """What the platform and the gateway call of the plugin host (`core.plugins.PluginHost`,
    which imports the hook specs, which name the platform: typed here by what is used)."""

    @property
    def names(self) -> list[str]: ...

    def implements(self, hook_name: str) -> bool: ...

    def unknown_event_message(self, event: str) -> str: ...

    async def fan_out(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]: ...

    async def call_each_isolated(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]: ...


class Platform:
    """Everything the core shares with plugins; one per app, on `app.ctx.platform`."""

    def __init__(
        self,
        *,
        settings: Settings,
        sio: socketio.AsyncServer,
        plugins: PluginCalls,
        registry: EventRegistry,
        verifier: TokenVerifier,
        metrics: CoreMetrics,
        metrics_registry: CollectorRegistry,
        cluster: ClusterState | None = None,
    ) -> None:
        self.settings = settings
        self.sio = sio
        self.plugins = plugins
        self.events = registry
        self.verifier = verifier
        self.metrics = metrics
        self.metrics_registry = metrics_registry
        self.sessions: dict[str, Session] = {}
        # Events, deliveries and errors of this node, per organization (core/figures.py).
        self.figures = FigureBook(self.sessions)
        # The realtime kit (core/tasks.py, core/cluster/, core/turns.py).
        self.cluster: ClusterState = cluster or LocalCluster()
        self.tasks = Tasks()
        self.timers = Timers(self.tasks)
        self.commits = GroupCommit(self.cluster, self.tasks, metrics)
        self.turns = RoomTurns(self.cluster, self.commits)
        # Rows plugins derive from domain events, in their cause's transaction
        # (core/derived.py): `platform.derived.add(NAME, derive)` at start-up.
        self.derived = DerivedWriters()
        self.derived.deliver = self.deliver
        self.turns.derived = self.derived
        self.rooms = RoomService(sio, self.authorize_join, self.cluster)
        self._plugin_metrics: dict[str, Any] = {}
        self._plugin_settings: dict[str, Any] = {}
        self._plugin_states: dict[str, Any] = {}
        self.redis: Any = None  # a redis.asyncio client when LVNG_REDIS_URL is set
        # True once the server has begun to stop: new events are refused, running ones
        # should finish soon (their sockets are dropped after them).
        self.stopping = False
        # The latest failed events of this node, for the inspection page (core/admin.py).
        self.recent_errors: deque[dict[str, Any]] = deque(maxlen=RECENT_ERRORS)
        self.activity_interval = ACTIVITY_INTERVAL
        # Which organization owns each customer id, for every plugin (core/customers/).
        self.customers = CustomerOwners()
        # The per-user rate-limit windows of this node, shared by a user's sockets and its
        # HTTP writes (core/ratelimit.py).
        self.user_windows = UserWindows(
            settings.rate_limit_user_events,
            settings.rate_limit_service_events,
            settings.rate_limit_window,
            on_refused=metrics.rate_limited.inc,
        )
        # Issue 26: cluster writes owed while Redis is away, deadlines a survivor adopts,
        # connection caps and (for users on several nodes) event limits over every node.
        shared = self.cluster if isinstance(self.cluster, RedisCluster) else None
        self.owed = OwedWrites(self.cluster.settled, metrics.owed_writes)
        if shared is not None:
            shared.owed = self.owed  # a turn's release owed after its emits
        self.deadlines = Deadlines(self.cluster, self.timers, self.tasks, self.owed)
        if shared is not None:
            self.user_windows.shared = shared.hit_window
        self.slots = ConnectionSlots(
            settings.max_connections_per_user,
            self.cluster,
            self.user_windows,
            self.owed,
            shared,
            spread_gauge=metrics.users_spread,
        )
        # Declared server→client payloads are checked against their models as they are
        # emitted (`events.emits`): while developing, and with LVNG_STRICT_DOMAIN_EVENTS.
        # (getattr: the gateway's unit tests build a Platform without settings.)
        self.check_outbound = bool(
            getattr(settings, "dev", False) or getattr(settings, "strict_domain_events", False)
        )

    def want_activity(self, within: float) -> None:
        """Ask the gateway to call `lvng_client_active` for a socket that keeps sending
        events at least every `within` seconds (default 5 s; the smallest request wins).
        Call it at start-up (`lvng_state`)."""
        self.activity_interval = max(0.0, min(self.activity_interval, within))

    # --- plugins' own things -----------------------------------------------------------

    def keep_settings(self, plugin: str, settings: Any) -> None:
        """Remember the plugin's validated `[plugins.NAME]` settings (at start-up)."""
        self._plugin_settings[plugin] = settings

    @overload
    def settings_of(self, plugin: str) -> Any: ...
    @overload
    def settings_of(self, plugin: str, kind: type[T]) -> T: ...
    def settings_of(self, plugin: str, kind: type[Any] | None = None) -> Any:
        """The plugin's settings model as validated at start-up (None if it declares none).

        `settings_of(NAME, MySettings)` is typed `MySettings` (checked: a TypeError names
        what it is instead); without `kind` it is untyped."""
        return _of_kind(plugin, "settings", self._plugin_settings.get(plugin), kind)

    def keep_state(self, plugin: str, state: Any) -> None:
        """Remember what the plugin's `lvng_state` made (at start-up)."""
        self._plugin_states[plugin] = state

    @overload
    def state_of(self, plugin: str) -> Any: ...
    @overload
    def state_of(self, plugin: str, kind: type[T]) -> T: ...
    def state_of(self, plugin: str, kind: type[Any] | None = None) -> Any:
        """The plugin's runtime state object, made by its `lvng_state` at start-up.

        `state_of(NAME, MyState)` is typed `MyState` (checked: a TypeError names what it
        is instead), so "go to definition" works from every handler and route; without
        `kind` it is untyped."""
        return _of_kind(plugin, "state", self._plugin_states.get(plugin), kind)

    def turn(self, room: Room | str, after: AfterAck) -> RoomTurn:
        """The room's turn for the work queued in `after` (see core/turns.py)."""
        return self.turns.turn(room if isinstance(room, str) else room.key, after)

    async def recheck_room(self, room: Room, user_id: str, reason: str = "removed") -> None:
        """Ask every node to check again whether the user's sockets in `room` may stay (the
        core's rules and every plugin's `lvng_authorize_join`); those that may not leave it,
        and the room is told through `lvng_client_left_room(reason=...)`. Call it after
        taking a right away (a member removed from a private channel, say)."""
        await self.cluster.tell_nodes(
            {"op": "recheck", "room": room.key, "user": user_id, "reason": reason}
        )

    async def remove_from_room(
        self, room: Room, user_id: str, *, by: str, reason: str = "removed"
    ) -> None:
        """Take the user's sockets out of `room` on every node, whatever their rights (an
        admin's removal from the inspection page; they may join again). The room is told
        through `lvng_client_left_room(reason=...)`, as for `recheck_room`; `by` is who
        asked, for each node's log."""
        await self.cluster.tell_nodes(
            {"op": "remove", "room": room.key, "user": user_id, "reason": reason, "by": by}
        )

    async def disconnect_user(self, organization_id: str, user_id: str, *, by: str) -> None:
        """Disconnect the user's sockets on every node (Socket.IO's server-side
        disconnect: the client does not reconnect by itself). `by` is who asked."""
        await self.cluster.tell_nodes(
            {"op": "disconnect", "organization": organization_id, "user": user_id, "by": by}
        )

    def after_ack(self) -> AfterAck:
        """A fresh after-ack queue, for work outside a socket event (an HTTP route runs
        it itself with `await after.run()`)."""
        return AfterAck(self)

    def keep_metrics(self, plugin: str, metrics: Any) -> None:
        """Remember what the plugin's `lvng_metrics` returned (done once, at start-up)."""
        self._plugin_metrics[plugin] = metrics

    @overload
    def metrics_of(self, plugin: str) -> Any: ...
    @overload
    def metrics_of(self, plugin: str, kind: type[T]) -> T: ...
    def metrics_of(self, plugin: str, kind: type[Any] | None = None) -> Any:
        """What the plugin's `lvng_metrics` returned; typed `kind` when given (checked)."""
        return _of_kind(plugin, "metrics", self._plugin_metrics.get(plugin), kind)

    def plugin_settings(self, plugin: str) -> dict[str, Any]:
        """The raw `[plugins.NAME]` table of the config (prefer `settings_of`)."""
        return self.settings.plugin_settings(plugin)

    # --- delivery ----------------------------------------------------------------------

    async def emit(
        self,
        event: str,
        data: Any,
        *,
        room: Room | Sequence[Room] | None = None,
        to: str | None = None,
        skip_sid: str | None = None,
    ) -> None:
        """Send `event` to one socket (`to`) or to everyone in `room` (less `skip_sid`);
        `room` may be several rooms: a socket in more than one gets the event once.

        With `--dev` or LVNG_STRICT_DOMAIN_EVENTS, a payload that does not fit the model
        `event` was declared with raises OutboundPayloadError here, and nothing is sent."""
        if (room is None) == (to is None):
            raise ValueError("emit needs exactly one of room= or to=")
        if self.check_outbound:
            problem = self.events.check_outbound(event, data)
            if problem is not None:
                raise OutboundPayloadError(problem)
        target: str | list[str] | None
        if room is None:
            target = to
        elif isinstance(room, Room):
            target = room.key
        else:
            target = [r.key for r in room]
        await self.sio.emit(event, data, to=target, skip_sid=skip_sid)

    async def publish(
        self, plugin: str, name: str, organization_id: str, data: dict[str, Any]
    ) -> None:
        """Fan a domain event out to every plugin's `lvng_domain_event`.

        The event must be declared by `plugin` (`lvng_register_domain_events`) and `data`
        must fit its schema. If not, that is the publisher's bug: with `--dev` or
        LVNG_STRICT_DOMAIN_EVENTS it raises DomainEventError; otherwise it is logged,
        counted in `lvng_domain_events_invalid_total` and not delivered.

        An event with a cause in a transaction is made with `domain_event` and handed to
        the write instead (`turn.insert(..., events=)`, core/derived.py).
        """
        event = self.domain_event(plugin, name, organization_id, data)
        if event is not None:
            await self.deliver(event)

    def domain_event(
        self, plugin: str, name: str, organization_id: str, data: dict[str, Any]
    ) -> DomainEvent | None:
        """The checked event (as `publish` checks it), for a write to carry
        (`turn.insert(row, events=[event])`): None when it does not fit and is not
        delivered (logged and counted; with `--dev` or LVNG_STRICT_DOMAIN_EVENTS it
        raises DomainEventError)."""
        problem = self.events.check_domain_event(plugin, name, data)
        if problem is not None:
            if self.settings.dev or self.settings.strict_domain_events:
                raise DomainEventError(problem)
            log.error("%s; not delivered", problem)
            self.metrics.domain_events_invalid.labels(plugin=plugin, name=name).inc()
            return None
        return DomainEvent(name, organization_id, data, plugin)

    async def deliver(self, event: DomainEvent) -> None:
        """Fan a checked event out to every plugin's `lvng_domain_event`."""
        self.metrics.domain_events.labels(plugin=event.source, name=event.name).inc()
        await self.plugins.fan_out("lvng_domain_event", event=event, platform=self)

    # --- authorization -----------------------------------------------------------------

    async def authorize_join(self, identity: Identity, room: Room) -> None:
        """The core's own rule, then every plugin; a False or a reason string refuses with
        FORBIDDEN.

        The core's rule: a customer's rooms (`customer:{customerId}:…`,
        `activity:{customerId}`) need the customer in the token's `customers` claim or the
        admin role (contract section 4), whichever plugin owns them, and a customer
        another organization owns is refused (the core's owner registry,
        `platform.customers`; claiming a customer no one owns yet is the plugin's). A
        plugin that raises refuses too: authorization fails closed.
        """
        parts = room.parts
        if parts[0] in CUSTOMER_SCOPES and len(parts) > 1:
            customer_id = parts[1]
            if not identity.may_access_customer(customer_id):
                raise LvngError(
                    ErrorCode.FORBIDDEN,
                    f"you may not join {room.name}: your token does not grant customer "
                    f"{customer_id}",
                )
            if self.customers.available():
                owner = await self.customers.owner(customer_id)
                if owner is not None and owner != room.organization_id:
                    raise not_yours("customer", customer_id)
        for plugin, verdict in await self.plugins.call_each_isolated(
            "lvng_authorize_join", identity=identity, room=room, platform=self
        ):
            if isinstance(verdict, Exception):
                reason = "authorization check failed"
            elif verdict is False:
                reason = "not allowed"
            elif isinstance(verdict, str):
                reason = verdict
            else:
                continue
            log.info(
                "join of %s by %s vetoed by plugin %s: %s",
                room.key,
                identity.user_id,
                plugin,
                reason,
            )
            raise LvngError(ErrorCode.FORBIDDEN, f"you may not join {room.name}: {reason}")


class EventContext:
    """What a handler receives besides its payload: who sent it, the platform, and the
    queue of work that runs once its ack is out (`after_ack`)."""

    __slots__ = ("platform", "session", "event", "plugin", "after_ack")

    def __init__(self, platform: Platform, session: Session, event: str, plugin: str) -> None:
        self.platform = platform
        self.session = session
        self.event = event
        self.plugin = plugin
        self.after_ack = AfterAck(platform)

    @property
    def identity(self) -> Identity:
        return self.session.identity

    @property
    def sid(self) -> str:
        return self.session.sid

    @property
    def caller(self) -> Caller:
        """Who sent the event, from which socket, and this event's after-ack queue: the
        first argument of the plugin's service calls."""
        return Caller(self.session.identity, self.after_ack, self.session)

    @property
    def metrics(self) -> Any:
        """This plugin's metrics, untyped (`metrics_as(kind)` is typed)."""
        return self.platform.metrics_of(self.plugin)

    @property
    def settings(self) -> Any:
        """This plugin's validated settings model, untyped (`settings_as(kind)` is typed)."""
        return self.platform.settings_of(self.plugin)

    @property
    def state(self) -> Any:
        """This plugin's runtime state (what its `lvng_state` made), untyped
        (`state_as(kind)` is typed)."""
        return self.platform.state_of(self.plugin)

    def state_as(self, kind: type[T]) -> T:
        """This plugin's runtime state, typed: `ctx.state_as(MessagesState)`."""
        return self.platform.state_of(self.plugin, kind)

    def settings_as(self, kind: type[T]) -> T:
        """This plugin's validated settings, typed: `ctx.settings_as(MessagesSettings)`."""
        return self.platform.settings_of(self.plugin, kind)

    def metrics_as(self, kind: type[T]) -> T:
        """This plugin's metrics, typed: `ctx.metrics_as(MessagesMetrics)`."""
        return self.platform.metrics_of(self.plugin, kind)

    def turn(self, room: Room) -> RoomTurn:
        """`async with ctx.turn(room):` the room's turn, released after the ack's work."""
        return self.platform.turn(room, self.after_ack)

    def room(self, *parts: str) -> Room:
        """A room of the sender's organization: `ctx.room("channel", cid)`."""
        return Room.of(self.identity.organization_id, *parts)

    async def join(self, room: Room) -> Joined:
        return await self.platform.rooms.join(self.session, room)

    async def leave(self, room: Room) -> Left:
        return await self.platform.rooms.leave(self.session, room)

    def require_member(self, room: Room) -> None:
        self.platform.rooms.require_member(self.session, room)

    async def reply(self, event: str, data: Any) -> None:
        """Emit to the sender's socket only."""
        await self.platform.emit(event, data, to=self.sid)

    async def broadcast(
        self, event: str, data: Any, room: Room, *, include_self: bool = True
    ) -> None:
        await self.platform.emit(
            event, data, room=room, skip_sid=None if include_self else self.sid
        )

    async def publish(self, name: str, data: dict[str, Any]) -> None:
        """Publish a domain event from this plugin in the sender's organization."""
        await self.platform.publish(self.plugin, name, self.identity.organization_id, data)


def _of_kind(plugin: str, what: str, value: Any, kind: type[Any] | None) -> Any:
    """`value` (a plugin's state, settings or metrics), checked to be a `kind` when given."""
    if kind is not None and not isinstance(value, kind):
        raise TypeError(f"plugin {plugin}'s {what} is {type(value).__name__}, not {kind.__name__}")
    return value

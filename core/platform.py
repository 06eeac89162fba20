"""The objects plugins work with: the Platform (shared services), Session and EventContext."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.clock import now_iso
from core.errors import ErrorCode, LvngError
from core.metrics import PluginMetrics
from core.ratelimit import SlidingWindow
from core.rooms import Room, RoomService

if TYPE_CHECKING:
    import socketio
    from prometheus_client import CollectorRegistry

    from core.config import Settings
    from core.identity import Identity, TokenVerifier
    from core.metrics import CoreMetrics
    from core.plugins import PluginHost
    from core.registry import EventRegistry

log = logging.getLogger("lvng")

# Room kinds whose second part is a customer id.
CUSTOMER_SCOPES = ("customer", "activity")

__all__ = ["DomainEvent", "EventContext", "Platform", "PluginMetrics", "Room", "Session"]


@dataclass(eq=False)
class Session:
    """One connected socket: its identity, rooms, rate-limit window and expiry timer."""

    sid: str
    identity: Identity
    limiter: SlidingWindow
    rooms: set[Room] = field(default_factory=set)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    expiry: asyncio.TimerHandle | None = None
    connected_at: str = field(default_factory=now_iso)

    @property
    def user_id(self) -> str:
        return self.identity.user_id

    @property
    def organization_id(self) -> str:
        return self.identity.organization_id


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """Something that happened in one plugin that others may react to."""

    name: str  # e.g. "message.created"
    organization_id: str
    data: dict[str, Any]
    source: str  # the publishing plugin's name
    timestamp: str = field(default_factory=now_iso)


class Platform:
    """Everything the core shares with plugins; one per app, on `app.ctx.platform`."""

    def __init__(
        self,
        *,
        settings: Settings,
        sio: socketio.AsyncServer,
        plugins: PluginHost,
        registry: EventRegistry,
        verifier: TokenVerifier,
        metrics: CoreMetrics,
        metrics_registry: CollectorRegistry,
    ) -> None:
        self.settings = settings
        self.sio = sio
        self.plugins = plugins
        self.events = registry
        self.verifier = verifier
        self.metrics = metrics
        self.metrics_registry = metrics_registry
        self.sessions: dict[str, Session] = {}
        self.rooms = RoomService(sio, self.authorize_join)
        self._plugin_metrics: dict[str, Any] = {}
        self.redis: Any = None  # a redis.asyncio client when LVNG_REDIS_URL is set

    # --- plugins' own things -----------------------------------------------------------

    def keep_metrics(self, plugin: str, metrics: Any) -> None:
        """Remember what the plugin's `lvng_metrics` returned (done once, at start-up)."""
        self._plugin_metrics[plugin] = metrics

    def metrics_of(self, plugin: str) -> Any:
        """What the plugin's `lvng_metrics` returned."""
        return self._plugin_metrics.get(plugin)

    def plugin_settings(self, plugin: str) -> dict[str, Any]:
        """The `[plugins.NAME]` table of the config."""
        return self.settings.plugin_settings(plugin)

    # --- delivery ----------------------------------------------------------------------

    async def emit(
        self,
        event: str,
        data: Any,
        *,
        room: Room | None = None,
        to: str | None = None,
        skip_sid: str | None = None,
    ) -> None:
        """Send `event` to one socket (`to`) or to everyone in `room` (less `skip_sid`)."""
        if (room is None) == (to is None):
            raise ValueError("emit needs exactly one of room= or to=")
        target = room.key if room is not None else to
        await self.sio.emit(event, data, to=target, skip_sid=skip_sid)

    async def publish(self, plugin: str, name: str, organization_id: str,
                      data: dict[str, Any]) -> None:
        """Fan a domain event out to every plugin's `lvng_domain_event`."""
        event = DomainEvent(name, organization_id, data, plugin)
        self.metrics.domain_events.labels(plugin=plugin, name=name).inc()
        await self.plugins.fan_out("lvng_domain_event", event=event, platform=self)

    # --- authorization -----------------------------------------------------------------

    async def authorize_join(self, identity: Identity, room: Room) -> None:
        """The core's own rule, then every plugin; a False or a reason string refuses with
        FORBIDDEN.

        The core's rule: a customer's rooms (`customer:{customerId}:…`,
        `activity:{customerId}`) need the customer in the token's `customers` claim or the
        admin role (contract section 4), whichever plugin owns them; which organization
        owns the customer stays the plugin's check. A plugin that raises refuses too:
        authorization fails closed.
        """
        parts = room.parts
        if parts[0] in CUSTOMER_SCOPES and len(parts) > 1 and \
                not identity.may_access_customer(parts[1]):
            raise LvngError(ErrorCode.FORBIDDEN, f"you may not join {room.name}: your token "
                            f"does not grant customer {parts[1]}")
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
            log.info("join of %s by %s vetoed by plugin %s: %s", room.key,
                     identity.user_id, plugin, reason)
            raise LvngError(ErrorCode.FORBIDDEN, f"you may not join {room.name}: {reason}")


class EventContext:
    """What a handler receives besides its payload: who sent it, and the platform."""

    __slots__ = ("platform", "session", "event", "plugin")

    def __init__(self, platform: Platform, session: Session, event: str, plugin: str) -> None:
        self.platform = platform
        self.session = session
        self.event = event
        self.plugin = plugin

    @property
    def identity(self) -> Identity:
        return self.session.identity

    @property
    def sid(self) -> str:
        return self.session.sid

    @property
    def metrics(self) -> Any:
        return self.platform.metrics_of(self.plugin)

    @property
    def settings(self) -> dict[str, Any]:
        return self.platform.plugin_settings(self.plugin)

    def room(self, *parts: str) -> Room:
        """A room of the sender's organization: `ctx.room("channel", cid)`."""
        return Room.of(self.identity.organization_id, *parts)

    async def join(self, room: Room) -> bool:
        return await self.platform.rooms.join(self.session, room)

    async def leave(self, room: Room) -> bool:
        return await self.platform.rooms.leave(self.session, room)

    def require_member(self, room: Room) -> None:
        self.platform.rooms.require_member(self.session, room)

    async def reply(self, event: str, data: Any) -> None:
        """Emit to the sender's socket only."""
        await self.platform.emit(event, data, to=self.sid)

    async def broadcast(self, event: str, data: Any, room: Room, *,
                        include_self: bool = True) -> None:
        await self.platform.emit(
            event, data, room=room, skip_sid=None if include_self else self.sid
        )

    async def publish(self, name: str, data: dict[str, Any]) -> None:
        """Publish a domain event from this plugin in the sender's organization."""
        await self.platform.publish(self.plugin, name, self.identity.organization_id, data)

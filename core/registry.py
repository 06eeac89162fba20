"""The event registry: which plugin answers which client event, with what payload schema."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from core.errors import PluginError

if TYPE_CHECKING:
    from core.platform import EventContext

Handler = Callable[["EventContext", Any], Awaitable[dict[str, Any] | None]]

# Names Socket.IO or the core itself send; no plugin may take them.
RESERVED_EVENTS = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "error", "connected", "message"}
)


@dataclass(frozen=True, slots=True)
class EventSpec:
    name: str
    schema: type[BaseModel] | None
    handler: Handler
    plugin: str


class EventRegistry:
    """All registered client events, by name."""

    def __init__(self) -> None:
        self._events: dict[str, EventSpec] = {}

    def get(self, name: str) -> EventSpec | None:
        return self._events.get(name)

    def names(self) -> list[str]:
        return sorted(self._events)

    def of_plugin(self, plugin: str) -> list[str]:
        return sorted(n for n, spec in self._events.items() if spec.plugin == plugin)

    def registrar(self, plugin: str) -> EventRegistrar:
        return EventRegistrar(self, plugin)

    def _add(self, spec: EventSpec) -> None:
        if spec.name in RESERVED_EVENTS:
            raise PluginError(f"plugin {spec.plugin}: event name {spec.name!r} is reserved")
        taken = self._events.get(spec.name)
        if taken is not None:
            raise PluginError(
                f"plugin {spec.plugin}: event {spec.name!r} is already registered by "
                f"plugin {taken.plugin}"
            )
        self._events[spec.name] = spec


class EventRegistrar:
    """What `lvng_register_events` receives: adds events on behalf of one plugin."""

    def __init__(self, registry: EventRegistry, plugin: str) -> None:
        self._registry = registry
        self.plugin = plugin

    def add(self, name: str, schema: type[BaseModel] | None, handler: Handler) -> None:
        """Register `handler` for client event `name`; `schema` validates its payload.

        With `schema=None` the handler receives the raw payload (a dict or None).
        """
        self._registry._add(EventSpec(name, schema, handler, self.plugin))

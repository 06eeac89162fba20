"""The event registry: which plugin answers which client event, with what payload schema,
and which plugin publishes which domain event, with what data schema."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from core.errors import PluginError

# A client event's handler: `async def handler(ctx: EventContext, payload) -> dict | None`.
# The context is typed Any here: `core.platform` (EventContext's module) imports this one.
Handler = Callable[[Any, Any], Awaitable[dict[str, Any] | None]]

# Names Socket.IO or the core itself send; no plugin may take them.
RESERVED_EVENTS = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "error", "connected", "message"}
)

# Domain event names: dotted lower-case words, `message.created`.
DOMAIN_EVENT_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


class DomainEventError(Exception):
    """A plugin published a domain event it did not declare, or with data its schema refuses."""


@dataclass(frozen=True, slots=True)
class EventSpec:
    name: str
    schema: type[BaseModel] | None
    handler: Handler
    plugin: str


@dataclass(frozen=True, slots=True)
class OutboundSpec:
    """A server→client event a plugin declares it emits (`events.emits`), for the
    AsyncAPI document: its name, the pydantic model of its payload, one line of text."""

    name: str
    schema: type[BaseModel]
    description: str
    plugin: str
    # Not kept for a reconnecting client (contract section 12): typing, say.
    ephemeral: bool = False

    def check(self, data: Any) -> str | None:
        """None when `data` fits the declared model (strictly: no "1" for an integer),
        else what is wrong, on one line, naming the event, the model and the plugin."""
        try:
            self.schema.model_validate(data, strict=True)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"]) or "payload"
            return (
                f"plugin {self.plugin} emitted {self.name!r} with a payload its declared "
                f"model {self.schema.__name__} refuses: {where}: {error['msg']} "
                f"(got {error['input']!r:.80})"
            )
        return None


class OutboundPayloadError(Exception):
    """A server→client payload does not fit the model its event was declared with
    (`events.emits`); raised with `--dev` or LVNG_STRICT_DOMAIN_EVENTS."""


def describe(spec: EventSpec) -> str:
    """A client event's description: its handler's docstring, else its schema's, joined
    onto one paragraph; empty when neither has one."""
    for source in (spec.handler, spec.schema):
        doc = getattr(source, "__doc__", None) if source is not None else None
        if doc and doc.strip() and not (isinstance(source, type) and doc == BaseModel.__doc__):
            return " ".join(doc.strip().split("\n\n")[0].split())
    return ""


@dataclass(frozen=True, slots=True)
class DomainEventSpec:
    name: str
    schema: type[BaseModel]
    description: str
    plugin: str

    def fields(self) -> list[dict[str, Any]]:
        """The schema's fields as `lvng plugins` lists them: name, type, required."""
        return [
            {
                "name": field.alias or name,
                "type": _type_name(field.annotation),
                "required": field.is_required(),
            }
            for name, field in self.schema.model_fields.items()
        ]

    def check(self, data: Any) -> str | None:
        """None when `data` is valid for the schema, else the first problem on one line."""
        try:
            self.schema.model_validate(data, strict=True)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"]) or "data"
            return f"{where}: {error['msg']}"
        return None


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type) and not getattr(annotation, "__args__", None):
        return annotation.__name__
    return str(annotation).replace("typing.", "").replace("NoneType", "None")


class EventRegistry:
    """All registered client events, and all declared domain events, by name."""

    def __init__(self) -> None:
        self._events: dict[str, EventSpec] = {}
        self._domain: dict[str, DomainEventSpec] = {}
        self._outbound: dict[str, OutboundSpec] = {}

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

    # --- server→client events ------------------------------------------------------------

    def outbound(self) -> list[OutboundSpec]:
        """Every declared server→client event, by name."""
        return [self._outbound[name] for name in sorted(self._outbound)]

    def check_outbound(self, name: str, data: Any) -> str | None:
        """None when `name` is not declared or `data` fits its model, else why not."""
        spec = self._outbound.get(name)
        return None if spec is None else spec.check(data)

    def ephemeral_events(self) -> frozenset[str]:
        """The declared events a reconnecting client does not get again (core/recovery.py)."""
        return frozenset(n for n, spec in self._outbound.items() if spec.ephemeral)

    def outbound_of(self, plugin: str) -> list[str]:
        return sorted(n for n, spec in self._outbound.items() if spec.plugin == plugin)

    def _add_outbound(self, spec: OutboundSpec) -> None:
        where = f"plugin {spec.plugin}: emitted event {spec.name!r}"
        if not isinstance(spec.name, str) or not spec.name or len(spec.name) > 128:
            raise PluginError(f"{where}: the name must be a string of 1 to 128 characters")
        if spec.plugin != "core" and spec.name in RESERVED_EVENTS:
            raise PluginError(f"{where}: the name is reserved for the core")
        if not (isinstance(spec.schema, type) and issubclass(spec.schema, BaseModel)):
            raise PluginError(f"{where}: the schema must be a pydantic model class")
        if not isinstance(spec.description, str) or not spec.description.strip():
            raise PluginError(f"{where}: give a description (or a docstring on the model)")
        taken = self._outbound.get(spec.name)
        if taken is not None:
            raise PluginError(f"{where} is already declared by plugin {taken.plugin}")
        self._outbound[spec.name] = spec

    # --- domain events -------------------------------------------------------------------

    def domain_event(self, name: str) -> DomainEventSpec | None:
        return self._domain.get(name)

    def domain_events_of(self, plugin: str) -> list[DomainEventSpec]:
        return sorted(
            (s for s in self._domain.values() if s.plugin == plugin), key=lambda s: s.name
        )

    def domain_registrar(self, plugin: str) -> DomainEventRegistrar:
        return DomainEventRegistrar(self, plugin)

    def check_domain_event(self, plugin: str, name: str, data: Any) -> str | None:
        """None when `plugin` declared `name` and `data` fits its schema, else why not."""
        spec = self._domain.get(name)
        if spec is None or spec.plugin != plugin:
            return (
                f"plugin {plugin} published domain event {name!r}, which it does not "
                f"declare in lvng_register_domain_events"
            )
        problem = spec.check(data)
        if problem is not None:
            return f"plugin {plugin} published domain event {name!r} with invalid data: {problem}"
        return None

    def _add_domain(self, spec: DomainEventSpec) -> None:
        where = f"plugin {spec.plugin}: domain event {spec.name!r}"
        if not isinstance(spec.name, str) or not DOMAIN_EVENT_NAME.match(spec.name):
            raise PluginError(
                f"{where}: the name must be dotted lower-case words, like message.created"
            )
        if not (isinstance(spec.schema, type) and issubclass(spec.schema, BaseModel)):
            raise PluginError(f"{where}: the schema must be a pydantic model class")
        if (
            not isinstance(spec.description, str)
            or not spec.description.strip()
            or spec.description != spec.description.strip()
            or "\n" in spec.description
        ):
            raise PluginError(
                f"{where}: the description must be one non-empty line, without surrounding blanks"
            )
        taken = self._domain.get(spec.name)
        if taken is not None:
            raise PluginError(f"{where} is already declared by plugin {taken.plugin}")
        self._domain[spec.name] = spec


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

    def emits(
        self,
        name: str,
        schema: type[BaseModel],
        description: str | None = None,
        *,
        ephemeral: bool = False,
    ) -> None:
        """Declare that this plugin sends server→client event `name` with payloads valid
        for `schema` (a pydantic model: the reference's keys required, extra keys allowed).

        The declaration is what `GET /asyncapi.json`, `GET /lvng.d.ts` and their commands
        publish. With `--dev` or LVNG_STRICT_DOMAIN_EVENTS every payload of the event is
        checked against `schema` as it is emitted (strictly: an id declared `int` and sent
        as a string fails), and a misfit raises `OutboundPayloadError` in the emitter.
        `description` defaults to the model's docstring; one of the two is required.
        `ephemeral`: not logged for a reconnecting client (typing): a recovery does not
        replay it (contract section 12).
        """
        if description is None:
            doc = schema.__doc__ if isinstance(schema, type) else None
            description = " ".join((doc or "").split()) if doc != BaseModel.__doc__ else ""
        self._registry._add_outbound(
            OutboundSpec(name, schema, description, self.plugin, ephemeral)
        )


class DomainEventRegistrar:
    """What `lvng_register_domain_events` receives: declares domain events for one plugin."""

    def __init__(self, registry: EventRegistry, plugin: str) -> None:
        self._registry = registry
        self.plugin = plugin

    def add(self, name: str, schema: type[BaseModel], description: str) -> None:
        """Declare that this plugin publishes `name`, its data valid for `schema` (a
        pydantic model), described in one line for `lvng plugins`."""
        self._registry._add_domain(DomainEventSpec(name, schema, description, self.plugin))

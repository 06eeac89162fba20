"""The AsyncAPI 3.0 description of the event API, made from the event registry.

Every client event a plugin registers (`events.add`) is a `receive` operation with the
payload schema of the model that validates it; every server→client event a plugin declares
(`events.emits`) is a `send` operation with the schema of its outbound model. Socket.IO
has one namespace here, so there is one channel (`/`) and each event is a message whose
`name` is the event's name. Pydantic writes the schemas (`model_json_schema`'s output for
all models at once, their shared definitions under `components.schemas`), so the document
says what the server checks. Disabled plugins are never loaded, so their events are absent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel
from pydantic.json_schema import models_json_schema

if TYPE_CHECKING:
    from core.registry import EventRegistry, EventSpec, OutboundSpec

ASYNCAPI_VERSION = "3.0.0"
CHANNEL = "socketio"
REF = "#/components/schemas/{model}"
OFFSET_REF = "#/components/schemas/RecoveryOffset"
# ISO 8601 UTC with milliseconds and Z (contract section 3).
TIMESTAMP_PATTERN = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"

Timestamp = Annotated[
    str, Field(pattern=TIMESTAMP_PATTERN, description="ISO 8601 UTC, milliseconds, Z")
]


class Outbound(BaseModel):
    """Base of the models of server→client payloads: the keys listed are always sent
    (null where the type allows it); payloads may carry extra keys (contract)."""

    model_config = ConfigDict(extra="allow")


class Connected(Outbound):
    """Sent to a socket once its handshake is accepted: who it is."""

    socketId: str
    userId: str
    organizationId: str
    timestamp: Timestamp
    recovered: Literal[True] | None = Field(
        None,
        description="present when the socket recovered a dropped session (contract section "
        "12): the same socketId, its rooms set back, the missed events sent before this",
    )


ErrorCodeLiteral = Literal[
    "AUTH_REQUIRED",
    "AUTH_INVALID",
    "TOKEN_EXPIRED",
    "RATE_LIMITED",
    "VALIDATION_ERROR",
    "FORBIDDEN",
    "NOT_FOUND",
    "NOT_IN_ROOM",
    "CONFLICT",
    "PAYLOAD_TOO_LARGE",
    "UNKNOWN_EVENT",
    "UNAVAILABLE",
    "INTERNAL_ERROR",
]


class ErrorCodeName(BaseModel):
    """What went wrong: a contract error code and a sentence."""

    code: ErrorCodeLiteral
    message: str


class ErrorEvent(Outbound):
    """Sent to a socket whose event failed (also answered by a failed ack), or whose token
    expired (`TOKEN_EXPIRED`, `event` null, then a disconnect)."""

    code: ErrorCodeLiteral
    message: str
    event: str | None
    retryAfterMs: int | None = Field(None, description="with RATE_LIMITED")


class AckOk(Outbound):
    """A client event that succeeded: `ok` true, and the event's own keys."""

    ok: Literal[True]


class AckFailed(Outbound):
    """A client event that failed (the socket also gets `error`)."""

    ok: Literal[False]
    error: ErrorCodeName


class Ack(RootModel[AckOk | AckFailed]):
    """The ack of every client event: `{ok: true, ...}` or `{ok: false, error: {code,
    message}}`."""


def declare_core(registry: EventRegistry) -> None:
    """The server→client events the core itself sends."""
    core = registry.registrar("core")
    core.emits("connected", Connected)
    core.emits("error", ErrorEvent)


def _key(name: str, suffix: str) -> str:
    """A component key (`^[\\w.-]+$`) for an event name: `message:read:batch` →
    `message_read_batch.sent`."""
    return re.sub(r"[^\w.-]", "_", name) + "." + suffix


def _package_version() -> str:
    try:
        return version("lvng")
    except PackageNotFoundError:
        return "0.0.0"


@dataclass(frozen=True)
class EventSchemas:
    """The JSON schemas of every event, made once by pydantic for every model at once:
    what `GET /asyncapi.json` and `GET /lvng.d.ts` are both made from (one source)."""

    # Each client event with its payload schema (a `$ref`; `{}` when it takes anything).
    received: list[tuple[EventSpec, dict[str, Any]]]
    # Each server→client event with its payload schema (a `$ref`).
    sent: list[tuple[OutboundSpec, dict[str, Any]]]
    ack: dict[str, Any]  # the ack of every client event (a `$ref`)
    definitions: dict[str, Any]  # the models' schemas by name, referred to as REF


def event_schemas(registry: EventRegistry) -> EventSchemas:
    """The schemas of every event in `registry` (see `EventSchemas`)."""
    received = [spec for spec in (registry.get(name) for name in registry.names()) if spec]
    sent = registry.outbound()
    inputs: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
        (spec.schema, "validation") for spec in received if spec.schema is not None
    ]
    inputs.extend((spec.schema, "validation") for spec in sent)
    inputs.append((Ack, "validation"))
    refs, defs = models_json_schema(inputs, ref_template=REF)
    return EventSchemas(
        received=[
            (spec, dict(refs[(spec.schema, "validation")]) if spec.schema is not None else {})
            for spec in received
        ],
        sent=[(spec, dict(refs[(spec.schema, "validation")])) for spec in sent],
        ack=dict(refs[(Ack, "validation")]),
        definitions=dict(sorted(defs.get("$defs", {}).items())),
    )


def document(
    registry: EventRegistry, *, host: str = "127.0.0.1:8000", plugins: list[str] | None = None
) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of every event in `registry`; `host` is where clients
    connect (`host:port`), `plugins` the enabled plugins' names (listed in `info`)."""
    made = event_schemas(registry)
    schemas: dict[str, Any] = made.definitions
    ack_ref = made.ack
    from core.registry import describe

    messages: dict[str, Any] = {}
    operations: dict[str, Any] = {}

    def add(
        name: str,
        plugin: str,
        summary: str,
        payload: Any,
        *,
        received: bool,
        operation: str,
        reply: bool = False,
        ephemeral: bool = False,
    ) -> None:
        """One event's message and its operation (the client sends it, or receives it)."""
        key = _key(name, "received" if received else "sent")
        messages[key] = {
            "name": name,
            "title": f"{name} ({'client → server' if received else 'server → client'})",
            "summary": summary,
            "payload": payload,
            "x-lvng-plugin": plugin,
            "x-lvng-direction": "client→server" if received else "server→client",
        }
        if not received:
            # Socket.IO arguments: the payload, then the recovery offset (contract 12).
            messages[key]["x-lvng-arguments"] = [payload, {"$ref": OFFSET_REF}]
            if ephemeral:
                messages[key]["x-lvng-ephemeral"] = True
        action = "receive" if received else "send"
        operations[_key(name, action)] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{CHANNEL}"},
            "messages": [{"$ref": f"#/channels/{CHANNEL}/messages/{key}"}],
            "summary": operation,
            **({"reply": {"messages": [{"$ref": "#/components/messages/ack"}]}} if reply else {}),
            "x-lvng-plugin": plugin,
        }

    for spec, payload in made.received:
        add(
            spec.name,
            spec.plugin,
            describe(spec) or f"{spec.name} from a client",
            payload,
            received=True,
            reply=True,
            operation=f"A client sends {spec.name}; the server answers the ack.",
        )
    for out, payload in made.sent:
        add(
            out.name,
            out.plugin,
            out.description,
            payload,
            received=False,
            operation=out.description,
            ephemeral=out.ephemeral,
        )
    enabled = ", ".join(plugins) if plugins is not None else "all loaded"
    schemas["RecoveryOffset"] = {
        "type": "string",
        "pattern": "^[0-9]{1,20}$",
        "title": "RecoveryOffset",
        "description": "The last Socket.IO argument of a server→client event sent to a room "
        "(recovery on): where the event stands in this node's log; clients ignore it, "
        "socket.io-client keeps the last one for a reconnect.",
    }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "LVNG realtime server",
            "version": _package_version(),
            "description": (
                "The Socket.IO event API (protocol v5, socket.io-client 4.x): one namespace "
                "(`/`), each event a message named after it. Client events are answered by "
                "an ack (`{ok: true, ...}` or `{ok: false, error: {code, message}}`), and "
                "a failure also sends `error` to the socket. Payloads may carry keys beyond "
                f"those listed. Enabled plugins: {enabled}. With recovery on (contract "
                "section 12, `LVNG_RECOVERY_WINDOW`), every server→client event sent to a "
                "room carries one more, last argument: its offset (`RecoveryOffset`, "
                "`x-lvng-arguments`), which socket.io-client 4.x keeps and sends back with "
                "the CONNECT's `pid` to recover; events marked `x-lvng-ephemeral` are not "
                "sent again by a recovery."
            ),
            "x-lvng-plugins": plugins or [],
        },
        "defaultContentType": "application/json",
        "servers": {
            "lvng": {
                "host": host,
                "pathname": "/socket.io/",
                "protocol": "ws",
                "description": "Socket.IO over websocket, or HTTP long-polling (protocol "
                "http). The JWT goes in the handshake's `auth.token`.",
                "security": [{"$ref": "#/components/securitySchemes/jwt"}],
            },
        },
        "channels": {
            CHANNEL: {
                "address": "/",
                "title": "The Socket.IO namespace",
                "description": "Every event, both ways. Rooms (`channel:{id}`, "
                "`org:{id}`…) decide who hears what; they are not "
                "addresses a client names.",
                "messages": messages,
            },
        },
        "operations": operations,
        "components": {
            "schemas": schemas,
            "messages": {
                "ack": {"name": "ack", "title": "The ack of a client event", "payload": ack_ref}
            },
            "securitySchemes": {
                "jwt": {
                    "type": "httpApiKey",
                    "name": "auth.token",
                    "in": "query",
                    "description": "A JWT (HS256 by default; RS256/ES256 with a "
                    "public key) in the Socket.IO handshake's "
                    "`auth.token`, or `Authorization: Bearer`.",
                },
            },
        },
    }

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
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

if TYPE_CHECKING:
    from core.registry import EventRegistry

ASYNCAPI_VERSION = "3.0.0"
CHANNEL = "socketio"
REF = "#/components/schemas/{model}"
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


class ErrorCodeName(BaseModel):
    code: str
    message: str


class ErrorEvent(Outbound):
    """Sent to a socket whose event failed (also answered by a failed ack), or whose token
    expired (`TOKEN_EXPIRED`, `event` null, then a disconnect)."""

    code: Literal[
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
    message: str
    event: str | None
    retryAfterMs: int | None = Field(None, description="with RATE_LIMITED")


class Ack(Outbound):
    """The ack of every client event: `{ok: true, ...}` or `{ok: false, error}`."""

    ok: bool
    error: ErrorCodeName | None = Field(None, description="when ok is false")


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


def document(
    registry: EventRegistry, *, host: str = "127.0.0.1:8000", plugins: list[str] | None = None
) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of every event in `registry`; `host` is where clients
    connect (`host:port`), `plugins` the enabled plugins' names (listed in `info`)."""
    received = [registry.get(name) for name in registry.names()]
    sent = registry.outbound()
    inputs: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = []
    for spec in received:
        if spec is not None and spec.schema is not None:
            inputs.append((spec.schema, "validation"))
    inputs.extend((spec.schema, "validation") for spec in sent)
    inputs.append((Ack, "validation"))
    refs, defs = models_json_schema(inputs, ref_template=REF)
    schemas: dict[str, Any] = dict(sorted(defs.get("$defs", {}).items()))

    messages: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    ack_ref = refs[(Ack, "validation")]
    from core.registry import describe

    def add(
        name: str,
        plugin: str,
        summary: str,
        payload: Any,
        *,
        received: bool,
        operation: str,
        reply: bool = False,
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
        action = "receive" if received else "send"
        operations[_key(name, action)] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{CHANNEL}"},
            "messages": [{"$ref": f"#/channels/{CHANNEL}/messages/{key}"}],
            "summary": operation,
            **({"reply": {"messages": [{"$ref": "#/components/messages/ack"}]}} if reply else {}),
            "x-lvng-plugin": plugin,
        }

    for spec in received:
        assert spec is not None
        add(
            spec.name,
            spec.plugin,
            describe(spec) or f"{spec.name} from a client",
            refs[(spec.schema, "validation")] if spec.schema is not None else {},
            received=True,
            reply=True,
            operation=f"A client sends {spec.name}; the server answers the ack.",
        )
    for out in sent:
        add(
            out.name,
            out.plugin,
            out.description,
            refs[(out.schema, "validation")],
            received=False,
            operation=out.description,
        )
    enabled = ", ".join(plugins) if plugins is not None else "all loaded"
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
                f"those listed. Enabled plugins: {enabled}."
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

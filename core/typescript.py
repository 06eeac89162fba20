"""TypeScript declarations of the event API, for socket.io-client's typed sockets.

    import { io, Socket } from "socket.io-client";
    import type { ServerToClientEvents, ClientToServerEvents } from "./lvng";
    const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io(URL, {auth});

Made from the very schemas the AsyncAPI document is made of (`core.asyncapi.event_schemas`:
pydantic's JSON schemas of the models the server validates and emits with), so the two
never drift: one interface per payload model, string enums and literals as unions of
string literals, `ServerToClientEvents` with one listener per declared server→client
event, and `ClientToServerEvents` with one emitter per client event, taking its payload
and an ack callback typed with the ack (`{ok: true, ...} | {ok: false, error}`), required
so that `emitWithAck` is typed too (socket.io-client types its result from the callback).

What the declarations cannot say: a payload may carry keys beyond those declared (the
contract allows it), and patterns and lengths (an id's shape, a timestamp's format) are
only in the comments; the server checks them.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from core.asyncapi import REF, AckOk, _package_version, event_schemas

if TYPE_CHECKING:
    from core.registry import EventRegistry

IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")
REF_PREFIX = REF.split("{", 1)[0]  # "#/components/schemas/"
# A successful ack carries the event's own keys besides `ok`: the one open interface.
OPEN_ACK = AckOk.__name__


def _pascal(text: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", text))


def type_names(definitions: dict[str, Any]) -> dict[str, str]:
    """A TypeScript name for each schema definition. Pydantic names a model by its class
    (`Message`), or by its module when two classes share a name
    (`plugins__messages__outbound__Read`): those become `MessagesRead` (sent) and
    `MessagesReadRequest` (received), else the whole path in PascalCase."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for key in definitions:
        if "__" not in key:
            names[key] = key
            taken.add(key)
    for key in definitions:
        if "__" in key:
            parts = key.split("__")
            name = _pascal(parts[-1])
            if len(parts) == 4 and parts[0] == "plugins":
                suffix = "Request" if parts[2] == "schemas" else ""
                name = _pascal(parts[1]) + name + suffix
            if name in taken or not IDENTIFIER.match(name):
                name = _pascal(key)
            names[key] = name
            taken.add(name)
    return names


def _comment(text: str | None, indent: str = "") -> list[str]:
    """A JSDoc block of `text` (a docstring's paragraphs), or nothing."""
    if not text or not text.strip():
        return []
    body = text.strip().replace("*/", "*\\/")
    lines = [" ".join(paragraph.split()) for paragraph in body.split("\n\n")]
    if len(lines) == 1 and len(lines[0]) < 90:
        return [f"{indent}/** {lines[0]} */"]
    out = [f"{indent}/**"]
    for number, paragraph in enumerate(lines):
        if number:
            out.append(f"{indent} *")
        out.extend(f"{indent} * {line}" for line in _wrap(paragraph, 92 - len(indent)))
    out.append(f"{indent} */")
    return out


def _wrap(text: str, width: int) -> list[str]:
    lines: list[str] = []
    line = ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return [*lines, line] if line else lines


def _key(name: str) -> str:
    return name if IDENTIFIER.match(name) else json.dumps(name)


class _Writer:
    """JSON schema (pydantic's subset) → TypeScript types."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = names

    def type_of(self, schema: Any, indent: str = "") -> str:
        if not isinstance(schema, dict) or not schema:
            return "unknown"
        if "$ref" in schema:
            return self.names[schema["$ref"].removeprefix(REF_PREFIX)]
        for key in ("anyOf", "oneOf"):
            if key in schema:
                return self._union([self.type_of(s, indent) for s in schema[key]])
        if "allOf" in schema and len(schema["allOf"]) == 1:
            return self.type_of(schema["allOf"][0], indent)
        if "const" in schema:
            return json.dumps(schema["const"])
        if "enum" in schema:
            return self._union([json.dumps(value) for value in schema["enum"]])
        kind = schema.get("type")
        if isinstance(kind, list):
            return self._union([self.type_of({**schema, "type": k}, indent) for k in kind])
        if kind == "string":
            return "string"
        if kind in ("integer", "number"):
            return "number"
        if kind == "boolean":
            return "boolean"
        if kind == "null":
            return "null"
        if kind == "array":
            if "prefixItems" in schema:
                items = ", ".join(self.type_of(s, indent) for s in schema["prefixItems"])
                return f"[{items}]"
            item = self.type_of(schema.get("items", {}), indent)
            return f"({item})[]" if "|" in item or "=>" in item else f"{item}[]"
        if kind == "object" or "properties" in schema:
            return self._object(schema, indent)
        return "unknown"

    @staticmethod
    def _union(members: list[str]) -> str:
        unique = list(dict.fromkeys(members))
        return " | ".join(unique) if unique else "never"

    def _object(self, schema: dict[str, Any], indent: str) -> str:
        properties: dict[str, Any] = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        if not properties:
            if isinstance(extra, dict) and extra:
                return f"Record<string, {self.type_of(extra, indent)}>"
            return "Record<string, unknown>"
        inner = indent + "  "
        lines = ["{", *self.members(schema, inner), f"{indent}}}"]
        return "\n".join(lines)

    def members(self, schema: dict[str, Any], indent: str) -> list[str]:
        """The lines of an object's properties, each with its description."""
        required = set(schema.get("required", []))
        lines: list[str] = []
        for name, prop in schema.get("properties", {}).items():
            lines.extend(_comment(prop.get("description"), indent))
            optional = "" if name in required else "?"
            lines.append(f"{indent}{_key(name)}{optional}: {self.type_of(prop, indent)};")
        return lines


def declarations(registry: EventRegistry, *, plugins: list[str] | None = None) -> str:
    """The `.d.ts` text for every event in `registry` (see the module docstring);
    `plugins` are the enabled plugins' names, named in the header."""
    from core.registry import describe

    made = event_schemas(registry)
    names = type_names(made.definitions)
    writer = _Writer(names)
    ack = writer.type_of(made.ack)
    enabled = ", ".join(plugins) if plugins is not None else "all loaded"
    out = [
        f"// LVNG realtime server {_package_version()}: the Socket.IO event API for",
        "// socket.io-client's typed sockets, made by `lvng typescript` (also GET /lvng.d.ts)",
        "// from the schemas of GET /asyncapi.json. Do not edit: make it again.",
        f"// Enabled plugins: {enabled}.",
        "//",
        '//   import { io, type Socket } from "socket.io-client";',
        '//   import type { ClientToServerEvents, ServerToClientEvents } from "./lvng";',
        "//   const socket: Socket<ServerToClientEvents, ClientToServerEvents> =",
        '//     io("http://127.0.0.1:8000", { auth: { token } });',
        "//",
        "// Payloads may carry keys beyond those declared here.",
        "",
    ]
    for key, schema in made.definitions.items():
        name = names[key]
        out.extend(_comment(schema.get("description")))
        if schema.get("type") == "object" and schema.get("properties"):
            out.append(f"export interface {name} {{")
            out.extend(writer.members(schema, "  "))
            if key == OPEN_ACK:
                out.append("  /** The event's own ack keys. */")
                out.append("  [key: string]: unknown;")
            out.append("}")
        else:
            out.append(f"export type {name} = {writer.type_of(schema)};")
        out.append("")
    out.append(
        "/** Every event the server sends, with its payload; then, recovery on, the event's "
        "offset (contract section 12: socket.io-client keeps it for a reconnect). */"
    )
    out.append("export interface ServerToClientEvents {")
    for spec, payload in made.sent:
        out.extend(_comment(spec.description, "  "))
        out.append(
            f"  {json.dumps(spec.name)}: (payload: {writer.type_of(payload)}, "
            "offset?: string) => void;"
        )
    out.append("}")
    out.append("")
    out.extend(
        _comment(
            "Every event a client may send: its payload (`{}` when it takes none), then the "
            "callback of its ack. The server acks every event, so `emitWithAck` (typed with "
            "the ack) or a callback it is; `socket.emit(event, payload, () => {})` ignores it."
        )
    )
    out.append("export interface ClientToServerEvents {")
    for event, payload in made.received:
        out.extend(_comment(describe(event), "  "))
        out.append(
            f"  {json.dumps(event.name)}: (payload: {writer.type_of(payload)}, "
            f"ack: (response: {ack}) => void) => void;"
        )
    out.append("}")
    out.append("")
    out.append("/** The payload of server→client event `E`. */")
    out.append(
        "export type ServerPayload<E extends keyof ServerToClientEvents> = "
        "Parameters<ServerToClientEvents[E]>[0];"
    )
    out.append("/** The payload of client→server event `E`. */")
    out.append(
        "export type ClientPayload<E extends keyof ClientToServerEvents> = "
        "Parameters<ClientToServerEvents[E]>[0];"
    )
    out.append("")
    return "\n".join(out)

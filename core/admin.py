"""The inspection page (`GET /admin`), its data routes and its actions.

    GET /admin                      the page: static HTML, asks for a token (or takes it
                                    from `#token=…`, as `lvng serve --dev` prints)
    GET /admin/socket.io.min.js     the socket.io-client browser build for its playground
                                    (vendored in core/static, licence beside it)
    GET /api/v1/admin/overview      admin: its organization on this node: figures,
                                    connections, rooms with member counts, each plugin's
                                    section (hook `lvng_admin_snapshot`), recent errors,
                                    the plugins' events
    GET /api/v1/admin/node          operator: this node's figures in all and every metric
    GET /api/v1/admin/plugins       admin or operator: the enabled plugins' events, emitted
                                    events, and (operator) their metric values
    POST /api/v1/admin/users/{userId}/disconnect
                                    admin: disconnect the user's sockets on every node
    POST /api/v1/admin/users/{userId}/remove {room}
                                    admin: take the user's sockets out of one room (its
                                    scope, `channel:general`) on every node

Two roles (docs/operations.md): `admin` sees and acts on its own organization only (its
users, its rooms, its figures); `operator` sees the node as a whole (every organization's
connections counted together, the metrics), and no organization's users or rooms. A token
may carry both. Connections, rooms, errors and figures are this node's; actions reach
every node. Each action is logged with who asked, by the node that took it and by each
node that acted on it.
"""

from __future__ import annotations

import logging
import os
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field
from sanic import Blueprint, Request, json
from sanic.response import HTTPResponse, html, raw

from core.clock import now_iso
from core.errors import ErrorCode, LvngError
from core.http import authenticate, parse_body, platform_of
from core.identity import ID_PATTERN, is_valid_id
from core.rooms import Room

if TYPE_CHECKING:
    from core.identity import Identity
    from core.platform import Platform

log = logging.getLogger("lvng.admin")

STATIC = Path(__file__).resolve().parent / "static"
ADMIN, OPERATOR = "admin", "operator"
# Rooms every socket is in while connected: leaving them is disconnecting.
UNREMOVABLE_KINDS = frozenset({"org", "user"})
MAX_ERRORS = 50
MAX_CONNECTIONS = 500

admin_routes = Blueprint("admin")


@cache
def _static(name: str) -> bytes:
    return (STATIC / name).read_bytes()


@admin_routes.get("/admin")
async def page(request: Request) -> HTTPResponse:
    return html(
        _static("admin.html").decode(),
        headers={
            "cache-control": "no-store",
            # Everything is inline or from this server; the token never leaves it.
            "content-security-policy": "default-src 'self'; script-src 'self' 'unsafe-inline'; "
            "style-src 'unsafe-inline'; connect-src 'self' ws: wss:",
            "referrer-policy": "no-referrer",
        },
    )


@admin_routes.get("/admin/socket.io.min.js")
async def client_script(request: Request) -> HTTPResponse:
    return raw(
        _static("socket.io.min.js"),
        content_type="application/javascript; charset=utf-8",
        headers={"cache-control": "public, max-age=3600"},
    )


def _with_role(request: Request, *roles: str) -> Identity:
    """The caller, if its token has one of `roles`; else 401 or 403 naming them."""
    identity = authenticate(request)
    if not any(role in identity.roles for role in roles):
        wanted = " or ".join(roles)
        raise LvngError(ErrorCode.FORBIDDEN, f"this needs a token with the {wanted} role")
    return identity


def plugins_of(platform: Platform, *, metrics: bool) -> list[dict[str, Any]]:
    """The core and each enabled plugin: its client events, emitted events and, with
    `metrics` (an operator's view: the values are the whole node's), its metrics."""
    names = ["core", *platform.plugins.names]
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    prefixes = {f"lvng_{name}_": name for name in platform.plugins.names}
    for metric in platform.metrics_registry.collect() if metrics else ():
        if not metric.name.startswith("lvng_"):
            continue
        owner = next((n for p, n in prefixes.items() if metric.name.startswith(p)), "core")
        for sample in metric.samples:
            if sample.name.endswith(("_created", "_bucket")):
                continue
            samples[owner].append(
                {"name": sample.name, "labels": sample.labels, "value": sample.value}
            )
    return [
        {
            "name": name,
            "events": platform.events.of_plugin(name),
            "emits": platform.events.outbound_of(name),
            **({"metrics": samples[name]} if metrics else {}),
        }
        for name in names
    ]


def _transport(platform: Platform, sid: str) -> str | None:
    try:
        transport: str = platform.sio.transport(sid)
    except Exception:  # noqa: BLE001 - the socket went meanwhile
        return None
    return transport


async def overview_of(platform: Platform, organization_id: str) -> dict[str, Any]:
    """What an admin of `organization_id` sees: that organization on this node."""
    sessions = [s for s in platform.sessions.values() if s.organization_id == organization_id]
    connections = [
        {
            "socketId": s.sid,
            "userId": s.user_id,
            "userName": s.identity.user_name,
            "connectedAt": s.connected_at,
            "transport": _transport(platform, s.sid),
            "rooms": [
                {
                    "room": room.name,
                    "scope": room.scope,
                    "removable": room.kind not in UNREMOVABLE_KINDS,
                }
                for room in sorted(s.rooms, key=lambda r: r.name)
            ],
        }
        for s in sorted(sessions, key=lambda s: s.connected_at)[:MAX_CONNECTIONS]
    ]
    rooms: dict[str, dict[str, Any]] = {}
    for session in sessions:
        for room in session.rooms:
            entry = rooms.setdefault(
                room.name, {"room": room.name, "kind": room.kind, "sockets": 0, "users": set()}
            )
            entry["sockets"] += 1
            entry["users"].add(session.user_id)
    sections: dict[str, Any] = {}
    for plugin, result in await platform.plugins.call_each_isolated(
        "lvng_admin_snapshot", platform=platform, organization_id=organization_id
    ):
        if result is not None and not isinstance(result, BaseException):
            sections[plugin] = result
    errors = [
        e for e in reversed(platform.recent_errors) if e["organizationId"] == organization_id
    ][:MAX_ERRORS]
    return {
        "organizationId": organization_id,
        "sampledAt": now_iso(),
        "figures": platform.figures.of(organization_id).as_dict(len(sessions)),
        "connections": connections,
        "rooms": [{**entry, "users": len(entry["users"])} for _, entry in sorted(rooms.items())],
        "sections": sections,
        "errors": errors,
        "plugins": plugins_of(platform, metrics=False),
    }


def node_of(platform: Platform) -> dict[str, Any]:
    """What an operator sees: this node as a whole."""
    return {
        "pid": os.getpid(),
        "stopping": platform.stopping,
        "sampledAt": now_iso(),
        "figures": platform.figures.node.as_dict(platform.figures.connections()),
        "organizations": len({s.organization_id for s in platform.sessions.values()}),
        "plugins": plugins_of(platform, metrics=True),
    }


@admin_routes.get("/api/v1/admin/overview")
async def overview(request: Request) -> HTTPResponse:
    identity = _with_role(request, ADMIN)
    return json(await overview_of(platform_of(request), identity.organization_id))


@admin_routes.get("/api/v1/admin/node")
async def node(request: Request) -> HTTPResponse:
    _with_role(request, OPERATOR)
    return json(node_of(platform_of(request)))


@admin_routes.get("/api/v1/admin/plugins")
async def plugins(request: Request) -> HTTPResponse:
    identity = _with_role(request, ADMIN, OPERATOR)
    metrics = OPERATOR in identity.roles
    return json({"plugins": plugins_of(platform_of(request), metrics=metrics)})


# --- actions: an organization's admin on its own users --------------------------------


class RemoveFromRoom(BaseModel):
    """`{room}`: the room's scope as the overview lists it (`channel:general`)."""

    model_config = ConfigDict(extra="forbid")

    room: str = Field(min_length=1, max_length=1024, pattern=r"^[^/]+$")


def _user(user_id: str) -> str:
    if not is_valid_id(user_id):
        raise LvngError(ErrorCode.VALIDATION_ERROR, f"userId must match {ID_PATTERN}")
    return user_id


def _who(identity: Identity) -> str:
    return f"{identity.user_id} (admin of {identity.organization_id})"


@admin_routes.post("/api/v1/admin/users/<user_id:str>/disconnect")
async def disconnect_user(request: Request, user_id: str) -> HTTPResponse:
    """Every socket of the user, on every node, is disconnected (the client is told it
    was disconnected by the server and does not reconnect by itself)."""
    identity = _with_role(request, ADMIN)
    user_id = _user(user_id)
    by = _who(identity)
    log.info("%s asks every node to disconnect user %s", by, user_id)
    await platform_of(request).disconnect_user(identity.organization_id, user_id, by=by)
    return json(
        {"action": "disconnect", "userId": user_id, "organizationId": identity.organization_id},
        status=202,
    )


@admin_routes.post("/api/v1/admin/users/<user_id:str>/remove")
async def remove_user(request: Request, user_id: str) -> HTTPResponse:
    """The user's sockets leave one room of the admin's organization, on every node; each
    domain tells the room as for a member whose right was taken away (`removed`)."""
    identity = _with_role(request, ADMIN)
    user_id = _user(user_id)
    body: RemoveFromRoom = parse_body(request, RemoveFromRoom)
    room = Room(identity.organization_id, body.room)
    if room.kind in UNREMOVABLE_KINDS:
        raise LvngError(
            ErrorCode.VALIDATION_ERROR,
            f"every socket is in its {room.kind} room while connected: disconnect the user instead",
        )
    by = _who(identity)
    log.info("%s asks every node to remove user %s from %s", by, user_id, room.name)
    await platform_of(request).remove_from_room(room, user_id, by=by)
    return json(
        {
            "action": "remove",
            "userId": user_id,
            "organizationId": identity.organization_id,
            "room": room.name,
        },
        status=202,
    )

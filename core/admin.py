"""The inspection page (`GET /admin`) and its admin-only data routes.

    GET /admin                      the page: static HTML, asks for an admin token (or
                                    takes it from `#token=…`, as `lvng serve --dev` prints)
    GET /admin/socket.io.min.js     the socket.io-client browser build for its playground
                                    (vendored in core/static, licence beside it)
    GET /api/v1/admin/overview      an admin's organization on this node: connections,
                                    rooms with member counts, each plugin's section
                                    (hook `lvng_admin_snapshot`), recent errors, plugins
    GET /api/v1/admin/plugins       the enabled plugins: events, emitted events, metrics

The data routes need a token with the `admin` role and show only its organization (the
plugins' events and metric values are server-wide, as `/metrics` and `/asyncapi.json`
already are). Connections, rooms and errors are this node's: with several nodes, each
shows its own.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sanic import Blueprint, Request, json
from sanic.response import HTTPResponse, html, raw

from core.errors import ErrorCode, LvngError
from core.http import authenticate, platform_of

if TYPE_CHECKING:
    from core.identity import Identity
    from core.platform import Platform

STATIC = Path(__file__).resolve().parent / "static"
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


def _admin(request: Request) -> Identity:
    identity = authenticate(request)
    if not identity.is_admin:
        raise LvngError(
            ErrorCode.FORBIDDEN, "the inspection routes need a token with the admin role"
        )
    return identity


def plugins_of(platform: Platform) -> list[dict[str, Any]]:
    """The core and each enabled plugin: its client events, emitted events, metrics."""
    names = ["core", *platform.plugins.names]
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    prefixes = {f"lvng_{name}_": name for name in platform.plugins.names}
    for metric in platform.metrics_registry.collect():
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
            "metrics": samples[name],
        }
        for name in names
    ]


def _transport(platform: Platform, sid: str) -> str | None:
    try:
        transport: str = platform.sio.transport(sid)
        return transport
    except Exception:  # noqa: BLE001 - the socket went meanwhile
        return None


async def overview_of(platform: Platform, organization_id: str) -> dict[str, Any]:
    sessions = [s for s in platform.sessions.values() if s.organization_id == organization_id]
    connections = [
        {
            "socketId": s.sid,
            "userId": s.user_id,
            "userName": s.identity.user_name,
            "connectedAt": s.connected_at,
            "transport": _transport(platform, s.sid),
            "rooms": sorted(room.name for room in s.rooms),
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
        "node": {
            "pid": os.getpid(),
            "connections": len(platform.sessions),
            "stopping": platform.stopping,
        },
        "connections": connections,
        "rooms": [{**entry, "users": len(entry["users"])} for _, entry in sorted(rooms.items())],
        "sections": sections,
        "errors": errors,
        "plugins": plugins_of(platform),
    }


@admin_routes.get("/api/v1/admin/overview")
async def overview(request: Request) -> HTTPResponse:
    identity = _admin(request)
    return json(await overview_of(platform_of(request), identity.organization_id))


@admin_routes.get("/api/v1/admin/plugins")
async def plugins(request: Request) -> HTTPResponse:
    _admin(request)
    return json({"plugins": plugins_of(platform_of(request))})

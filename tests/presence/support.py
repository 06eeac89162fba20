"""Shared helpers of the presence tests: quick servers, unique ids, exact payloads."""

from __future__ import annotations

import re
from typing import Any

from tests.live import Client, LiveServer

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def config(away: float = 60, grace: float = 0.5) -> str:
    return f"[plugins.presence]\naway_after_seconds = {away}\noffline_grace_seconds = {grace}\n"


def start_with(start_server, tmp_path_factory, away: float = 60, grace: float = 0.5) -> LiveServer:
    path = tmp_path_factory.mktemp("config") / "lvng.toml"
    path.write_text(config(away, grace))
    return start_server(args=["--config", str(path)])


def update(
    user: str, name: str, status: str, custom: str | None = None, text: str | None = None
) -> dict[str, Any]:
    """A `presence:update` as the organization hears it, less its timestamp."""
    return {
        "userId": user,
        "userName": name,
        "status": status,
        "customStatus": custom,
        "statusText": text,
    }


async def heard(client: Client, timeout: float = 5.0) -> dict[str, Any]:
    """The next `presence:update`, its timestamp checked and taken off."""
    data = dict(await client.next("presence:update", timeout=timeout))
    assert TIMESTAMP.match(data.pop("timestamp")), data
    return data


async def connect(server: LiveServer, user: str, org: str, name: str | None = None) -> Client:
    """A connected client whose own `online` (if announced) is left unread."""
    return await server.connect(user, org, name=name or user.title())


async def listed(client: Client) -> list[dict[str, Any]]:
    """`presence:list`, each user's lastSeen checked and kept."""
    ack = await client.call("presence:list")
    assert ack["ok"] is True and set(ack) == {"ok", "users", "nextCursor"}, ack
    assert ack["nextCursor"] is None, ack  # one page: fewer than 500 users
    for user in ack["users"]:
        assert set(user) == {
            "userId",
            "userName",
            "status",
            "customStatus",
            "statusText",
            "lastSeen",
        }, user
        assert TIMESTAMP.match(user["lastSeen"]), user
    return ack["users"]


def without_last_seen(users: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in user.items() if k != "lastSeen"} for user in users]


def large_config(limit: int, grace: float = 0.3, coalesce_ms: float = 50) -> str:
    """Presence with a small `org_broadcast_limit`, so a handful of users is a large org."""
    return config(60, grace) + f"org_broadcast_limit = {limit}\ncoalesce_ms = {coalesce_ms}\n"


def unknown(user: str) -> dict[str, Any]:
    """What `presence:subscribe` acks for an id with no presence in the caller's org."""
    return {
        "userId": user,
        "userName": None,
        "status": "offline",
        "customStatus": None,
        "statusText": None,
        "lastSeen": None,
    }

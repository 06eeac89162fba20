"""Shared helpers of the swarm tests: agents publishing over HTTP, subscribers on sockets."""

from __future__ import annotations

import re
from typing import Any

from tests.live import Client, LiveServer
from tests.messages.support import TIMESTAMP, uid

__all__ = [
    "TIMESTAMP",
    "agent_token",
    "publish",
    "read",
    "seqs",
    "subscribed",
    "uid",
    "until_seq",
    "update_of",
]

UPDATE_KEYS = {
    "sessionId",
    "seq",
    "type",
    "agent",
    "stepId",
    "title",
    "status",
    "output",
    "data",
    "timestamp",
}
SESSION_ID = re.compile(r"^swarm_")


def agent_token(server: LiveServer, org: str, sub: str = "agent-bot", **claims: Any) -> str:
    """A `service` token of `org`, as an agent runner holds."""
    claims.setdefault("roles", ["service"])
    return server.token(sub, org, **claims)


async def publish(
    server: LiveServer,
    org: str,
    session: str,
    body: dict[str, Any],
    *,
    token: str | None = None,
    expect: int = 201,
) -> dict[str, Any]:
    """POST one event; assert the status; return the answer's JSON."""
    status, answer = await server.http(
        "POST",
        f"/api/v1/swarm/sessions/{session}/events",
        token=token or agent_token(server, org),
        json=body,
    )
    assert status == expect, (status, answer)
    return answer


async def read(
    server: LiveServer, org: str, session: str, *, token: str | None = None, **query: Any
) -> dict[str, Any]:
    """GET a session (as a plain member of `org`), asserting 200."""
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    status, body = await server.http(
        "GET",
        f"/api/v1/swarm/sessions/{session}" + (f"?{qs}" if qs else ""),
        token=token or server.token("reader", org),
    )
    assert status == 200, body
    return body


def update_of(session: str, seq: int, body: dict[str, Any], *, timestamp: str) -> dict[str, Any]:
    """The update the server must answer and broadcast for `body` stored as `seq`."""
    default_status = {
        "session.started": "running",
        "step.started": "running",
        "step.completed": "completed",
        "step.failed": "failed",
        "session.completed": "completed",
        "session.failed": "failed",
    }
    return {
        "sessionId": session,
        "seq": seq,
        "type": body["type"],
        "agent": body["agent"],
        "stepId": body.get("stepId"),
        "title": body.get("title"),
        "status": body.get("status", default_status[body["type"]]),
        "output": body.get("output"),
        "data": body.get("data", {}),
        "timestamp": timestamp,
        "eventId": body.get("eventId"),
    }


async def subscribed(
    server: LiveServer,
    org: str,
    session: str,
    sub: str = "watcher",
    client: Client | None = None,
    **payload: Any,
) -> tuple[Client, dict]:
    """A client of `sub` subscribed to `session`; returns it and its `swarm:state`
    (after checking the ack and `swarm:subscribed`)."""
    client = client or await server.connect(sub, org)
    ack = await client.call("swarm:subscribe", {"sessionId": session, **payload})
    assert ack["ok"] is True, ack
    assert await client.next("swarm:subscribed") == {"sessionId": session}
    return client, await client.next("swarm:state")


async def until_seq(client: Client, last: int, timeout: float = 10.0) -> list[dict]:
    """Every `swarm:update` the client gets until (and with) the one of seq `last`."""
    got: list[dict] = []
    while not got or got[-1]["seq"] < last:
        got.append(await client.next("swarm:update", timeout=timeout))
    return got


def seqs(updates: list[dict[str, Any]]) -> list[int]:
    return [u["seq"] for u in updates]

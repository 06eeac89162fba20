"""Shared helpers of the messages tests: unique ids, the reference's payload keys, and
clients that have already joined a channel or conversation.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from tests.live import Client, LiveServer

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
MESSAGE_ID = re.compile(
    r"^msg_[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
)

# Payload keys of websocket-events.md, server -> client, exactly as written there.
REFERENCE_KEYS: dict[str, set[str]] = {
    "message:new": {
        "id",
        "channelId",
        "conversationId",
        "userId",
        "userName",
        "content",
        "contentType",
        "threadId",
        "attachments",
        "createdAt",
        "updatedAt",
        "metadata",
    },
    "message:sent": {"id", "optimisticId", "channelId", "timestamp"},
    "message:update": {
        "messageId",
        "content",
        "metadata",
        "channelId",
        "conversationId",
        "updatedBy",
        "timestamp",
    },
    "message:delete": {
        "messageId",
        "channelId",
        "conversationId",
        "deletedBy",
        "deletedByName",
        "timestamp",
    },
    "message:reaction": {
        "messageId",
        "channelId",
        "emoji",
        "userId",
        "userName",
        "action",
        "timestamp",
    },
    "message:read": {"messageId", "channelId", "conversationId", "userId", "userName", "timestamp"},
    "message:read:batch": {"messageIds", "channelId", "conversationId", "userId", "timestamp"},
    "typing:start": {"channelId", "conversationId", "userId", "userName", "timestamp"},
    "typing:stop": {"channelId", "conversationId", "userId", "userName", "timestamp"},
    "channel:join": {"channelId", "userId", "userName", "user", "timestamp"},
    "channel:history": {"channelId", "messages", "hasMore", "total"},
    "channel:leave": {"channelId", "userId", "userName", "timestamp"},
    "channel:update": {
        "channelId",
        "updates",
        "channel",
        "updatedBy",
        "updatedByName",
        "timestamp",
    },
    "room:joined": {"room", "conversationId", "customerId", "timestamp"},
    "member:joined": {"conversationId", "userId", "userName", "timestamp"},
    "member:left": {"conversationId", "userId", "userName", "timestamp"},
    "conversation:rejoined": {"conversationId", "customerId", "missed_messages", "timestamp"},
}


# The ack of a send the database refused inside a batch (core/commits.py): the others of
# its batch are stored, this one is not.
REFUSED_WRITE: dict[str, Any] = {
    "ok": False,
    "error": {
        "code": "INTERNAL_ERROR",
        "message": "not stored: the database refused this write (it has been logged); "
        "nothing of it was kept",
    },
}


def uid(prefix: str) -> str:
    """A fresh id, so tests sharing one server never meet."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def has_reference_keys(event: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Assert the payload carries every key the reference lists for `event`; return it."""
    missing = REFERENCE_KEYS[event] - set(payload)
    assert not missing, f"{event} lacks {sorted(missing)}: {payload}"
    for key in ("timestamp", "createdAt", "updatedAt"):
        if key in REFERENCE_KEYS[event]:
            assert TIMESTAMP.match(payload[key]), f"{event}.{key} = {payload[key]!r}"
    return payload


async def in_channel(server: LiveServer, org: str, channel: str, sub: str, **claims: Any) -> Client:
    """A client of `sub` that has joined `channel` (its own join events read)."""
    client = await server.connect(sub, org, **claims)
    ack = await client.call("channel:join", {"channelId": channel})
    assert ack["ok"] is True, ack
    await client.next("channel:join")
    await client.next("channel:history")
    return client


async def in_conversation(
    server: LiveServer, org: str, customer: str, conversation: str, sub: str, **claims: Any
) -> Client:
    """A client of `sub` (granted `customer`) in the conversation, `room:joined` read."""
    claims.setdefault("customers", [customer])
    client = await server.connect(sub, org, **claims)
    ack = await client.call(
        "conversation:join", {"conversationId": conversation, "customerId": customer}
    )
    assert ack["ok"] is True, ack
    await client.next("room:joined")
    return client


async def alice_and_bob(server: LiveServer, kind: str) -> tuple[dict[str, Any], Client, Client]:
    """A fresh channel or conversation (`kind`) with Alice and Bob in it, and its target
    keys as `message:send` takes them."""
    org = uid("org")
    if kind == "channel":
        target: dict[str, Any] = {"channelId": uid("ch")}
        alice = await in_channel(server, org, target["channelId"], "alice", name="Alice")
        bob = await in_channel(server, org, target["channelId"], "bob", name="Bob")
    else:
        customer, conversation = uid("cust"), uid("conv")
        target = {"conversationId": conversation, "customerId": customer}
        alice = await in_conversation(server, org, customer, conversation, "alice", name="Alice")
        bob = await in_conversation(server, org, customer, conversation, "bob", name="Bob")
    return target, alice, bob


async def send(
    client: Client, target: dict[str, Any], content: str, **extra: Any
) -> dict[str, Any]:
    """Send a message; return the ack (asserting it is ok)."""
    ack = await client.call("message:send", {**target, "content": content, **extra})
    assert ack["ok"] is True, ack
    return ack


async def history(server: LiveServer, org: str, channel: str, **query: Any) -> dict[str, Any]:
    """A channel's history over HTTP, as a service of `org`."""
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    status, body = await server.http(
        "GET",
        f"/api/v1/channels/{channel}/messages" + (f"?{qs}" if qs else ""),
        token=server.token("history-reader", org, roles=["service"]),
    )
    assert status == 200, body
    return body


async def expect_error(client: Client, event: str, data: Any, code: str) -> dict[str, Any]:
    """The event fails with `code`, both in the ack and as an `error` event."""
    ack = await client.call(event, data)
    assert ack["ok"] is False and ack["error"]["code"] == code, ack
    error = await client.next("error")
    assert error["code"] == code and error["event"] == event, error
    return ack["error"]

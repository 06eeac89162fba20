"""Bad input gets the contract's error code, stores nothing, and leaves the socket
working."""

from __future__ import annotations

import pytest

from tests.messages.support import expect_error, history, in_channel, send, uid


@pytest.fixture
async def room(server):
    org, channel = uid("org"), uid("ch")
    alice = await in_channel(server, org, channel, "alice")
    bob = await in_channel(server, org, channel, "bob")
    await alice.next("channel:join")
    first = await send(alice, {"channelId": channel}, "kept")
    await alice.next("message:new")
    await bob.next("message:new")
    return org, channel, alice, bob, first["id"]


async def stored(server, org, channel):
    return [m["content"] for m in (await history(server, org, channel))["messages"]]


@pytest.mark.parametrize(
    "payload, code",
    [
        ({"content": "no target"}, "VALIDATION_ERROR"),
        ({"channelId": None, "content": "null target"}, "VALIDATION_ERROR"),
        ({"conversationId": "c1", "content": "no customer"}, "VALIDATION_ERROR"),
        ({"customerId": "c1", "content": "no conversation"}, "VALIDATION_ERROR"),
        ({"channelId": "CHANNEL", "content": ""}, "VALIDATION_ERROR"),
        ({"channelId": "CHANNEL", "content": "  \n\t "}, "VALIDATION_ERROR"),
        ({"channelId": "CHANNEL"}, "VALIDATION_ERROR"),
        ({"channelId": "CHANNEL", "content": 42}, "VALIDATION_ERROR"),
        ({"channelId": "CHANNEL", "content": "x" * 10_001}, "VALIDATION_ERROR"),
        (
            {"channelId": "CHANNEL", "content": "x", "mentions": [f"u{i}" for i in range(51)]},
            "VALIDATION_ERROR",
        ),
        ({"channelId": "CHANNEL", "content": "x", "mentions": ["bad id!"]}, "VALIDATION_ERROR"),
        ({"channelId": "CHANNEL", "content": "x", "optimisticId": "x" * 129}, "VALIDATION_ERROR"),
        ({"channelId": "bad/id", "content": "x"}, "VALIDATION_ERROR"),
        ({"channelId": "x" * 129, "content": "x"}, "VALIDATION_ERROR"),
        ({"channelId": "CHANNEL", "content": "x", "threadId": "msg_unknown"}, "NOT_FOUND"),
        ({"channelId": "other-channel", "content": "not joined"}, "NOT_IN_ROOM"),
    ],
)
async def test_bad_sends_store_nothing(server, room, payload, code):
    org, channel, alice, bob, _ = room
    payload = {k: channel if v == "CHANNEL" else v for k, v in payload.items()}
    await expect_error(alice, "message:send", payload, code)
    await bob.nothing("message:new", within=0.05)
    assert await stored(server, org, channel) == ["kept"]
    # The socket still works.
    await send(alice, {"channelId": channel}, "still here")
    assert (await bob.next("message:new"))["content"] == "still here"


async def test_limits_are_inclusive(server, room):
    org, channel, alice, bob, _ = room
    await send(alice, {"channelId": channel}, "y" * 10_000, mentions=[f"u{i}" for i in range(50)])
    new = await bob.next("message:new")
    assert len(new["content"]) == 10_000 and len(new["mentions"]) == 50
    # 10,000 after trimming.
    await send(alice, {"channelId": channel}, "  " + "z" * 10_000 + "  ")
    assert (await bob.next("message:new"))["content"] == "z" * 10_000


async def test_unknown_and_foreign_messages(server, room):
    org, channel, alice, bob, first = room
    target = {"channelId": channel}
    for event, data in [
        ("message:update", {"messageId": "msg_nope", "content": "x"}),
        ("message:delete", {"messageId": "msg_nope"}),
        ("message:react", {"messageId": "msg_nope", "emoji": "👍"}),
        ("message:read", {"messageId": "msg_nope"}),
        ("channel:history", {"before": "msg_nope"}),
    ]:
        await expect_error(alice, event, {**target, **data}, "NOT_FOUND")
    # Someone else's message: no edit, no delete.
    await expect_error(
        bob, "message:update", {**target, "messageId": first, "content": "x"}, "FORBIDDEN"
    )
    await expect_error(bob, "message:delete", {**target, "messageId": first}, "FORBIDDEN")
    await alice.nothing("message:update", within=0.05)
    await alice.nothing("message:delete", within=0.05)
    assert await stored(server, org, channel) == ["kept"]

    # A thread must be rooted in this room.
    other = uid("ch")
    await alice.call("channel:join", {"channelId": other})
    elsewhere = (await send(alice, {"channelId": other}, "elsewhere"))["id"]
    await expect_error(
        alice, "message:send", {**target, "content": "reply", "threadId": elsewhere}, "NOT_FOUND"
    )
    # Nor may a message be edited, deleted or reacted to through another room.
    await expect_error(
        alice,
        "message:update",
        {"channelId": other, "messageId": first, "content": "x"},
        "NOT_FOUND",
    )
    await expect_error(
        alice, "message:react", {"channelId": other, "messageId": first, "emoji": "x"}, "NOT_FOUND"
    )
    assert await stored(server, org, channel) == ["kept"]
    assert await stored(server, org, other) == ["elsewhere"]
    await send(alice, target, "still works")


async def test_bad_payload_shapes(server, room):
    org, channel, alice, bob, first = room
    target = {"channelId": channel}
    await expect_error(
        alice, "message:react", {**target, "messageId": first, "emoji": ""}, "VALIDATION_ERROR"
    )
    await expect_error(
        alice,
        "message:react",
        {**target, "messageId": first, "emoji": "x" * 65},
        "VALIDATION_ERROR",
    )
    await expect_error(
        alice,
        "message:react",
        {**target, "messageId": first, "emoji": "x", "action": "toggle"},
        "VALIDATION_ERROR",
    )
    await expect_error(
        alice, "message:update", {**target, "messageId": first, "content": " "}, "VALIDATION_ERROR"
    )
    await expect_error(
        alice,
        "message:update",
        {**target, "messageId": first, "content": "x" * 10_001},
        "VALIDATION_ERROR",
    )
    await expect_error(alice, "channel:join", {}, "VALIDATION_ERROR")
    await expect_error(alice, "channel:join", "general", "VALIDATION_ERROR")
    await expect_error(alice, "channel:update", {**target, "updates": {}}, "VALIDATION_ERROR")
    await expect_error(
        alice, "channel:update", {**target, "updates": {"name": ""}}, "VALIDATION_ERROR"
    )
    await expect_error(alice, "conversation:join", {"conversationId": "c"}, "VALIDATION_ERROR")
    await expect_error(
        alice,
        "conversation:rejoin",
        {"conversationId": "c", "customerId": "d", "lastMessageTimestamp": "yesterday"},
        "VALIDATION_ERROR",
    )
    await expect_error(alice, "typing:start", {}, "VALIDATION_ERROR")
    await bob.nothing("message:reaction", within=0.05)
    await bob.nothing("message:update", within=0.05)
    page = await alice.call("channel:history", target)
    assert [m["content"] for m in page["messages"]] == ["kept"]
    assert page["messages"][0]["reactions"] == []


async def test_http_bad_input(server, room):
    org, channel, alice, bob, first = room
    token = server.token("alice", org)
    path = f"/api/v1/channels/{channel}/messages"
    for body in (
        {},
        {"content": ""},
        {"content": "x" * 10_001},
        {"content": "x", "mentions": [f"u{i}" for i in range(51)]},
    ):
        status, reply = await server.http("POST", path, token=token, json=body)
        assert (status, reply["error"]["code"]) == (400, "VALIDATION_ERROR"), body
    status, reply = await server.http(
        "POST", path, token=token, json={"content": "x", "threadId": "msg_nope"}
    )
    assert (status, reply["error"]["code"]) == (404, "NOT_FOUND")
    status, reply = await server.http("POST", path, json={"content": "x"})
    assert (status, reply["error"]["code"]) == (401, "AUTH_REQUIRED")
    for query, expected in [
        ("limit=0", (400, "VALIDATION_ERROR")),
        ("limit=101", (400, "VALIDATION_ERROR")),
        ("limit=abc", (400, "VALIDATION_ERROR")),
        ("before=bad!id", (400, "VALIDATION_ERROR")),
        ("before=msg_nope", (404, "NOT_FOUND")),
    ]:
        status, reply = await server.http("GET", f"{path}?{query}", token=token)
        assert (status, reply["error"]["code"]) == expected, query
    status, reply = await server.http("GET", "/api/v1/channels/nope!/messages", token=token)
    assert (status, reply["error"]["code"]) == (400, "VALIDATION_ERROR")
    await bob.nothing("message:new", within=0.05)
    assert await stored(server, org, channel) == ["kept"]

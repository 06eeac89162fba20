"""Every server -> client payload of the reference's Messages, Typing, Channels and
Conversations tables, key for key, for channel and conversation targets."""

from __future__ import annotations

import asyncio

import pytest

from tests.messages.support import (
    MESSAGE_ID,
    TIMESTAMP,
    alice_and_bob,
    has_reference_keys,
    in_channel,
    send,
    uid,
)


async def test_channel_join_ack_then_join_and_history(server):
    org, channel = uid("org"), uid("ch")
    alice = await server.connect("alice", org, name="Alice")
    ack = await alice.call("channel:join", {"channelId": channel})
    assert ack["ok"] is True and ack["channelId"] == channel
    assert ack["channel"]["id"] == channel and ack["channel"]["name"] == channel
    assert ack["channel"]["private"] is False and ack["channel"]["createdBy"] == "alice"

    joined = has_reference_keys("channel:join", await alice.next("channel:join"))
    assert joined["channelId"] == channel and joined["userId"] == "alice"
    assert joined["userName"] == "Alice" and joined["user"] == {"id": "alice", "name": "Alice"}
    assert has_reference_keys("channel:history", await alice.next("channel:history")) == {
        "channelId": channel,
        "messages": [],
        "hasMore": False,
        "total": 0,
    }

    bob = await server.connect("bob", org, name="Bob")
    await bob.call("channel:join", {"channelId": channel})
    # The room hears the joiner, the joiner included.
    seen_by_alice = await alice.next("channel:join")
    assert seen_by_alice == await bob.next("channel:join")
    assert seen_by_alice["user"] == {"id": "bob", "name": "Bob"}
    await alice.nothing("channel:history")

    # Joining again tells the joiner again, and the room nothing.
    assert (await bob.call("channel:join", {"channelId": channel}))["ok"] is True
    assert (await bob.next("channel:join"))["userId"] == "bob"
    assert (await bob.next("channel:history"))["channelId"] == channel
    await alice.nothing("channel:join")


@pytest.mark.parametrize(
    "event, data, follows",
    [
        ("channel:join", {"channelId": "CH"}, ["channel:join", "channel:history"]),
        ("conversation:join", {"conversationId": "CONV", "customerId": "CUST"}, ["room:joined"]),
        (
            "conversation:rejoin",
            {"conversationId": "CONV", "customerId": "CUST"},
            ["conversation:rejoined"],
        ),
    ],
)
async def test_the_ack_comes_first_then_the_events(server, event, data, follows):
    fresh = {"CH": uid("ch"), "CONV": uid("conv"), "CUST": uid("cust")}
    data = {k: fresh[v] for k, v in data.items()}
    client = server.client()
    order: list[str] = []

    @client.sio.on("*")
    async def record(name: str, *args) -> None:  # replaces the client's own recorder
        order.append(name)

    await client.connect(server.token("alice", uid("org"), customers=[fresh["CUST"]]), wait=False)
    acked = asyncio.Event()

    def ack(*_: object) -> None:
        order.append("ack")
        acked.set()

    await client.sio.emit(event, data, callback=ack)
    await asyncio.wait_for(acked.wait(), 5)
    for _ in range(100):
        if follows[-1] in order:
            break
        await asyncio.sleep(0.01)
    # The connect's own events (`connected`, the presence plugin's `online`) are not the
    # join's.
    assert [e for e in order if e not in {"connected", "presence:update"}] == ["ack", *follows]


@pytest.mark.parametrize("kind", ["channel", "conversation"])
async def test_message_send_sent_and_new(server, kind):
    target, alice, bob = await alice_and_bob(server, kind)
    ack = await send(
        alice,
        target,
        "  Hello from WebSocket!  ",
        optimisticId="tmp_abc123",
        mentions=["bob"],
        workspaceId="ws_1",
        contentType="markdown",
        metadata={"k": 1},
        attachments=[{"url": "https://x/y.png"}],
    )

    sent = has_reference_keys("message:sent", await alice.next("message:sent"))
    channel_id = target.get("channelId")
    assert MESSAGE_ID.match(sent["id"])
    assert sent["optimisticId"] == "tmp_abc123" and sent["channelId"] == channel_id
    assert ack["id"] == sent["id"] and ack["timestamp"] == sent["timestamp"]

    new = has_reference_keys("message:new", await bob.next("message:new"))
    assert new == await alice.next("message:new")  # the sender hears it too
    assert new["id"] == sent["id"] and new["createdAt"] == sent["timestamp"]
    assert new["channelId"] == channel_id  # null for a conversation message
    assert new["conversationId"] == target.get("conversationId")
    assert (new["userId"], new["userName"]) == ("alice", "Alice")
    assert new["content"] == "Hello from WebSocket!"  # trimmed
    assert new["contentType"] == "markdown" and new["threadId"] is None
    assert new["attachments"] == [{"url": "https://x/y.png"}] and new["metadata"] == {"k": 1}
    assert new["updatedAt"] == new["createdAt"] and new["mentions"] == ["bob"]
    await bob.nothing("message:sent")


@pytest.mark.parametrize("kind", ["channel", "conversation"])
async def test_update_delete_react_read_payloads(server, kind):
    target, alice, bob = await alice_and_bob(server, kind)
    expected_ids = {
        "channelId": target.get("channelId"),
        "conversationId": target.get("conversationId"),
    }
    message_id = (await send(alice, target, "first"))["id"]

    ack = await alice.call(
        "message:update",
        {**target, "messageId": message_id, "content": "edited", "metadata": {"e": True}},
    )
    assert ack["ok"] is True and ack["messageId"] == message_id
    update = has_reference_keys("message:update", await bob.next("message:update"))
    assert update == await alice.next("message:update")
    assert {
        k: update[k]
        for k in ("messageId", "content", "metadata", "channelId", "conversationId", "updatedBy")
    } == {
        "messageId": message_id,
        "content": "edited",
        "metadata": {"e": True},
        **expected_ids,
        "updatedBy": "alice",
    }

    assert (
        await bob.call(
            "message:react", {**target, "messageId": message_id, "emoji": "👍", "action": "add"}
        )
    )["ok"] is True
    reaction = has_reference_keys("message:reaction", await alice.next("message:reaction"))
    assert {
        k: reaction[k] for k in ("messageId", "channelId", "emoji", "userId", "userName", "action")
    } == {
        "messageId": message_id,
        "channelId": target.get("channelId"),
        "emoji": "👍",
        "userId": "bob",
        "userName": "Bob",
        "action": "add",
    }
    assert reaction["conversationId"] == target.get("conversationId")

    assert (await bob.call("message:read", {**target, "messageId": message_id}))["ok"] is True
    read = has_reference_keys("message:read", await alice.next("message:read", timeout=3))
    assert {
        k: read[k] for k in ("messageId", "channelId", "conversationId", "userId", "userName")
    } == {"messageId": message_id, **expected_ids, "userId": "bob", "userName": "Bob"}

    second = (await send(alice, target, "second"))["id"]
    third = (await send(alice, target, "third"))["id"]
    for mid in (message_id, second, third):
        assert (await bob.call("message:read", {**target, "messageId": mid}))["ok"] is True
    batch = has_reference_keys(
        "message:read:batch", await alice.next("message:read:batch", timeout=3)
    )
    assert batch["messageIds"] == [message_id, second, third]
    assert (batch["channelId"], batch["conversationId"], batch["userId"]) == (
        expected_ids["channelId"],
        expected_ids["conversationId"],
        "bob",
    )

    assert (await alice.call("message:delete", {**target, "messageId": message_id}))["ok"]
    deleted = has_reference_keys("message:delete", await bob.next("message:delete"))
    assert {
        k: deleted[k]
        for k in ("messageId", "channelId", "conversationId", "deletedBy", "deletedByName")
    } == {"messageId": message_id, **expected_ids, "deletedBy": "alice", "deletedByName": "Alice"}


@pytest.mark.parametrize("kind", ["channel", "conversation"])
async def test_typing_payloads_reach_the_room_without_the_sender(server, kind):
    target, alice, bob = await alice_and_bob(server, kind)
    # What the client says about itself is ignored.
    spoof = {"userId": "mallory", "userName": "Mallory"}
    assert (await alice.call("typing:start", {**target, **spoof}))["ok"] is True
    start = has_reference_keys("typing:start", await bob.next("typing:start"))
    assert {k: start[k] for k in ("channelId", "conversationId", "userId", "userName")} == {
        "channelId": target.get("channelId"),
        "conversationId": target.get("conversationId"),
        "userId": "alice",
        "userName": "Alice",
    }
    assert (await alice.call("typing:stop", {**target, **spoof}))["ok"] is True
    stop = has_reference_keys("typing:stop", await bob.next("typing:stop"))
    assert (stop["userId"], stop["userName"]) == ("alice", "Alice")
    await alice.nothing("typing:start", within=0.1)
    await alice.nothing("typing:stop", within=0.1)


async def test_channel_leave_and_update_payloads(server):
    org, channel = uid("org"), uid("ch")
    alice = await in_channel(server, org, channel, "alice", name="Alice")
    bob = await in_channel(server, org, channel, "bob", name="Bob")
    await alice.next("channel:join")

    ack = await alice.call(
        "channel:update",
        {
            "channelId": channel,
            "updates": {"name": "General", "topic": "Sprint 12", "description": "All hands"},
        },
    )
    assert ack["ok"] is True and ack["channel"]["name"] == "General"
    update = has_reference_keys("channel:update", await bob.next("channel:update"))
    assert update == await alice.next("channel:update")
    assert update["channelId"] == channel and update["updatedBy"] == "alice"
    assert update["updatedByName"] == "Alice"
    assert update["updates"] == {
        "name": "General",
        "topic": "Sprint 12",
        "description": "All hands",
    }
    assert {k: update["channel"][k] for k in ("id", "name", "topic", "description", "private")} == {
        "id": channel,
        "name": "General",
        "topic": "Sprint 12",
        "description": "All hands",
        "private": False,
    }

    ack = await bob.call("channel:leave", {"channelId": channel, "userId": "mallory"})
    assert ack == {"ok": True, "channelId": channel, "left": True}
    left = has_reference_keys("channel:leave", await alice.next("channel:leave"))
    assert (left["channelId"], left["userId"], left["userName"]) == (channel, "bob", "Bob")
    # Bob is out: he hears nothing more from the room.
    await send(alice, {"channelId": channel}, "after bob left")
    await bob.nothing("message:new")


async def test_conversation_join_leave_rejoin_payloads(server):
    org, customer, conversation = uid("org"), uid("cust"), uid("conv")
    target = {"conversationId": conversation, "customerId": customer}
    alice = await server.connect("alice", org, name="Alice", customers=[customer])
    ack = await alice.call("conversation:join", target)
    assert ack["ok"] is True and ack["room"] == f"customer:{customer}:conversation:{conversation}"
    joined = has_reference_keys("room:joined", await alice.next("room:joined"))
    assert {k: joined[k] for k in ("room", "conversationId", "customerId")} == {
        "room": f"customer:{customer}:conversation:{conversation}",
        "conversationId": conversation,
        "customerId": customer,
    }

    bob = await server.connect("bob", org, name="Bob", customers=[customer])
    await bob.call("conversation:join", target)
    member = has_reference_keys("member:joined", await alice.next("member:joined"))
    assert (member["conversationId"], member["userId"], member["userName"]) == (
        conversation,
        "bob",
        "Bob",
    )
    await bob.nothing("member:joined")  # to the others, not the joiner

    first = (await send(alice, target, "one"))["id"]
    assert (await bob.call("conversation:leave", target))["ok"] is True
    left = has_reference_keys("member:left", await alice.next("member:left"))
    assert (left["conversationId"], left["userId"], left["userName"]) == (
        conversation,
        "bob",
        "Bob",
    )

    second = (await send(alice, target, "two"))["id"]
    ack = await bob.call("conversation:rejoin", {**target, "lastMessageId": first})
    assert ack["ok"] is True and ack["missed"] == 1 and ack["hasMore"] is False
    rejoined = has_reference_keys("conversation:rejoined", await bob.next("conversation:rejoined"))
    assert (rejoined["conversationId"], rejoined["customerId"]) == (conversation, customer)
    assert [m["id"] for m in rejoined["missed_messages"]] == [second]
    missed = has_reference_keys("message:new", rejoined["missed_messages"][0])
    assert missed["channelId"] is None and missed["conversationId"] == conversation
    assert TIMESTAMP.match(rejoined["timestamp"])
    assert (await alice.next("member:joined"))["userId"] == "bob"

"""The rules of contract section 5 beyond payload shapes: idempotency, edits and soft
deletes, threads, reactions, read positions and their coalescing, typing expiry,
conversation membership, HTTP sends, settings, metrics and domain events."""

from __future__ import annotations

import asyncio

import pytest

from plugins.messages.settings import MessagesSettings
from tests.messages.support import (
    expect_error,
    history,
    in_channel,
    in_conversation,
    send,
    uid,
)


def config_file(tmp_path_factory, text: str) -> str:
    path = tmp_path_factory.mktemp("config") / "lvng.toml"
    path.write_text(text)
    return str(path)


@pytest.fixture(scope="module")
def quick_typing_server(start_server, tmp_path_factory):
    """Typing indicators expire after 0.4 s instead of 10 s."""
    return start_server(
        args=[
            "--config",
            config_file(tmp_path_factory, "[plugins.messages]\ntyping_timeout_seconds = 0.4\n"),
        ]
    )


async def test_repeated_optimistic_id_stores_nothing_new(server):
    org, channel = uid("org"), uid("ch")
    target = {"channelId": channel}
    alice = await in_channel(server, org, channel, "alice")
    bob = await in_channel(server, org, channel, "bob")
    before = await server.metric("lvng_messages_duplicates_suppressed_total")
    first = await send(alice, target, "once", optimisticId="tmp_1")
    assert first["duplicate"] is False
    assert (await alice.next("message:sent"))["id"] == first["id"]
    assert (await alice.next("message:new"))["id"] == first["id"]
    assert (await bob.next("message:new"))["id"] == first["id"]

    again = await send(alice, target, "once (retry)", optimisticId="tmp_1")
    assert again["id"] == first["id"] and again["duplicate"] is True
    sent = await alice.next("message:sent")
    assert (sent["id"], sent["optimisticId"]) == (first["id"], "tmp_1")
    await bob.nothing("message:new")
    await alice.nothing("message:new", within=0.01)
    assert await server.metric("lvng_messages_duplicates_suppressed_total") == before + 1

    # Over HTTP too (200 and the first message, instead of 201).
    status, reply = await server.http(
        "POST",
        f"/api/v1/channels/{channel}/messages",
        json={"content": "again", "optimisticId": "tmp_1"},
        token=server.token("alice", org),
    )
    assert (status, reply["id"], reply["duplicate"]) == (200, first["id"], True)
    # Another user's equal optimisticId is another message.
    other = await send(bob, target, "bob's", optimisticId="tmp_1")
    assert other["id"] != first["id"] and other["duplicate"] is False
    contents = [m["content"] for m in (await history(server, org, channel))["messages"]]
    assert contents == ["once", "bob's"]


async def test_racing_repeats_of_one_optimistic_id_store_one_message(server):
    org, channel = uid("org"), uid("ch")
    phone = await in_channel(server, org, channel, "alice")
    laptop = await in_channel(server, org, channel, "alice")
    acks = await asyncio.gather(
        *(
            client.call(
                "message:send", {"channelId": channel, "content": "hi", "optimisticId": "tmp_race"}
            )
            for client in (phone, laptop, phone, laptop)
        )
    )
    assert len({ack["id"] for ack in acks}) == 1
    assert sum(not ack["duplicate"] for ack in acks) == 1
    assert (await history(server, org, channel))["total"] == 1


async def test_edit_and_soft_delete_by_author_or_admin(server):
    org, customer, conversation = uid("org"), uid("cust"), uid("conv")
    target = {"conversationId": conversation, "customerId": customer}
    alice = await in_conversation(server, org, customer, conversation, "alice")
    admin = await in_conversation(server, org, customer, conversation, "boss", roles=["admin"])
    kept = (await send(alice, target, "kept"))["id"]
    doomed = (await send(alice, target, "doomed"))["id"]
    edited = await alice.call(
        "message:update", {**target, "messageId": kept, "content": "kept, edited"}
    )
    assert edited["ok"] is True
    assert (
        await admin.call("message:update", {**target, "messageId": kept, "content": "moderated"})
    )["ok"] is True
    assert (await admin.call("message:delete", {**target, "messageId": doomed}))["ok"] is True
    deleted = await alice.next("message:delete")
    assert (deleted["messageId"], deleted["deletedBy"]) == (doomed, "boss")
    # Deleted messages leave history and recovery; a second delete finds nothing.
    await expect_error(alice, "message:delete", {**target, "messageId": doomed}, "NOT_FOUND")
    await expect_error(
        alice, "message:update", {**target, "messageId": doomed, "content": "x"}, "NOT_FOUND"
    )
    status, page = await server.http(
        "GET",
        f"/api/v1/customers/{customer}/conversations/{conversation}/messages",
        token=server.token("alice", org, customers=[customer]),
    )
    assert status == 200 and page["total"] == 1
    [message] = page["messages"]
    assert message["id"] == kept and message["content"] == "moderated"
    assert message["updatedAt"] >= message["createdAt"]
    late = await server.connect("late", org, customers=[customer])
    await late.call("conversation:rejoin", target)
    assert [m["id"] for m in (await late.next("conversation:rejoined"))["missed_messages"]] == [
        kept
    ]


async def test_threads_are_rooted_in_the_room(server):
    org, channel = uid("org"), uid("ch")
    target = {"channelId": channel}
    alice = await in_channel(server, org, channel, "alice")
    root = (await send(alice, target, "root"))["id"]
    reply = (await send(alice, target, "reply", threadId=root))["id"]
    nested = (await send(alice, target, "reply to reply", threadId=reply))["id"]
    messages = {m["id"]: m for m in (await history(server, org, channel))["messages"]}
    assert messages[root]["threadId"] is None
    assert messages[reply]["threadId"] == root
    assert messages[nested]["threadId"] == root  # replies join the root's thread


async def test_reactions_are_idempotent(server):
    org, channel = uid("org"), uid("ch")
    target = {"channelId": channel}
    alice = await in_channel(server, org, channel, "alice")
    bob = await in_channel(server, org, channel, "bob")
    message = (await send(alice, target, "react to me"))["id"]
    react = {**target, "messageId": message, "emoji": "👍"}
    assert (await bob.call("message:react", {**react, "action": "add"}))["changed"] is True
    assert (await alice.next("message:reaction"))["action"] == "add"
    again = await bob.call("message:react", {**react, "action": "add"})
    assert again["ok"] is True and again["changed"] is False
    await alice.nothing("message:reaction")
    await alice.call("message:react", {**react, "action": "add"})
    await alice.call("message:react", {**target, "messageId": message, "emoji": "🎉"})
    page = await alice.call("channel:history", target)
    assert page["messages"][-1]["reactions"] == [
        {"emoji": "👍", "count": 2, "userIds": ["bob", "alice"]},
        {"emoji": "🎉", "count": 1, "userIds": ["alice"]},
    ]

    assert (await bob.call("message:react", {**react, "action": "remove"}))["changed"] is True
    heard = [await alice.next("message:reaction") for _ in range(3)]
    assert [(r["userId"], r["emoji"], r["action"]) for r in heard] == [
        ("alice", "👍", "add"),
        ("alice", "🎉", "add"),
        ("bob", "👍", "remove"),
    ]
    absent = await bob.call("message:react", {**react, "action": "remove"})
    assert absent["ok"] is True and absent["changed"] is False
    await alice.nothing("message:reaction")


async def test_reads_store_a_position_and_are_coalesced(server):
    org, channel = uid("org"), uid("ch")
    target = {"channelId": channel}
    alice = await in_channel(server, org, channel, "alice")
    bob = await in_channel(server, org, channel, "bob")
    ids = [(await send(alice, target, f"m{i}"))["id"] for i in range(3)]

    # Two reads of the same message within the window are one receipt.
    for mid in (ids[2], ids[0], ids[2]):
        await bob.call("message:read", {**target, "messageId": mid})
    batch = await alice.next("message:read:batch", timeout=3)
    assert batch["messageIds"] == [ids[2], ids[0]]
    await alice.nothing("message:read")
    # The position only moves forward.
    ack = await bob.call("message:read", {**target, "messageId": ids[1]})
    assert ack["lastReadMessageId"] == ids[2]
    assert (await alice.next("message:read", timeout=3))["messageId"] == ids[1]
    # Stored: bob's next socket is told where he got to.
    again = await server.connect("bob", org)
    joined = await again.call("channel:join", target)
    assert joined["lastReadMessageId"] == ids[2]


async def test_typing_expires_and_ends_with_the_socket(quick_typing_server):
    live = quick_typing_server
    org, channel = uid("org"), uid("ch")
    target = {"channelId": channel}
    alice = await in_channel(live, org, channel, "alice")
    bob = await in_channel(live, org, channel, "bob")
    await alice.call("typing:start", target)
    await bob.next("typing:start")
    stopped = await bob.next("typing:stop", timeout=2)
    assert stopped["userId"] == "alice" and stopped["reason"] == "timeout"
    await alice.nothing("typing:stop", within=0.05)
    # A renewed start pushes the expiry back.
    await alice.call("typing:start", target)
    await asyncio.sleep(0.25)
    await alice.call("typing:start", target)
    await asyncio.sleep(0.25)
    assert len(bob.unread("typing:start")) == 2 and bob.unread("typing:stop") == []
    await bob.next("typing:stop", timeout=2)
    # An explicit stop cancels the expiry; stopping again tells nobody.
    await alice.call("typing:start", target)
    await alice.call("typing:stop", target)
    await alice.call("typing:stop", target)
    await bob.next("typing:start")
    await bob.next("typing:stop")
    await bob.nothing("typing:stop", within=0.6)
    # Typing, then gone: the room hears it stop.
    await alice.call("typing:start", target)
    await bob.next("typing:start")
    await alice.close()
    assert (await bob.next("typing:stop", timeout=0.3))["userId"] == "alice"
    await bob.nothing("typing:stop", within=0.5)


def test_default_settings_are_the_contracts():
    settings = MessagesSettings()
    assert settings.typing_timeout_seconds == 10
    assert settings.read_coalesce_ms == 500
    assert settings.idempotency_hours == 24
    assert settings.auto_create_channels is True


async def test_auto_create_can_be_turned_off(start_server, tmp_path_factory):
    live = start_server(
        args=[
            "--config",
            config_file(tmp_path_factory, "[plugins.messages]\nauto_create_channels = false\n"),
        ]
    )
    alice = await live.connect("alice", "acme")
    await expect_error(alice, "channel:join", {"channelId": "general"}, "NOT_FOUND")
    status, reply = await live.http(
        "GET", "/api/v1/channels/general/messages", token=live.token("alice", "acme")
    )
    assert (status, reply["error"]["code"]) == (404, "NOT_FOUND")


def test_a_bad_setting_stops_the_start(start_server, tmp_path_factory):
    with pytest.raises(RuntimeError, match="plugins.messages.typing_timeout_seconds"):
        start_server(
            args=[
                "--config",
                config_file(tmp_path_factory, "[plugins.messages]\ntyping_timeout_seconds = -1\n"),
            ]
        )


async def test_conversation_membership_counts_users_not_sockets(server):
    org, customer, conversation = uid("org"), uid("cust"), uid("conv")
    target = {"conversationId": conversation, "customerId": customer}
    alice = await in_conversation(server, org, customer, conversation, "alice")
    phone = await in_conversation(server, org, customer, conversation, "bob")
    assert (await alice.next("member:joined"))["userId"] == "bob"
    laptop = await in_conversation(server, org, customer, conversation, "bob")
    await alice.nothing("member:joined")  # bob was already there
    assert (await laptop.call("conversation:leave", target))["left"] is True
    await alice.nothing("member:left")  # bob is still there on his phone
    await phone.close()  # a disconnect is a leave of the last socket
    left = await alice.next("member:left")
    assert (left["userId"], left["conversationId"]) == ("bob", conversation)
    # Leaving what one is not in is a no-op.
    assert await laptop.call("conversation:leave", target) == {
        "ok": True,
        "conversationId": conversation,
        "left": False,
    }
    await alice.nothing("member:left")


async def left_room(client, room: str, user: str) -> dict:
    """The probe plugin's word that `user`'s socket has left `room` without asking; it is
    sent after whatever the messages plugin sent for that leave (tests/support)."""
    while True:
        left = await client.next("probe:gone")
        if (left["room"], left["userId"]) == (room, user):
            return left


async def test_one_of_two_devices_disconnecting_tells_nobody(server):
    """Only the disconnect of a user's last socket in a conversation is a `member:left`."""
    org, customer, conversation = uid("org"), uid("cust"), uid("conv")
    target = {"conversationId": conversation, "customerId": customer}
    room = f"customer:{customer}:conversation:{conversation}"
    alice = await in_conversation(server, org, customer, conversation, "alice")
    phone = await in_conversation(server, org, customer, conversation, "bob", name="Bob")
    assert (await alice.next("member:joined"))["userId"] == "bob"
    laptop = await in_conversation(server, org, customer, conversation, "bob", name="Bob")
    # Bob types on the laptop and closes it: the room hears the typing stop, and no leave.
    await laptop.call("typing:start", target)
    assert (await alice.next("typing:start"))["userId"] == "bob"
    await laptop.close()
    stopped = await alice.next("typing:stop")
    assert (stopped["userId"], stopped["reason"]) == ("bob", "left")
    assert (await left_room(alice, room, "bob"))["last"] is False
    assert alice.unread("member:left") == [] and phone.unread("member:left") == []
    # Bob's phone still is in the room and still hears it.
    await send(alice, target, "still there?")
    assert (await phone.next("message:new"))["content"] == "still there?"
    # The last device's disconnect is the leave, told once.
    await phone.close()
    assert (await left_room(alice, room, "bob"))["last"] is True
    [left] = alice.unread("member:left")
    assert left["timestamp"] and {k: v for k, v in left.items() if k != "timestamp"} == {
        "conversationId": conversation,
        "customerId": customer,
        "userId": "bob",
        "userName": "Bob",
    }


async def test_channel_membership_is_told_per_user_not_per_device(server):
    """A user's second device joining or leaving a channel is told to that device only;
    the room hears the user's first join and last leave (contract section 4)."""
    org, channel = uid("org"), uid("ch")
    target = {"channelId": channel}
    alice = await in_channel(server, org, channel, "alice")
    phone = await in_channel(server, org, channel, "bob")
    assert (await alice.next("channel:join"))["userId"] == "bob"
    laptop = await in_channel(server, org, channel, "bob")  # told to the laptop itself
    assert (await laptop.call("channel:leave", target))["ok"] is True
    assert (await laptop.next("channel:leave"))["userId"] == "bob"
    # What the room was told before this marker has reached alice before it.
    await send(alice, target, "marker")
    assert (await alice.next("message:new"))["content"] == "marker"
    assert alice.unread("channel:join") == [] and alice.unread("channel:leave") == []
    assert phone.unread("channel:join") == [] and phone.unread("channel:leave") == []
    # Bob's last device leaving is the leave the room hears, once.
    assert (await phone.call("channel:leave", target))["ok"] is True
    assert (await alice.next("channel:leave"))["userId"] == "bob"
    assert (await phone.next("channel:leave"))["userId"] == "bob"
    await send(alice, target, "marker 2")
    await alice.next("message:new")
    assert alice.unread("channel:leave") == []


async def test_a_disconnect_says_nothing_to_channels(server):
    org, channel = uid("org"), uid("ch")
    alice = await in_channel(server, org, channel, "alice")
    bob = await in_channel(server, org, channel, "bob")
    await bob.close()
    await alice.nothing("channel:leave")


async def test_http_post_is_a_send(server):
    org, channel = uid("org"), uid("ch")
    alice = await in_channel(server, org, channel, "alice")
    status, reply = await server.http(
        "POST",
        f"/api/v1/channels/{channel}/messages",
        json={"content": " from the API ", "mentions": ["alice"], "optimisticId": "api_1"},
        token=server.token("bot", org, name="Bot", roles=["service"]),
    )
    assert status == 201 and reply["duplicate"] is False
    new = await alice.next("message:new")
    assert new["id"] == reply["id"] and new["content"] == "from the API"
    assert (new["userId"], new["userName"], new["channelId"]) == ("bot", "Bot", channel)
    await alice.nothing("message:sent")
    # A plain member of the organization may post to a public channel.
    status, reply = await server.http(
        "POST",
        f"/api/v1/channels/{channel}/messages",
        json={"content": "hi"},
        token=server.token("bob", org),
    )
    assert status == 201 and (await alice.next("message:new"))["userId"] == "bob"
    # An unknown channel is not created by a POST.
    status, reply = await server.http(
        "POST",
        f"/api/v1/channels/{uid('ch')}/messages",
        json={"content": "hi"},
        token=server.token("bob", org),
    )
    assert (status, reply["error"]["code"]) == (404, "NOT_FOUND")


async def test_metrics_and_domain_events(server):
    org, channel = uid("org"), uid("ch")
    customer, conversation = uid("cust"), uid("conv")
    before = {
        "channel": await server.metric("lvng_messages_sent_total", target="channel"),
        "conversation": await server.metric("lvng_messages_sent_total", target="conversation"),
        "persisted": await server.metric("lvng_messages_persist_seconds_count"),
        "reads": await server.metric("lvng_messages_history_reads_total", target="channel"),
        "created": await server.metric(
            "lvng_domain_events_total", plugin="messages", name="message.created"
        ),
        "joined": await server.metric(
            "lvng_domain_events_total", plugin="messages", name="conversation.member_joined"
        ),
    }
    alice = await in_channel(server, org, channel, "alice")  # one history read
    await send(alice, {"channelId": channel}, "one")
    agent = await in_conversation(server, org, customer, conversation, "agent")
    await send(agent, {"conversationId": conversation, "customerId": customer}, "two")
    await send(agent, {"conversationId": conversation, "customerId": customer}, "three")
    assert (
        await server.metric("lvng_messages_sent_total", target="channel") == before["channel"] + 1
    )
    assert (
        await server.metric("lvng_messages_sent_total", target="conversation")
        == before["conversation"] + 2
    )
    # Exact deltas: counting anything twice must show.
    assert await server.metric("lvng_messages_persist_seconds_count") == before["persisted"] + 3
    assert (
        await server.metric("lvng_messages_history_reads_total", target="channel")
        == before["reads"] + 1
    )
    assert (
        await server.metric("lvng_domain_events_total", plugin="messages", name="message.created")
        == before["created"] + 3
    )
    assert (
        await server.metric(
            "lvng_domain_events_total", plugin="messages", name="conversation.member_joined"
        )
        == before["joined"] + 1
    )
    # A page read over HTTP and a second join are history reads too; a duplicate send is
    # neither stored, nor sent, nor published.
    await history(server, org, channel)
    await in_channel(server, org, channel, "bob")
    await send(alice, {"channelId": channel}, "four", optimisticId="o-metrics")
    await send(alice, {"channelId": channel}, "four again", optimisticId="o-metrics")
    assert (
        await server.metric("lvng_messages_history_reads_total", target="channel")
        == before["reads"] + 3
    )
    assert (
        await server.metric("lvng_messages_sent_total", target="channel") == before["channel"] + 2
    )
    assert await server.metric("lvng_messages_persist_seconds_count") == before["persisted"] + 4
    assert (
        await server.metric("lvng_domain_events_total", plugin="messages", name="message.created")
        == before["created"] + 4
    )


async def test_a_conversation_target_wins_over_a_channel_id(server):
    org, customer, conversation = uid("org"), uid("cust"), uid("conv")
    channel = uid("ch")
    agent = await in_conversation(server, org, customer, conversation, "agent")
    await in_channel(server, org, channel, "agent")
    for channel_id in ("", None, channel):
        await send(
            agent,
            {"channelId": channel_id, "conversationId": conversation, "customerId": customer},
            f"to the conversation ({channel_id})",
        )
        new = await agent.next("message:new")
        assert (new["channelId"], new["conversationId"]) == (None, conversation)
    assert (await history(server, org, channel))["total"] == 0


async def test_ids_may_hold_every_allowed_character(server):
    org, channel = uid("org"), f"team:eng.{uid('x')}_A-9"
    alice = await in_channel(server, org, channel, "alice")
    bob = await in_channel(server, org, channel, "bob")
    await send(alice, {"channelId": channel}, "colons are fine")
    assert (await bob.next("message:new"))["channelId"] == channel
    status, body = await server.http(
        "GET", f"/api/v1/channels/{channel}/messages", token=server.token("alice", org)
    )
    assert status == 200 and body["total"] == 1

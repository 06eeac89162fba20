"""Two server processes on one PostgreSQL database and one Redis: what crosses nodes, and
crosses exactly once (issue 7; contract section 4, "Users, not sockets").

"Exactly once" is shown with a marker: after the event under test, a later event in the
same room is awaited; the room is heard in order, so a duplicate would have come first.
"""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis

from tests.messages.support import in_channel, in_conversation, send, uid


def contents(client, event="message:new"):
    return [m["content"] for m in client.received[event]]


async def test_a_channel_message_crosses_nodes_once(cluster):
    nodes = cluster()
    a, b = nodes.start_node(), nodes.start_node()
    org, channel = uid("org"), uid("ch")
    alice = await in_channel(a, org, channel, "alice", name="Alice")
    bob = await in_channel(b, org, channel, "bob", name="Bob")
    assert (await alice.next("channel:join"))["userId"] == "bob"  # bob joined on node B

    first = await send(alice, {"channelId": channel}, "hello from A")
    got = await bob.next("message:new")
    assert (got["id"], got["userName"], got["content"]) == (first["id"], "Alice", "hello from A")
    await send(bob, {"channelId": channel}, "marker from B")
    assert (await bob.next("message:new"))["content"] == "marker from B"
    assert (await alice.next("message:new"))["content"] == "hello from A"
    assert (await alice.next("message:new"))["content"] == "marker from B"
    assert contents(bob) == contents(alice) == ["hello from A", "marker from B"]
    # Both nodes wrote to one database, in one order.
    status, body = await b.http(
        "GET", f"/api/v1/channels/{channel}/messages", token=b.token("reader", org)
    )
    assert status == 200 and [m["content"] for m in body["messages"]] == [
        "hello from A",
        "marker from B",
    ]


async def test_typing_and_its_expiry_cross_nodes_once(cluster):
    nodes = cluster(config="[plugins.messages]\ntyping_timeout_seconds = 0.5\n")
    a, b = nodes.start_node(), nodes.start_node()
    org, channel = uid("org"), uid("ch")
    target = {"channelId": channel}
    alice = await in_channel(a, org, channel, "alice", name="Alice")
    bob = await in_channel(b, org, channel, "bob", name="Bob")
    await alice.next("channel:join")

    assert (await alice.call("typing:start", target))["ok"] is True
    start = await bob.next("typing:start")
    assert (start["userId"], start["channelId"]) == ("alice", channel)
    stop = await bob.next("typing:stop")  # the server ended it after 0.5 s
    assert (stop["userId"], stop["reason"]) == ("alice", "timeout")
    # Alice's device on node B stops what her device on node A started: one stop.
    alice_b = await in_channel(b, org, channel, "alice", name="Alice")
    assert (await alice.call("typing:start", target))["ok"] is True
    await bob.next("typing:start")
    assert (await alice_b.call("typing:stop", target))["ok"] is True
    stop = await bob.next("typing:stop")
    assert stop["userId"] == "alice" and "reason" not in stop
    await send(alice, target, "marker")
    await bob.next("message:new")
    await bob.nothing("typing:stop", within=0.8)  # node A's timer finds nothing to end
    assert len(bob.received["typing:start"]) == 2 and len(bob.received["typing:stop"]) == 2


async def test_a_user_with_a_device_on_each_node_is_one_member(cluster):
    nodes = cluster()
    a, b = nodes.start_node(), nodes.start_node()
    org, customer, conversation = uid("org"), uid("cust"), uid("conv")
    target = {"conversationId": conversation, "customerId": customer}
    carol = await in_conversation(a, org, customer, conversation, "carol", name="Carol")

    phone = await in_conversation(a, org, customer, conversation, "alice", name="Alice")
    joined = await carol.next("member:joined")
    assert (joined["userId"], joined["userName"]) == ("alice", "Alice")
    laptop = await in_conversation(b, org, customer, conversation, "alice", name="Alice")
    await send(laptop, target, "marker 1")
    await carol.next("message:new")
    assert len(carol.received["member:joined"]) == 1  # the laptop joined silently

    assert (await phone.call("conversation:leave", target))["left"] is True
    await send(laptop, target, "marker 2")
    await carol.next("message:new")
    assert carol.received["member:left"] == []  # the laptop is still in
    await laptop.close()  # the last device goes, on the other node
    left = await carol.next("member:left")
    assert (left["userId"], left["conversationId"], left["customerId"]) == (
        "alice",
        conversation,
        customer,
    )
    await send(carol, target, "marker 3")
    await carol.next("message:new")
    assert len(carol.received["member:left"]) == 1


async def test_a_rejoin_on_the_other_node_misses_nothing_and_repeats_nothing(cluster):
    nodes = cluster()
    a, b = nodes.start_node(), nodes.start_node()
    org, customer, conversation = uid("org"), uid("cust"), uid("conv")
    target = {"conversationId": conversation, "customerId": customer}
    bob = await in_conversation(a, org, customer, conversation, "bob", name="Bob")
    alice = await in_conversation(a, org, customer, conversation, "alice", name="Alice")
    seen = await send(bob, target, "seen")
    await alice.next("message:new")
    await alice.close()
    for text in ("missed 1", "missed 2"):
        await send(bob, target, text)

    again = b.client()
    await again.connect(b.token("alice", org, customers=[customer], name="Alice"))
    ack = await again.call("conversation:rejoin", {**target, "lastMessageId": seen["id"]})
    assert (ack["ok"], ack["missed"], ack["hasMore"]) == (True, 2, False)
    rejoined = await again.next("conversation:rejoined")
    assert [m["content"] for m in rejoined["missed_messages"]] == ["missed 1", "missed 2"]
    await send(bob, target, "live")  # from node A to the rejoined socket on node B
    assert (await again.next("message:new"))["content"] == "live"
    assert contents(again) == ["live"]


async def test_a_killed_node_leaves_no_member_behind(cluster):
    nodes = cluster()  # node TTL 1.5 s
    a, b = nodes.start_node(), nodes.start_node()
    org, customer, conversation = uid("org"), uid("cust"), uid("conv")
    target = {"conversationId": conversation, "customerId": customer}
    carol = await in_conversation(a, org, customer, conversation, "carol", name="Carol")
    await in_conversation(b, org, customer, conversation, "alice", name="Alice")
    await carol.next("member:joined")

    b.kill()  # no disconnect reaches anyone: node A learns it from the expired heartbeat
    left = await carol.next("member:left", timeout=10)
    assert (left["userId"], left["userName"], left["conversationId"]) == (
        "alice",
        "Alice",
        conversation,
    )
    # Alice is no member any more: back on node A, she is announced again.
    await in_conversation(a, org, customer, conversation, "alice", name="Alice")
    assert (await carol.next("member:joined"))["userId"] == "alice"
    await send(carol, target, "marker")
    await carol.next("message:new")
    assert len(carol.received["member:left"]) == 1
    assert "node" in a.log() and "stopped answering" in a.log()


async def test_a_member_removed_on_one_node_leaves_on_every_node(cluster):
    nodes = cluster()
    a, b = nodes.start_node(), nodes.start_node()
    org, channel = uid("org"), uid("ch")
    target = {"channelId": channel}
    owner = await in_channel(a, org, channel, "owner")
    await owner.call("channel:update", {**target, "updates": {"private": True}})
    status, _ = await a.http(
        "PUT", f"/api/v1/channels/{channel}/members/guest", token=a.token("owner", org)
    )
    assert status == 201
    guest_a = await in_channel(a, org, channel, "guest")
    guest_b = await in_channel(b, org, channel, "guest")

    status, reply = await a.http(
        "DELETE", f"/api/v1/channels/{channel}/members/guest", token=a.token("owner", org)
    )
    assert (status, reply["removed"]) == (200, True)
    for device in (guest_a, guest_b):  # the one on node B too, not only node A's
        gone = await device.next("channel:leave")
        assert (gone["userId"], gone["reason"]) == ("guest", "removed")
    await send(owner, target, "members only now")
    await owner.next("message:new")
    await send(owner, target, "marker")
    await owner.next("message:new")
    for device in (guest_a, guest_b):
        assert device.received["message:new"] == []
        ack = await device.call("message:send", {**target, "content": "x"})
        assert ack["error"]["code"] == "NOT_IN_ROOM"


async def test_a_live_node_is_never_reaped(cluster):
    """Each node renews its heartbeat key every third of LVNG_NODE_TTL, so the key never
    comes near lapsing and no survivor ever takes a live node for dead. Watched for more
    than twice the TTL: every node's key keeps most of its TTL, no node is reaped, and
    the users on both nodes are still members."""
    nodes = cluster()  # node TTL 1.5 s
    a, b = nodes.start_node(), nodes.start_node()
    org, customer, conversation = uid("org"), uid("cust"), uid("conv")
    target = {"conversationId": conversation, "customerId": customer}
    carol = await in_conversation(a, org, customer, conversation, "carol", name="Carol")
    alice = await in_conversation(b, org, customer, conversation, "alice", name="Alice")
    await carol.next("member:joined")

    prefix, ttl_ms = nodes.env["LVNG_CLUSTER_NAME"], 1500
    redis = aioredis.from_url(nodes.env["LVNG_REDIS_URL"], decode_responses=True)
    try:
        ids = await redis.smembers(f"{prefix}:nodes")
        assert len(ids) == 2, ids
        lowest = {node: ttl_ms for node in ids}
        deadline = time.monotonic() + 2.4 * ttl_ms / 1000
        while time.monotonic() < deadline:  # time under test: the keys over 2 TTLs
            for node in ids:
                lowest[node] = min(lowest[node], await redis.pttl(f"{prefix}:alive:{node}"))
            await asyncio.sleep(0.02)
    finally:
        await redis.aclose()
    # Renewed every 500 ms, a key keeps about 1000 ms; with a beat every TTL it lapses
    # (PTTL falls to 0, then -2 for a missing key) once a round.
    assert all(left > ttl_ms // 5 for left in lowest.values()), lowest
    assert "stopped answering" not in a.log() + b.log()
    await send(alice, target, "still here")
    assert (await carol.next("message:new"))["content"] == "still here"
    assert carol.received["member:left"] == []

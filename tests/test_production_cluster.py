"""Every domain across two `lvng serve` nodes on one PostgreSQL database and one Redis
(issue 14): channel messages, typing, a conversation rejoin, presence, call participants
and transcription, swarm updates and activity items each reach a client on the other node,
exactly once. Then node B is killed (SIGKILL) with the default `LVNG_NODE_TTL` of 15 s:
its user goes offline and leaves the call on node A within 30 s.

"Exactly once" is shown with a marker: after the event under test, a later event in the
same room is awaited; a room is heard in order, so a duplicate would have come before it.
"""

from __future__ import annotations

import time

import pytest

from tests.activity.support import post_item
from tests.calls.support import say
from tests.live import Client
from tests.messages.support import in_conversation, send, uid
from tests.presence.support import heard, update
from tests.swarm.support import agent_token, publish

pytestmark = pytest.mark.timeout(120)


def seen(client: Client, event: str, key: str = "content") -> list:
    return [payload[key] for payload in client.received[event]]


async def test_every_domain_crosses_nodes_once_and_a_killed_node_is_let_go(cluster):
    nodes = cluster(env={"LVNG_NODE_TTL": "15"})  # the default
    a, b = nodes.start_node(), nodes.start_node()
    org, channel, customer, other = uid("org"), uid("ch"), uid("cust"), uid("cust")
    conversation, room, session = uid("conv"), uid("call"), uid("swarm")
    claims = {"customers": [customer, other]}

    # Presence: Bob on node A hears Alice come online on node B.
    bob = await a.connect("bob", org, name="Bob", **claims)
    assert await heard(bob) == update("bob", "Bob", "online")
    alice = await b.connect("alice", org, name="Alice", **claims)
    assert await heard(bob) == update("alice", "Alice", "online")

    # Channel messages and typing.
    target = {"channelId": channel}
    for client in (bob, alice):
        assert (await client.call("channel:join", target))["ok"] is True
    assert (await bob.next("channel:join"))["userId"] == "bob"
    assert (await bob.next("channel:join"))["userId"] == "alice"
    assert (await alice.call("typing:start", target))["ok"] is True
    start = await bob.next("typing:start")
    assert (start["userId"], start["channelId"]) == ("alice", channel)
    hello = await send(alice, target, "hello from B")
    assert (await alice.call("typing:stop", target))["ok"] is True
    stop = await bob.next("typing:stop")
    assert (stop["userId"], stop["channelId"]) == ("alice", channel)
    got = await bob.next("message:new")
    assert (got["id"], got["userName"], got["content"]) == (hello["id"], "Alice", "hello from B")
    await send(bob, target, "marker from A")
    assert (await alice.next("message:new"))["content"] == "hello from B"
    assert (await alice.next("message:new"))["content"] == "marker from A"
    assert (await bob.next("message:new"))["content"] == "marker from A"
    assert (
        seen(bob, "message:new") == seen(alice, "message:new") == ["hello from B", "marker from A"]
    )
    assert len(bob.received["typing:start"]) == len(bob.received["typing:stop"]) == 1

    # A conversation: Carol leaves on node A, misses two messages, rejoins on node B.
    where = {"conversationId": conversation, "customerId": customer}
    assert (await bob.call("conversation:join", where))["ok"] is True
    await bob.next("room:joined")
    carol = await in_conversation(a, org, customer, conversation, "carol", name="Carol")
    last = await send(bob, where, "seen by Carol")
    await carol.next("message:new")
    await carol.close()
    for text in ("missed 1", "missed 2"):
        await send(bob, where, text)
    again = b.client()
    await again.connect(b.token("carol", org, name="Carol", **claims))
    ack = await again.call("conversation:rejoin", {**where, "lastMessageId": last["id"]})
    assert (ack["ok"], ack["missed"], ack["hasMore"]) == (True, 2, False)
    rejoined = await again.next("conversation:rejoined")
    assert [m["content"] for m in rejoined["missed_messages"]] == ["missed 1", "missed 2"]
    await send(bob, where, "live")
    assert (await again.next("message:new"))["content"] == "live"
    assert seen(again, "message:new") == ["live"]

    # Activity: Alice on node B follows a second customer's feed; Bob's join and message
    # on node A and an item posted to node A reach her once each, in order.
    feed, talk = {"customerId": other}, {"conversationId": uid("conv"), "customerId": other}
    assert (await alice.call("activity:subscribe", feed))["ok"] is True
    await alice.next("activity:subscribed")
    assert (await bob.call("conversation:join", talk))["ok"] is True
    sent = await send(bob, talk, "for the feed")
    items = [await alice.next("activity:new") for _ in range(2)]
    assert [(i["type"], i["actorId"]) for i in items] == [
        ("conversation.member_joined", "bob"),
        ("message.created", "bob"),
    ]
    assert items[1]["subject"] == {"type": "message", "id": sent["id"]}
    marker = await post_item(a, org, other)
    assert await alice.next("activity:new") == marker
    assert alice.received["activity:new"] == [*items, marker]

    # Swarm: Bob on node A subscribes; an agent publishes to node B, then to node A.
    assert (await bob.call("swarm:subscribe", {"sessionId": session}))["ok"] is True
    await bob.next("swarm:state")
    token = agent_token(a, org)
    first = await publish(
        b, org, session, {"type": "session.started", "agent": "lead"}, token=token
    )
    assert await bob.next("swarm:update") == first
    end = await publish(
        a, org, session, {"type": "session.completed", "agent": "lead"}, token=token
    )
    assert await bob.next("swarm:update") == end
    assert [u["seq"] for u in bob.received["swarm:update"]] == [1, 2]

    # Calls: participants and transcription segments cross, once each.
    assert (await bob.call("call:join", {"roomName": room}))["ok"] is True
    joined = await bob.next("call:joined")
    assert (await alice.call("call:join", {"roomName": room}))["ok"] is True
    arrived = await bob.next("call:participant_joined")
    assert (arrived["userId"], arrived["callId"]) == ("alice", joined["callId"])
    await say(alice, room, "said on B")
    assert (await bob.next("transcription:segment"))["text"] == "said on B"
    await say(bob, room, "marker on A")
    assert (await bob.next("transcription:segment"))["text"] == "marker on A"
    assert seen(bob, "transcription:segment", "text") == ["said on B", "marker on A"]
    assert len(bob.received["call:participant_joined"]) == 1

    # Node B dies without a word: with the default TTL (15 s), node A notices within
    # 15 s + 5 s (the heartbeat runs every TTL/3) and lets Alice go.
    assert seen(bob, "presence:update", "userId").count("alice") == 1
    b.kill()
    killed = time.monotonic()
    left = await bob.next("call:participant_left", timeout=30)
    assert {k: left[k] for k in ("userId", "callId", "reason")} == {
        "userId": "alice",
        "callId": joined["callId"],
        "reason": "disconnected",
    }
    while (news := await heard(bob, timeout=max(0.1, 30 - (time.monotonic() - killed))))[
        "userId"
    ] != "alice":
        pass  # another user's earlier news (Carol's comings and goings)
    assert news == update("alice", "Alice", "offline")
    took = time.monotonic() - killed
    assert took < 30
    assert "stopped answering" in a.log()
    print(f"node B's user let go {took:.1f} s after SIGKILL (LVNG_NODE_TTL 15)")

"""Calls on two nodes sharing one PostgreSQL database and one Redis: a user is one
participant however many devices on whichever nodes, a room has one call at a time even
when its first participants arrive on two nodes at once, and a node that dies takes its
users out of the call on the survivor."""

from __future__ import annotations

import asyncio

from tests.calls.support import in_call, say, uid


async def test_a_device_on_each_node_is_one_participant(cluster):
    nodes = cluster()
    a, b = nodes.start_node(), nodes.start_node()
    org, room = uid("org"), uid("call")
    carol, joined = await in_call(a, org, room, "carol", name="Carol")
    phone, _ = await in_call(a, org, room, "alice", name="Alice")
    assert (await carol.next("call:participant_joined"))["userId"] == "alice"
    laptop, on_b = await in_call(b, org, room, "alice", name="Alice")
    assert on_b["callId"] == joined["callId"]
    assert [p["userId"] for p in on_b["participants"]] == ["carol", "alice"]
    await say(laptop, room, "marker 1")  # from node B to both nodes
    for client in (carol, phone, laptop):
        assert (await client.next("transcription:segment"))["text"] == "marker 1"
    assert len(carol.received["call:participant_joined"]) == 1

    assert (await phone.call("call:leave", {"roomName": room}))["left"] is True
    await say(laptop, room, "marker 2")
    assert (await carol.next("transcription:segment"))["text"] == "marker 2"
    assert carol.received["call:participant_left"] == []
    await laptop.close()  # the last device goes, on the other node
    left = await carol.next("call:participant_left")
    assert (left["userId"], left["reason"], left["callId"]) == (
        "alice",
        "disconnected",
        joined["callId"],
    )
    # One transcript, written by both nodes, in order.
    status, body = await b.http(
        "GET", f"/api/v1/calls/{room}/transcript", token=b.token("reader", org)
    )
    assert status == 200 and [s["text"] for s in body["segments"]] == ["marker 1", "marker 2"]


async def test_first_joins_on_two_nodes_at_once_start_one_call(cluster):
    nodes = cluster()
    a, b = nodes.start_node(), nodes.start_node()
    org = uid("org")
    for round_ in range(5):
        room = uid(f"race{round_}")
        alice = await a.connect("alice", org)
        bob = await b.connect("bob", org)
        acks = await asyncio.gather(
            alice.call("call:join", {"roomName": room}), bob.call("call:join", {"roomName": room})
        )
        assert acks[0]["callId"] == acks[1]["callId"], acks
        # Whoever came second saw the first in the call.
        assert max(len(ack["participants"]) for ack in acks) == 2


async def test_a_killed_nodes_users_leave_the_call_on_the_survivor(cluster):
    nodes = cluster()  # node TTL 1.5 s
    a, b = nodes.start_node(), nodes.start_node()
    org, room = uid("org"), uid("call")
    alice, joined = await in_call(a, org, room, "alice", name="Alice")
    bob, _ = await in_call(b, org, room, "bob", name="Bob")
    await alice.next("call:participant_joined")
    await say(bob, room, "said before the crash")
    # Node B releases the room's turn after its emits, a moment after the ack: a node
    # killed holding a turn would hold the room up to the lock's 10 s lease. Alice's
    # segment needs the turn, so once it is acked, node B holds nothing.
    await say(alice, room, "marker")

    b.kill()  # no disconnect reaches anyone: node A learns it from the expired heartbeat
    left = await alice.next("call:participant_left", timeout=10)
    assert {k: left[k] for k in ("roomName", "callId", "userId", "userName", "reason")} == {
        "roomName": room,
        "callId": joined["callId"],
        "userId": "bob",
        "userName": "Bob",
        "reason": "disconnected",
    }
    assert "stopped answering" in a.log()
    # Bob is no ghost: alice leaving ends the call, and the transcript kept his words.
    ack = await alice.call("call:leave", {"roomName": room})
    assert (ack["callId"], ack["callEnded"]) == (joined["callId"], True)
    status, body = await a.http(
        "GET", f"/api/v1/calls/{room}/transcript", token=a.token("reader", org)
    )
    assert [s["text"] for s in body["segments"]] == ["said before the crash", "marker"]
    assert body["endedAt"] is not None
    assert len(alice.received["call:participant_left"]) == 1

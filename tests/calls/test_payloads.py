"""Every server -> client payload of the reference's Call Events table, key for key, with
the keys contract section 7 adds, and the order a joiner hears them in."""

from __future__ import annotations

import asyncio

from tests.calls.support import CALL_ID, SEGMENT_ID, TIMESTAMP, in_call, say, uid

# websocket-events.md's keys, then contract section 7's, then this server's extras.
JOINED_KEYS = (
    {"roomName", "timestamp"}
    | {"callId", "participants", "transcript"}
    | {"startedAt", "transcriptHasMore"}
)
PERSON_KEYS = {"roomName", "userId", "userName", "timestamp"} | {"callId"}
LEFT_KEYS = PERSON_KEYS | {"reason"}
SEGMENT_KEYS = (
    {"speaker", "text", "isFinal", "timestamp", "confidence"}
    | {"roomName", "callId", "segmentId", "userId"}
    | {"userName", "startMs", "endMs"}
)


async def test_join_ack_and_call_joined(server):
    org, room = uid("org"), uid("call_standup")
    alice = await server.connect("alice", org, name="Alice")
    ack = await alice.call("call:join", {"roomName": room})
    assert set(ack) == {"ok", "roomName", "callId", "participants"}
    assert ack["ok"] is True and ack["roomName"] == room and CALL_ID.match(ack["callId"])
    (alice_entry,) = ack["participants"]
    assert set(alice_entry) == {"userId", "userName", "joinedAt"}
    assert alice_entry["userId"] == "alice" and alice_entry["userName"] == "Alice"
    assert TIMESTAMP.match(alice_entry["joinedAt"])

    joined = await alice.next("call:joined")
    assert set(joined) == JOINED_KEYS
    assert TIMESTAMP.match(joined["timestamp"]) and TIMESTAMP.match(joined["startedAt"])
    assert joined["startedAt"] == alice_entry["joinedAt"]  # the first participant started it
    assert {
        k: joined[k]
        for k in ("roomName", "callId", "participants", "transcript", "transcriptHasMore")
    } == {
        "roomName": room,
        "callId": ack["callId"],
        "participants": [alice_entry],
        "transcript": [],
        "transcriptHasMore": False,
    }

    bob = await server.connect("bob", org, name="Bob")
    bob_ack = await bob.call("call:join", {"roomName": room})
    assert bob_ack["callId"] == ack["callId"]
    assert [p["userId"] for p in bob_ack["participants"]] == ["alice", "bob"]
    assert bob_ack["participants"][0] == alice_entry  # joinedAt is when alice joined
    assert (await bob.next("call:joined"))["participants"] == bob_ack["participants"]

    seen = await alice.next("call:participant_joined")
    assert set(seen) == PERSON_KEYS and TIMESTAMP.match(seen["timestamp"])
    assert {k: seen[k] for k in ("roomName", "callId", "userId", "userName")} == {
        "roomName": room,
        "callId": ack["callId"],
        "userId": "bob",
        "userName": "Bob",
    }
    # The joiner is not told about itself, and nobody hears a second call:joined.
    await say(alice, room, "marker")
    await bob.next("transcription:segment")
    assert bob.received["call:participant_joined"] == []
    assert len(alice.received["call:joined"]) == 1


async def test_participant_left_for_a_leave_and_for_a_disconnect(server):
    org, room = uid("org"), uid("call")
    alice, joined = await in_call(server, org, room, "alice", name="Alice")
    bob, _ = await in_call(server, org, room, "bob", name="Bob")
    carol, _ = await in_call(server, org, room, "carol", name="Carol")
    await alice.next("call:participant_joined")
    await alice.next("call:participant_joined")

    ack = await bob.call("call:leave", {"roomName": room})
    assert ack == {
        "ok": True,
        "roomName": room,
        "callId": joined["callId"],
        "left": True,
        "callEnded": False,
    }
    left = await alice.next("call:participant_left")
    assert set(left) == LEFT_KEYS and TIMESTAMP.match(left["timestamp"])
    assert {k: left[k] for k in ("roomName", "callId", "userId", "userName", "reason")} == {
        "roomName": room,
        "callId": joined["callId"],
        "userId": "bob",
        "userName": "Bob",
        "reason": "left",
    }
    assert await carol.next("call:participant_left") == left

    await carol.close()
    gone = await alice.next("call:participant_left")
    assert set(gone) == LEFT_KEYS
    assert (gone["userId"], gone["userName"], gone["reason"], gone["callId"]) == (
        "carol",
        "Carol",
        "disconnected",
        joined["callId"],
    )
    # A leave of a call the socket is not in changes nothing.
    assert await bob.call("call:leave", {"roomName": room}) == {
        "ok": True,
        "roomName": room,
        "callId": None,
        "left": False,
        "callEnded": False,
    }
    await say(alice, room, "marker")
    await alice.next("transcription:segment")
    assert len(alice.received["call:participant_left"]) == 2


async def test_transcription_segment_to_everyone_sender_included(server):
    org, room = uid("org"), uid("call")
    alice, joined = await in_call(server, org, room, "alice", name="Alice")
    bob, _ = await in_call(server, org, room, "bob", name="Bob")
    ack = await say(
        alice, room, "Let us review the sprint backlog.", confidence=0.97, startMs=1200, endMs=3400
    )
    assert set(ack) == {"ok", "roomName", "callId", "segmentId", "isFinal", "sequence"}
    assert (ack["roomName"], ack["callId"], ack["isFinal"], ack["sequence"]) == (
        room,
        joined["callId"],
        True,
        1,
    )
    assert SEGMENT_ID.match(ack["segmentId"])  # the server made one
    for client in (alice, bob):
        segment = await client.next("transcription:segment")
        assert set(segment) == SEGMENT_KEYS and TIMESTAMP.match(segment["timestamp"])
        assert {k: v for k, v in segment.items() if k != "timestamp"} == {
            "speaker": "Matty",
            "text": "Let us review the sprint backlog.",
            "isFinal": True,
            "confidence": 0.97,
            "roomName": room,
            "callId": joined["callId"],
            "segmentId": ack["segmentId"],
            "userId": "alice",
            "userName": "Alice",
            "startMs": 1200,
            "endMs": 3400,
        }

    # Without confidence it is null; the client's segmentId is kept.
    interim = await say(bob, room, "so", final=False, segmentId="utt-1", speaker="Bob")
    assert (interim["segmentId"], interim["sequence"]) == ("utt-1", None)
    for client in (alice, bob):
        segment = await client.next("transcription:segment")
        assert (
            segment["confidence"],
            segment["segmentId"],
            segment["isFinal"],
            segment["userId"],
            segment["speaker"],
        ) == (None, "utt-1", False, "bob", "Bob")


async def test_the_ack_comes_first_then_call_joined(server):
    client = server.client()
    order: list[str] = []
    heard = asyncio.Event()

    @client.sio.on("*")
    async def record(name: str, *args) -> None:  # replaces the client's own recorder
        order.append(name)
        if name == "call:joined":
            heard.set()

    await client.connect(server.token("alice", uid("org")), wait=False)
    acked = asyncio.Event()

    def ack(*_: object) -> None:
        order.append("ack")
        acked.set()

    await client.sio.emit("call:join", {"roomName": uid("call")}, callback=ack)
    await asyncio.wait_for(acked.wait(), 5)
    await asyncio.wait_for(heard.wait(), 5)
    # (what the connect itself brings, `connected` and presence, is not part of this order)
    assert [e for e in order if e not in ("connected", "presence:update")] == ["ack", "call:joined"]

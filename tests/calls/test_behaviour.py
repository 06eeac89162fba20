"""Calls as users see them: one participant per user however many devices, a call from
its first participant to its last, organizations apart, interim segments replaced in
place, and a late joiner who gets what was said."""

from __future__ import annotations

from tests.calls.support import CALL_ID, expect_error, in_call, say, uid


async def test_a_second_device_neither_joins_nor_leaves_the_user(server):
    org, room = uid("org"), uid("call")
    bob, joined = await in_call(server, org, room, "bob", name="Bob")
    phone, _ = await in_call(server, org, room, "alice", name="Alice")
    assert (await bob.next("call:participant_joined"))["userId"] == "alice"

    laptop, laptop_joined = await in_call(server, org, room, "alice", name="Alice")
    # The laptop hears the call as a joiner does; the others hear nothing of it.
    assert laptop_joined["callId"] == joined["callId"]
    assert [p["userId"] for p in laptop_joined["participants"]] == ["bob", "alice"]
    await say(laptop, room, "marker 1")
    await bob.next("transcription:segment")
    assert len(bob.received["call:participant_joined"]) == 1
    # Both devices of the speaker hear the segment.
    assert (await phone.next("transcription:segment"))["text"] == "marker 1"
    # A socket joining again is answered again, and tells no one.
    assert (await phone.call("call:join", {"roomName": room}))["callId"] == joined["callId"]
    assert (await phone.next("call:joined"))["callId"] == joined["callId"]
    await say(bob, room, "marker 1b")
    await phone.next("transcription:segment")
    await bob.next("transcription:segment")
    assert len(bob.received["call:participant_joined"]) == 1
    assert len(laptop.received["call:joined"]) == 1

    assert (await phone.call("call:leave", {"roomName": room}))["left"] is True
    await say(laptop, room, "marker 2")
    assert (await bob.next("transcription:segment"))["text"] == "marker 2"
    assert bob.received["call:participant_left"] == []  # the laptop is still in
    await laptop.close()  # the last device goes
    left = await bob.next("call:participant_left")
    assert (left["userId"], left["reason"]) == ("alice", "disconnected")
    await say(bob, room, "marker 3")
    await bob.next("transcription:segment")
    assert len(bob.received["call:participant_left"]) == 1


async def test_a_call_ends_with_its_last_participant_and_the_next_join_starts_another(server):
    org, room = uid("org"), uid("call")
    alice, first = await in_call(server, org, room, "alice")
    bob, again = await in_call(server, org, room, "bob")
    assert again["callId"] == first["callId"]
    assert (await alice.call("call:leave", {"roomName": room}))["callEnded"] is False
    ack = await bob.call("call:leave", {"roomName": room})
    assert (ack["callId"], ack["left"], ack["callEnded"]) == (first["callId"], True, True)

    _, second = await in_call(server, org, room, "alice")
    assert CALL_ID.match(second["callId"]) and second["callId"] != first["callId"]
    assert second["transcript"] == [] and second["startedAt"] > first["startedAt"]
    # The first call is over, as its transcript says.
    status, body = await server.http(
        "GET",
        f"/api/v1/calls/{room}/transcript?callId={first['callId']}",
        token=server.token("reader", org),
    )
    assert status == 200 and body["endedAt"] is not None
    status, body = await server.http(
        "GET", f"/api/v1/calls/{room}/transcript", token=server.token("reader", org)
    )
    assert (body["callId"], body["endedAt"]) == (second["callId"], None)


async def test_organizations_never_hear_each_others_call_of_the_same_name(server):
    room = "call_engineering_standup"
    acme, globex = uid("acme"), uid("globex")
    alice, a_joined = await in_call(server, acme, room, "alice")
    bob, b_joined = await in_call(server, globex, room, "bob")
    # Two calls: each org's first participant is alone in its own.
    assert a_joined["callId"] != b_joined["callId"]
    assert [p["userId"] for p in b_joined["participants"]] == ["bob"]
    # Same user id in both organizations: still two people in two calls.
    carol, _ = await in_call(server, globex, room, "alice")
    assert (await bob.next("call:participant_joined"))["userId"] == "alice"

    await say(alice, room, "acme only")
    await say(bob, room, "globex only")
    assert (await alice.next("transcription:segment"))["text"] == "acme only"
    assert (await bob.next("transcription:segment"))["text"] == "globex only"
    assert (await carol.next("transcription:segment"))["text"] == "globex only"
    await bob.close()
    assert (await carol.next("call:participant_left"))["userId"] == "bob"
    await say(alice, room, "acme marker")
    assert (await alice.next("transcription:segment"))["text"] == "acme marker"
    assert alice.received["call:participant_joined"] == []
    assert alice.received["call:participant_left"] == []
    assert [s["text"] for s in alice.received["transcription:segment"]] == [
        "acme only",
        "acme marker",
    ]
    # Each org reads its own transcript of the name; a token cannot name the other's call.
    for org, texts in ((acme, ["acme only", "acme marker"]), (globex, ["globex only"])):
        status, body = await server.http(
            "GET", f"/api/v1/calls/{room}/transcript", token=server.token("reader", org)
        )
        assert status == 200 and [s["text"] for s in body["segments"]] == texts
    status, body = await server.http(
        "GET",
        f"/api/v1/calls/{room}/transcript?callId={b_joined['callId']}",
        token=server.token("reader", acme),
    )
    assert status == 404 and body["error"]["code"] == "NOT_FOUND"


async def test_interim_segments_are_replaced_by_their_final_one(server):
    org, room = uid("org"), uid("call")
    alice, _ = await in_call(server, org, room, "alice")
    bob, _ = await in_call(server, org, room, "bob")
    for text, final in (("let", False), ("let us", False), ("let us review", True)):
        await say(alice, room, text, final=final, segmentId="utt-7")
    await say(alice, room, "next", final=False, segmentId="utt-8")
    # Bob's view: one line per segmentId, replaced in place.
    lines: dict[str, str] = {}
    for _ in range(4):
        segment = await bob.next("transcription:segment")
        assert segment["segmentId"] in ("utt-7", "utt-8")
        lines[segment["segmentId"]] = segment["text"]
    assert lines == {"utt-7": "let us review", "utt-8": "next"}
    assert [s["isFinal"] for s in bob.received["transcription:segment"]] == [
        False,
        False,
        True,
        False,
    ]
    # A final utterance is closed: neither an interim nor a final may reuse its id.
    for final in (False, True):
        error = await expect_error(
            alice,
            "call:transcription",
            {
                "roomName": room,
                "segment": {
                    "speaker": "Matty",
                    "text": "again",
                    "isFinal": final,
                    "segmentId": "utt-7",
                },
            },
            "CONFLICT",
        )
        assert "utt-7" in error["message"]
    # Another user may use the same id for an utterance of its own.
    assert (await say(bob, room, "mine", segmentId="utt-7"))["sequence"] == 2
    status, body = await server.http(
        "GET", f"/api/v1/calls/{room}/transcript", token=server.token("reader", org)
    )
    assert [(s["segmentId"], s["userId"], s["text"]) for s in body["segments"]] == [
        ("utt-7", "alice", "let us review"),
        ("utt-7", "bob", "mine"),
    ]


async def test_a_late_joiner_gets_the_final_segments_so_far(server):
    org, room = uid("org"), uid("call")
    alice, _ = await in_call(server, org, room, "alice", name="Alice")
    said = []
    for i in range(3):
        said.append(
            await say(
                alice,
                room,
                f"final {i}",
                confidence=0.5 + i / 10,
                startMs=i * 1000,
                endMs=i * 1000 + 900,
            )
        )
        await say(alice, room, f"interim {i}", final=False)
    bob, joined = await in_call(server, org, room, "bob")
    assert joined["transcriptHasMore"] is False
    assert [s["text"] for s in joined["transcript"]] == ["final 0", "final 1", "final 2"]
    first = joined["transcript"][0]
    assert set(first) == {
        "sequence",
        "segmentId",
        "speaker",
        "text",
        "confidence",
        "startMs",
        "endMs",
        "userId",
        "timestamp",
    }
    assert (
        first["segmentId"],
        first["speaker"],
        first["confidence"],
        first["startMs"],
        first["endMs"],
        first["userId"],
    ) == (said[0]["segmentId"], "Matty", 0.5, 0, 900, "alice")
    assert [s["sequence"] for s in joined["transcript"]] == [1, 2, 3]
    # What alice heard live is what bob got stored (same timestamps too).
    finals = [s for s in alice.received["transcription:segment"] if s["isFinal"]]
    assert [s["timestamp"] for s in finals] == [s["timestamp"] for s in joined["transcript"]]
    # The same call's transcript over HTTP.
    status, body = await server.http(
        "GET", f"/api/v1/calls/{room}/transcript", token=server.token("reader", org)
    )
    assert status == 200 and body["segments"] == joined["transcript"]


async def test_a_late_joiner_gets_at_most_500_segments(start_server):
    busy = start_server(
        env={"LVNG_RATE_LIMIT_EVENTS": "1000", "LVNG_RATE_LIMIT_USER_EVENTS": "3000"}
    )
    org, room = uid("org"), uid("call")
    alice, _ = await in_call(busy, org, room, "alice")
    for i in range(502):
        await say(alice, room, f"s{i}")
    _, joined = await in_call(busy, org, room, "bob")
    assert len(joined["transcript"]) == 500 and joined["transcriptHasMore"] is True
    assert [s["text"] for s in joined["transcript"]] == [f"s{i}" for i in range(2, 502)]
    status, body = await busy.http(
        "GET", f"/api/v1/calls/{room}/transcript", token=busy.token("reader", org)
    )
    assert status == 200 and len(body["segments"]) == 500 and body["hasMore"] is True
    assert [s["sequence"] for s in body["segments"]] == list(range(1, 501))
    status, rest = await busy.http(
        "GET", f"/api/v1/calls/{room}/transcript?after=500", token=busy.token("reader", org)
    )
    assert [s["text"] for s in rest["segments"]] == ["s500", "s501"] and rest["hasMore"] is False


async def test_a_second_device_that_disconnects_leaves_the_user_in_the_call(server):
    """Only the user's last socket leaving takes the user out of the call: a disconnect of
    one of two devices is told to no one and leaves the participant row as it was."""
    org, room = uid("org"), uid("call")
    bob, _ = await in_call(server, org, room, "bob", name="Bob")
    phone, _ = await in_call(server, org, room, "alice", name="Alice")
    assert (await bob.next("call:participant_joined"))["userId"] == "alice"
    laptop, laptop_joined = await in_call(server, org, room, "alice", name="Alice")
    await phone.close()  # a disconnect, not call:leave
    # The probe plugin's word that the phone's socket is leaving the call room: the core
    # holds the room's turn while the plugins hear of it, so a segment said after this
    # reaches bob after anything the calls plugin sent for that leave.
    while (gone := await bob.next("probe:gone"))["room"] != f"call:{room}":
        pass
    assert (gone["userId"], gone["last"], gone["reason"]) == ("alice", False, "disconnected")
    await say(laptop, room, "marker")
    assert (await bob.next("transcription:segment"))["text"] == "marker"
    assert bob.received["call:participant_left"] == []
    # Her participant row is untouched: a late joiner sees her as the laptop did (a row
    # marked left would show the call's start as her joinedAt).
    _, carol_joined = await in_call(server, org, room, "carol", name="Carol")
    assert carol_joined["participants"][:2] == laptop_joined["participants"]
    await laptop.close()  # her last device: now she leaves
    left = await bob.next("call:participant_left")
    assert (left["userId"], left["reason"]) == ("alice", "disconnected")
    assert len(bob.received["call:participant_left"]) == 1

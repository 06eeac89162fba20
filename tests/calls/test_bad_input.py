"""Bad input gets the contract's error code, is relayed to no one, stores nothing, and
leaves the socket working."""

from __future__ import annotations

import pytest

from tests.calls.support import expect_error, in_call, say, uid

GOOD = {"speaker": "Matty", "text": "fine", "isFinal": True}


@pytest.fixture
async def call(server):
    org, room = uid("org"), uid("call")
    alice, _ = await in_call(server, org, room, "alice")
    bob, _ = await in_call(server, org, room, "bob")
    return server, org, room, alice, bob


async def stored(server, org, room):
    status, body = await server.http(
        "GET", f"/api/v1/calls/{room}/transcript", token=server.token("reader", org)
    )
    assert status == 200, body
    return [s["text"] for s in body["segments"]]


@pytest.mark.parametrize(
    "segment, code",
    [
        ({**GOOD, "confidence": -0.01}, "VALIDATION_ERROR"),
        ({**GOOD, "confidence": 1.01}, "VALIDATION_ERROR"),
        ({**GOOD, "confidence": "0.5"}, "VALIDATION_ERROR"),
        ({**GOOD, "confidence": True}, "VALIDATION_ERROR"),
        ({**GOOD, "text": "x" * 10_001}, "VALIDATION_ERROR"),
        ({**GOOD, "text": "   "}, "VALIDATION_ERROR"),
        ({**GOOD, "text": 42}, "VALIDATION_ERROR"),
        ({"text": "no speaker", "isFinal": True}, "VALIDATION_ERROR"),
        ({"speaker": "Matty", "isFinal": True}, "VALIDATION_ERROR"),
        ({"speaker": "Matty", "text": "no isFinal"}, "VALIDATION_ERROR"),
        ({**GOOD, "isFinal": "yes"}, "VALIDATION_ERROR"),
        ({**GOOD, "speaker": "x" * 129}, "VALIDATION_ERROR"),
        ({**GOOD, "segmentId": "bad id!"}, "VALIDATION_ERROR"),
        ({**GOOD, "startMs": -1}, "VALIDATION_ERROR"),
        ({**GOOD, "startMs": 2000, "endMs": 1000}, "VALIDATION_ERROR"),
        ({**GOOD, "startMs": 1.5}, "VALIDATION_ERROR"),
        (None, "VALIDATION_ERROR"),
        ("fine", "VALIDATION_ERROR"),
        ("MISSING", "VALIDATION_ERROR"),
    ],
)
async def test_bad_segments_are_refused(call, segment, code):
    server, org, room, alice, bob = call
    payload = {"roomName": room} if segment == "MISSING" else {"roomName": room, "segment": segment}
    await expect_error(alice, "call:transcription", payload, code)
    # The socket still works; the bad segment reached no one (the marker comes first).
    await say(alice, room, "marker")
    assert [s["text"] for s in [await bob.next("transcription:segment")]] == ["marker"]
    assert await stored(server, org, room) == ["marker"]


async def test_limits_are_inclusive(call):
    server, org, room, alice, bob = call
    await say(alice, room, "y" * 10_000, confidence=0, speaker="s" * 128)
    await say(alice, room, "z", confidence=1, startMs=5, endMs=5)
    assert [
        len(s["text"])
        for s in [await bob.next("transcription:segment"), await bob.next("transcription:segment")]
    ] == [10_000, 1]


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"roomName": ""},
        {"roomName": "bad/name"},
        {"roomName": "x" * 129},
        {"roomName": 7},
        {"roomName": None},
    ],
)
async def test_bad_room_names(server, payload):
    client = await server.connect("alice", uid("org"))
    for event in ("call:join", "call:leave", "call:transcription"):
        await expect_error(client, event, {**payload, "segment": GOOD}, "VALIDATION_ERROR")
    assert client.sio.connected and client.received["call:joined"] == []


async def test_transcription_needs_the_sender_in_the_call(call):
    server, org, room, alice, bob = call
    outsider = await server.connect("carol", org)
    payload = {"roomName": room, "segment": GOOD}
    await expect_error(outsider, "call:transcription", payload, "NOT_IN_ROOM")
    # The same roomName in another organization is another call, which carol is in.
    stranger, _ = await in_call(server, uid("org"), room, "dave")
    await say(stranger, room, "elsewhere")
    # Having left, alice may not speak in it either.
    assert (await alice.call("call:leave", {"roomName": room}))["left"] is True
    await expect_error(alice, "call:transcription", payload, "NOT_IN_ROOM")
    await say(bob, room, "marker")
    assert (await bob.next("transcription:segment"))["text"] == "marker"
    assert bob.unread("transcription:segment") == []
    assert await stored(server, org, room) == ["marker"]
    assert outsider.sio.connected and alice.sio.connected

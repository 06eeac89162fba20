"""`lvng_calls_…` metrics, and the domain events the calls plugin publishes."""

from __future__ import annotations

import pytest

from tests.calls.support import in_call, say, uid
from tests.live import PROBE_PLUGIN

RECORDER = "recorder=tests.support.recorder_plugin"


@pytest.fixture(scope="module")
def own_server(start_server):
    """A server of this module alone (gauges count the whole server), with the recorder
    plugin, which tells the acting user's devices every domain event."""
    return start_server(env={"LVNG_PLUGIN_MODULES": f"{PROBE_PLUGIN},{RECORDER}"})


async def test_metrics(own_server):
    live = own_server
    before = {
        finality: await live.metric("lvng_calls_segments_total", finality=finality)
        for finality in ("final", "interim")
    }
    started = await live.metric("lvng_calls_started_total")
    org = uid("org")
    alice, _ = await in_call(live, org, "one", "alice")
    await in_call(live, org, "one", "alice")  # a second device: still one participant
    bob, _ = await in_call(live, org, "one", "bob")
    carol, _ = await in_call(live, org, "two", "carol")
    assert await live.metric("lvng_calls_active") == 2
    assert await live.metric("lvng_calls_participants") == 3
    assert await live.metric("lvng_calls_started_total") == started + 2
    await say(alice, "one", "a", final=False)
    await say(alice, "one", "b")
    await say(bob, "one", "c")
    assert await live.metric("lvng_calls_segments_total", finality="final") == before["final"] + 2
    assert (
        await live.metric("lvng_calls_segments_total", finality="interim") == before["interim"] + 1
    )
    ended = await live.metric("lvng_calls_ended_total")
    assert (await carol.call("call:leave", {"roomName": "two"}))["callEnded"] is True
    assert await live.metric("lvng_calls_ended_total") == ended + 1
    assert await live.metric("lvng_calls_active") == 1
    assert await live.metric("lvng_calls_participants") == 2


def data_of(received: dict, name: str) -> dict:
    assert received["name"] == name and received["source"] == "calls", received
    return received["data"]


async def test_domain_events(own_server):
    live = own_server
    org, room = uid("org"), uid("call")
    alice, joined = await in_call(live, org, room, "alice", name="Alice")
    call = {"roomName": room, "callId": joined["callId"]}
    alice_is = {"userId": "alice", "userName": "Alice"}
    assert data_of(await alice.next("recorder:event"), "call.started") == {**call, **alice_is}
    assert data_of(await alice.next("recorder:event"), "call.participant_joined") == {
        **call,
        **alice_is,
    }
    ack = await say(alice, room, "hello", confidence=0.5)
    stored = data_of(await alice.next("recorder:event"), "call.transcript_segment")
    segment = await alice.next("transcription:segment")
    assert stored == {
        **call,
        **alice_is,
        "sequence": 1,
        "segment": {
            "sequence": 1,
            "segmentId": ack["segmentId"],
            "speaker": "Matty",
            "text": "hello",
            "confidence": 0.5,
            "startMs": None,
            "endMs": None,
            "userId": "alice",
            "timestamp": segment["timestamp"],
        },
    }
    await say(alice, room, "interim", final=False)  # not stored: no event
    await alice.call("call:leave", {"roomName": room})
    assert data_of(await alice.next("recorder:event"), "call.participant_left") == {
        **call,
        **alice_is,
        "reason": "left",
    }
    ended = data_of(await alice.next("recorder:event"), "call.ended")
    assert ended == {
        **call,
        **alice_is,
        "startedAt": joined["startedAt"],
        "endedAt": ended["endedAt"],
        "segments": 1,
    }
    assert ended["endedAt"] >= segment["timestamp"]
    await alice.nothing("recorder:event", within=0.1)

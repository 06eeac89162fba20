"""The stored transcript: exactly the final segments, in the order received, as JSON or
WebVTT (parsed here), surviving a restart; and who may read it."""

from __future__ import annotations

from tests.calls.support import CALL_ID, expect_error, in_call, parse_vtt, say, uid
from tests.live import LiveServer


async def read(server: LiveServer, org: str, room: str, query: str = "") -> dict:
    status, body = await server.http(
        "GET", f"/api/v1/calls/{room}/transcript{query}", token=server.token("reader", org)
    )
    assert status == 200, body
    return body


async def vtt(server: LiveServer, org: str, room: str, query: str = "") -> str:
    import aiohttp

    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{server.url}/api/v1/calls/{room}/transcript?format=vtt{query}",
            headers={"Authorization": f"Bearer {server.token('reader', org)}"},
        ) as resp,
    ):
        assert resp.status == 200
        assert resp.headers["Content-Type"].split(";")[0] == "text/vtt"
        return await resp.text()


async def speak(server: LiveServer, org: str, room: str) -> tuple[str, list[tuple[str, str]], list]:
    """Alice and Bob talk, finals and interims mixed; the call id, the finals sent and
    the two clients."""
    alice, joined = await in_call(server, org, room, "alice", name="Alice")
    bob, _ = await in_call(server, org, room, "bob", name="Bob")
    finals = []
    for i in range(6):
        who, name = (alice, "Matty") if i % 2 == 0 else (bob, "Robert")
        await say(who, room, f"{name} thinks {i}", final=False, speaker=name, segmentId=f"u{i}")
        await say(who, room, f"{name} says {i}", speaker=name, segmentId=f"u{i}")
        finals.append((name, f"{name} says {i}"))
    return joined["callId"], finals, [alice, bob]


async def test_json_holds_exactly_the_final_segments_in_order(server):
    org, room = uid("org"), uid("call")
    call_id, finals, clients = await speak(server, org, room)
    body = await read(server, org, room)
    assert set(body) == {"roomName", "callId", "startedAt", "endedAt", "segments", "hasMore"}
    assert body["hasMore"] is False
    assert [s["sequence"] for s in body["segments"]] == [1, 2, 3, 4, 5, 6]
    assert (body["roomName"], body["callId"], body["endedAt"]) == (room, call_id, None)
    assert [(s["speaker"], s["text"]) for s in body["segments"]] == finals
    assert [s["segmentId"] for s in body["segments"]] == [f"u{i}" for i in range(6)]
    assert [s["userId"] for s in body["segments"]] == ["alice", "bob"] * 3
    stamps = [s["timestamp"] for s in body["segments"]]
    assert stamps == sorted(stamps) and stamps[0] >= body["startedAt"]
    assert await read(server, org, room, f"?callId={call_id}") == body
    acks = [await c.call("call:leave", {"roomName": room}) for c in clients]
    assert [a["callEnded"] for a in acks] == [False, True]
    ended = await read(server, org, room)
    assert ended["endedAt"] is not None and ended["endedAt"] >= stamps[-1]
    assert ended["segments"] == body["segments"]


async def test_webvtt_with_voice_tags(server):
    org, room = uid("org"), uid("call")
    alice, joined = await in_call(server, org, room, "alice")
    await say(
        alice,
        room,
        "Let us review the sprint backlog.",
        speaker="Matty",
        startMs=1_000,
        endMs=3_500,
    )
    await say(
        alice,
        room,
        "Fine <b>& good</b>\n\n--> next",
        speaker="Rob <ops>",
        startMs=65_250,
        endMs=3_726_004,
    )
    await say(alice, room, "no times given", speaker="Matty")
    await say(alice, room, "dropped", final=False, speaker="Matty")
    body = await vtt(server, org, room)
    assert body.startswith("WEBVTT\n")
    assert f"callId {joined['callId']}" in body
    assert "<v Matty>Let us review the sprint backlog." in body
    cues = parse_vtt(body)
    assert [(c["speaker"], c["text"]) for c in cues] == [
        ("Matty", "Let us review the sprint backlog."),
        ("Rob <ops>", "Fine <b>& good</b>\n--> next"),
        ("Matty", "no times given"),
    ]
    assert [(c["start"], c["end"]) for c in cues[:2]] == [(1_000, 3_500), (65_250, 3_726_004)]
    assert "01:02:06.004" in body  # hours, minutes, seconds, milliseconds
    assert len({c["id"] for c in cues}) == 3
    # Without times, a cue ends when the segment arrived (offset from the call's start).
    assert cues[2]["end"] > cues[2]["start"] >= 0


async def test_an_older_call_by_id_and_what_is_not_found(server):
    org, room = uid("org"), uid("call")
    alice, first = await in_call(server, org, room, "alice")
    await say(alice, room, "first call")
    await alice.call("call:leave", {"roomName": room})
    alice2, second = await in_call(server, org, room, "alice")
    await say(alice2, room, "second call")
    assert [s["text"] for s in (await read(server, org, room))["segments"]] == ["second call"]
    older = await read(server, org, room, f"?callId={first['callId']}")
    assert [s["text"] for s in older["segments"]] == ["first call"]
    assert older["endedAt"] is not None
    assert "first call" in await vtt(server, org, room, f"&callId={first['callId']}")

    reader = server.token("reader", org)
    for path, status, code in [
        (f"/api/v1/calls/{uid('none')}/transcript", 404, "NOT_FOUND"),
        (f"/api/v1/calls/{uid('none')}/transcript?callId={first['callId']}", 404, "NOT_FOUND"),
        (f"/api/v1/calls/{room}/transcript?callId=call_unknown", 404, "NOT_FOUND"),
        (f"/api/v1/calls/{room}/transcript?format=pdf", 400, "VALIDATION_ERROR"),
        (f"/api/v1/calls/{room}/transcript?callId=bad!id", 400, "VALIDATION_ERROR"),
    ]:
        got, body = await server.http("GET", path, token=reader)
        assert (got, body["error"]["code"]) == (status, code), (path, body)
    got, body = await server.http("GET", f"/api/v1/calls/{room}/transcript")
    assert (got, body["error"]["code"]) == (401, "AUTH_REQUIRED")
    # Another organization has no call of that name.
    got, body = await server.http(
        "GET", f"/api/v1/calls/{room}/transcript", token=server.token("reader", uid("org"))
    )
    assert (got, body["error"]["code"]) == (404, "NOT_FOUND")
    assert CALL_ID.match(second["callId"])


async def test_the_transcript_survives_a_kill_and_a_restart(start_server):
    live = start_server()
    org, room = uid("org"), uid("call")
    call_id, finals, _ = await speak(live, org, room)
    before = await read(live, org, room)
    live.kill()  # acked finals must be on disk already
    live.start()
    after = await read(live, org, room)
    assert after["segments"] == before["segments"]
    assert [(s["speaker"], s["text"]) for s in after["segments"]] == finals
    # No one is in that call any more: the restart ended it, at its last activity.
    assert after["callId"] == call_id
    assert after["endedAt"] == before["segments"][-1]["timestamp"]
    # The next join starts a new call; the old transcript stays as it was.
    carol, joined = await in_call(live, org, room, "carol")
    assert joined["callId"] != call_id and joined["transcript"] == []
    await say(carol, room, "new call")
    live.restart()  # an orderly stop ends the call with its last participant
    old = await read(live, org, room, f"?callId={call_id}")
    assert old == after
    new = await read(live, org, room)
    assert (new["callId"], [s["text"] for s in new["segments"]]) == (joined["callId"], ["new call"])
    assert new["endedAt"] is not None
    client = await live.connect("dave", org)
    await expect_error(
        client,
        "call:transcription",
        {"roomName": room, "segment": {"speaker": "x", "text": "y", "isFinal": True}},
        "NOT_IN_ROOM",
    )


async def test_migrations_match_the_models():
    """`tortoise makemigrations` would write nothing: the models are all migrated."""
    from tortoise.context import TortoiseContext
    from tortoise.migrations.autodetector import MigrationAutodetector

    from core.database import tortoise_config

    config = tortoise_config("sqlite://:memory:", {"calls": ["plugins.calls.models"]})
    assert config["apps"]["calls"]["migrations"] == "plugins.calls.migrations"
    async with TortoiseContext() as ctx:
        await ctx.init(config=config)
        writers = await MigrationAutodetector(ctx.apps, config["apps"]).changes()
    assert writers == [], [w.name for w in writers]

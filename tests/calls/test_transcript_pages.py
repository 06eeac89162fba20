"""Issue 21, finding 2: one member could make a call impossible to join. A late joiner's
`call:joined` carried up to 500 final segments of up to 10,000 characters each (about
10 MB after 250 segments of emoji), and the server dropped the joiner as a slow consumer
on every retry; `GET .../transcript` was unpaged (4.8 MB at 120 segments). Now every
transcript is pages under the 1 MB page budget, `call:transcript` and the HTTP route's
cursors read the rest, and WebVTT streams the whole file."""

from __future__ import annotations

import json

import aiohttp
import pytest

from tests.calls.support import expect_error, in_call, parse_vtt, say, uid
from tests.live import Client, LiveServer

PAGE_BUDGET = 1_000_000  # core/pages.py
SEGMENTS = 60
LONG = "😀" * 10_000  # the longest text a segment may have: 40 KB of UTF-8


def size(value: object) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


@pytest.fixture(scope="module")
def busy(start_server) -> LiveServer:
    return start_server(
        env={"LVNG_RATE_LIMIT_EVENTS": "1000", "LVNG_RATE_LIMIT_USER_EVENTS": "3000"}
    )


@pytest.fixture(scope="module")
async def long_call(busy):
    """A call whose transcript is 60 segments of 40 KB (2.4 MB): its org, room and the
    texts said, in order. Its client stays in the call for the whole module, whatever
    the order of the tests (it is not one of `busy.clients`, which are closed after each
    test: the call would end with it, and the next joiner would start an empty one)."""
    org, room = uid("org"), uid("call")
    alice = Client(busy.url)
    await alice.connect(busy.token("alice", org))
    ack = await alice.call("call:join", {"roomName": room})
    assert ack["ok"] is True, ack
    await alice.next("call:joined")
    said = [f"{i:03d}{LONG[3:]}" for i in range(SEGMENTS)]
    for text in said:
        await say(alice, room, text)
    yield org, room, said, alice
    await alice.close()


async def test_a_late_joiner_gets_a_page_and_reads_the_rest(busy, long_call):
    org, room, said, _ = long_call
    bob, joined = await in_call(busy, org, room, "bob")  # not dropped as a slow consumer
    assert size(joined) < PAGE_BUDGET
    assert joined["transcriptHasMore"] is True
    page = joined["transcript"]
    assert 10 < len(page) < SEGMENTS
    assert [s["sequence"] for s in page] == list(range(SEGMENTS - len(page) + 1, SEGMENTS + 1))
    got = page
    while True:
        ack = await bob.call(
            "call:transcript", {"roomName": room, "before": got[0]["sequence"], "limit": 500}
        )
        assert ack["ok"] is True and ack["callId"] == joined["callId"]
        assert size(ack) < PAGE_BUDGET + 100
        got = ack["segments"] + got
        if not ack["hasMore"]:
            break
        assert ack["segments"]
    assert [s["text"] for s in got] == said
    assert [s["sequence"] for s in got] == list(range(1, SEGMENTS + 1))
    # Without a cursor: the newest page, as call:joined had it.
    newest = await bob.call("call:transcript", {"roomName": room})
    assert newest["segments"] == page and newest["hasMore"] is True
    # Forward from a sequence.
    forward = await bob.call("call:transcript", {"roomName": room, "after": 58})
    assert [s["sequence"] for s in forward["segments"]] == [59, 60]
    assert forward["hasMore"] is False


async def test_the_http_transcript_pages_from_the_start(busy, long_call):
    org, room, said, _ = long_call
    token = busy.token("reader", org)
    got: list[dict] = []
    cursor = ""
    while True:
        status, body = await busy.http(
            "GET", f"/api/v1/calls/{room}/transcript{cursor}", token=token
        )
        assert status == 200, body
        assert size(body) < PAGE_BUDGET + 100
        got += body["segments"]
        if not body["hasMore"]:
            break
        cursor = f"?after={body['segments'][-1]['sequence']}"
    assert [s["text"] for s in got] == said
    status, body = await busy.http(
        "GET", f"/api/v1/calls/{room}/transcript?before=3&limit=1", token=token
    )
    assert [s["sequence"] for s in body["segments"]] == [2] and body["hasMore"] is True


async def test_webvtt_is_the_whole_transcript_streamed(busy, long_call):
    org, room, said, _ = long_call
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{busy.url}/api/v1/calls/{room}/transcript?format=vtt",
            headers={"Authorization": f"Bearer {busy.token('reader', org)}"},
        ) as resp,
    ):
        assert resp.status == 200
        assert resp.headers["Content-Type"].split(";")[0] == "text/vtt"
        body = await resp.text()
    assert len(body.encode()) > 2 * PAGE_BUDGET
    cues = parse_vtt(body)
    assert [c["text"] for c in cues] == said
    assert [c["id"] for c in cues] == [str(i) for i in range(1, SEGMENTS + 1)]
    status, error = await busy.http(
        "GET",
        f"/api/v1/calls/{room}/transcript?format=vtt&after=3",
        token=busy.token("reader", org),
    )
    assert (status, error["error"]["code"]) == (400, "VALIDATION_ERROR")


async def test_cursors_are_bounded_and_one_at_a_time(busy, long_call):
    org, room, _, _ = long_call
    alice = await busy.connect("alice", org)
    for data in (
        {"roomName": room, "before": 2, "after": 1},
        {"roomName": room, "after": 2**31},
        {"roomName": room, "before": -1},
        {"roomName": room, "limit": 501},
    ):
        await expect_error(alice, "call:transcript", data, "VALIDATION_ERROR")
    other = await busy.connect("eve", uid("org"))
    await expect_error(other, "call:transcript", {"roomName": room}, "NOT_FOUND")

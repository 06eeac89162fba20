"""Issue 21: the third attack run's findings, each sent as the attacker sent it (the
standard client, HTTP, or raw Engine.IO / Socket.IO packets), with the contract's answer
and nothing a client sends ever leaving a traceback in the log.

See docs/security.md for the threat model.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import pytest

from core.transport.eio_input import WARN_INTERVAL
from tests.live import LiveServer
from tests.messages.support import uid
from tests.raw import RawSocket

BIG = 10**20  # an integer beyond 64 bits (as JSON.stringify writes 1e20)


@pytest.fixture
def log_of():
    """`log_of(live)`: what `live` logged since the test began."""
    start = {id(live): len(live.log()) for live in LiveServer.instances}

    def since(live: LiveServer) -> str:
        return live.log()[start.get(id(live), 0) :]

    return since


@pytest.fixture
async def raws():
    opened: list[RawSocket] = []

    async def open_raw(live: LiveServer, sub: str, org: str = "acme", **claims: Any) -> RawSocket:
        raw = RawSocket(live.url)
        opened.append(raw)
        return await raw.open(live.token(sub, org, **claims))

    yield open_raw
    for raw in opened:
        await raw.close()


def refusal(code: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": {"code": code, "message": message}}


# --- 3. integers beyond 64 bits --------------------------------------------------------

TOO_BIG = "integers must fit in 64 bits (-2**63 to 2**63-1)"


@pytest.mark.parametrize("number", [BIG, 2**63, -(2**63) - 1])
async def test_integers_beyond_64_bits_are_refused_on_sockets_and_http(server, log_of, number):
    org, channel = uid("org"), uid("big")
    alice = await server.connect("alice", org)
    await alice.call("channel:join", {"channelId": channel})
    ack = await alice.call(
        "message:send", {"channelId": channel, "content": "hi", "metadata": {"n": number}}
    )
    assert ack == refusal("VALIDATION_ERROR", f"metadata.n: {TOO_BIG}")
    assert (await alice.next("error"))["code"] == "VALIDATION_ERROR"
    status, body = await server.http(
        "POST",
        f"/api/v1/channels/{channel}/messages",
        token=server.token("alice", org),
        json={"content": "hi", "metadata": {"deep": [1, {"n": number}]}},
    )
    assert (status, body) == (
        400,
        {"error": {"code": "VALIDATION_ERROR", "message": f"metadata.deep.1.n: {TOO_BIG}"}},
    )
    customer = uid("cust")
    service = server.token("agent", org, roles=["service"], customers=[customer])
    status, body = await server.http(
        "POST",
        f"/api/v1/swarm/sessions/{uid('s')}/events",
        token=service,
        json={"type": "session.started", "agent": "a", "data": {"n": number}},
    )
    assert (status, body["error"]) == (
        400,
        {"code": "VALIDATION_ERROR", "message": f"data.n: {TOO_BIG}"},
    )
    status, body = await server.http(
        "POST",
        f"/api/v1/swarm/sessions/{uid('s')}/events",
        token=service,
        json={"type": "session.started", "agent": "a", "output": [number]},
    )
    assert (status, body["error"]["message"]) == (400, f"output.0: {TOO_BIG}")
    status, body = await server.http(
        "POST",
        f"/api/v1/customers/{customer}/activity",
        token=service,
        json={"type": "note.added", "summary": "s", "data": {"n": number}},
    )
    assert (status, body["error"]["message"]) == (400, f"data.n: {TOO_BIG}")
    # Nothing was stored; the edges of 64 bits still go through.
    status, page = await server.http(
        "GET", f"/api/v1/channels/{channel}/messages", token=server.token("alice", org)
    )
    assert (status, page["messages"]) == (200, [])
    ack = await alice.call(
        "message:send",
        {"channelId": channel, "content": "edges", "metadata": {"a": 2**63 - 1, "b": -(2**63)}},
    )
    assert ack["ok"] is True
    assert (await alice.next("message:new"))["metadata"] == {"a": 2**63 - 1, "b": -(2**63)}
    log = log_of(server)
    assert "Traceback" not in log and "handler failed" not in log, log[-3000:]


async def test_a_big_integer_in_a_raw_packet_is_refused_with_its_ack(server, raws):
    raw = await raws(server, "big-raw")
    ack, error = await raw.call_raw(1, json.dumps(["probe:echo", {"text": "x", "n": BIG}]))
    assert ack == refusal("VALIDATION_ERROR", f"n: {TOO_BIG}")
    assert error["event"] == "probe:echo"


# --- 6. integers that reach the database have upper bounds -----------------------------


async def test_an_after_seq_beyond_64_bits_is_refused_not_a_crash(server, log_of):
    org, session = uid("org"), uid("sess")
    agent = server.token("agent", org, roles=["service"])
    status, _ = await server.http(
        "POST",
        f"/api/v1/swarm/sessions/{session}/events",
        token=agent,
        json={"type": "session.started", "agent": "a"},
    )
    assert status == 201
    watcher = await server.connect("watcher", org)
    # On a socket the payload check refuses it first (finding 3); a query string is text,
    # which only the schema's bound stops.
    ack = await watcher.call("swarm:subscribe", {"sessionId": session, "afterSeq": 2**63})
    assert ack == refusal("VALIDATION_ERROR", f"afterSeq: {TOO_BIG}")
    status, body = await server.http(
        "GET", f"/api/v1/swarm/sessions/{session}?afterSeq={2**63}", token=agent
    )
    assert (status, body) == (
        400,
        {
            "error": {
                "code": "VALIDATION_ERROR",
                "message": "afterSeq: Input should be less than or equal to 9223372036854775807",
            }
        },
    )
    # The largest one is a valid cursor past everything.
    ack = await watcher.call("swarm:subscribe", {"sessionId": session, "afterSeq": 2**63 - 1})
    assert ack["ok"] is True
    state = await watcher.next("swarm:state")
    assert (state["updates"], state["hasMore"]) == ([], False)
    status, body = await server.http(
        "GET", f"/api/v1/swarm/sessions/{session}?afterSeq={2**63 - 1}", token=agent
    )
    assert (status, body["updates"], body["hasMore"]) == (200, [], False)
    log = log_of(server)
    assert "Traceback" not in log and "handler failed" not in log, log[-3000:]


# --- 1. polling bursts, 7. malformed Engine.IO packets -----------------------------------


class RawPolling:
    """An Engine.IO v4 polling session by hand: the handshake, POSTs of any body, and the
    packets the server's GETs return."""

    def __init__(self, url: str) -> None:
        self.url = url + "/socket.io/?EIO=4&transport=polling"
        self.sid = ""
        self.session: aiohttp.ClientSession | None = None
        self.packets: list[str] = []  # Socket.IO packets received, unread

    async def open(self, token: str) -> RawPolling:
        self.session = aiohttp.ClientSession()
        async with self.session.get(self.url) as answer:
            opening = await answer.text()
        assert opening.startswith("0{"), opening
        self.sid = json.loads(opening[1:])["sid"]
        assert await self.post("40" + json.dumps({"token": token})) == 200
        await self.next(lambda p: p.startswith("0{"))
        await self.next(lambda p: p.startswith('2["connected"'))
        return self

    async def post(self, body: str | bytes) -> int:
        assert self.session is not None
        async with self.session.post(f"{self.url}&sid={self.sid}", data=body) as answer:
            return answer.status

    async def get(self) -> tuple[int, str]:
        assert self.session is not None
        async with self.session.get(f"{self.url}&sid={self.sid}") as answer:
            return answer.status, await answer.text()

    async def next(self, predicate: Any, timeout: float = 5.0) -> str:
        async with asyncio.timeout(timeout):
            while True:
                for index, pkt in enumerate(self.packets):
                    if predicate(pkt):
                        return self.packets.pop(index)
                status, body = await self.get()
                assert status == 200, (status, body)
                for part in body.split("\x1e"):
                    if part == "2":
                        assert await self.post("3") == 200  # pong
                    elif part.startswith("4"):
                        self.packets.append(part[1:])

    async def ack(self, ack_id: int) -> Any:
        pkt = await self.next(lambda p: p.startswith(f"3{ack_id}["))
        return json.loads(pkt[1 + len(str(ack_id)) :])[0]

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()


@pytest.fixture
async def pollers():
    opened: list[RawPolling] = []

    async def open_polling(live: LiveServer, sub: str, org: str = "acme") -> RawPolling:
        raw = RawPolling(live.url)
        opened.append(raw)
        return await raw.open(live.token(sub, org))

    yield open_polling
    for raw in opened:
        await raw.close()


async def test_one_polling_post_of_many_events_is_handled_whole(server, pollers, log_of):
    """python-engineio took at most 16 packets a POST: 40 events in one POST (as
    socket.io-client sends a burst) gave no ack at all, `200 ok` and a traceback."""
    org, channel = uid("org"), uid("burst")
    raw = await pollers(server, "burster", org)
    assert await raw.post(f'421["channel:join",{{"channelId":"{channel}"}}]') == 200
    assert (await raw.ack(1))["ok"] is True
    events = [
        "4"
        + f"2{10 + i}"
        + json.dumps(["message:send", {"channelId": channel, "content": f"m{i}"}])
        for i in range(40)
    ]
    assert await raw.post("\x1e".join(events)) == 200
    acks = [await raw.ack(10 + i) for i in range(40)]
    assert [ack["ok"] for ack in acks] == [True] * 40
    status, page = await server.http(
        "GET", f"/api/v1/channels/{channel}/messages?limit=100", token=server.token("x", org)
    )
    assert [m["content"] for m in page["messages"]] == [f"m{i}" for i in range(40)]
    assert "Traceback" not in log_of(server)


async def test_packets_after_a_close_in_one_post_are_refused_not_dropped(server, pollers):
    raw = await pollers(server, "closer")
    # A CLOSE, then an event: the session ends, and the POST says the event was not taken.
    assert await raw.post('1\x1e421["probe:echo",{"text":"late"}]') == 400
    assert (await raw.get())[0] == 400  # the session is gone
    raw = await pollers(server, "closer")
    assert await raw.post("1") == 200  # a plain goodbye is fine


@pytest.fixture(scope="module")
def quiet(start_server) -> LiveServer:
    """A server of this module's own: the malformed-packet warning is throttled for the
    whole process, so its first one must be this test's."""
    return start_server()


MALFORMED_FRAMES: list[str | bytes] = ["", "9hello", "x", "7", "bnot base64!", "4" + "[" * 5000]


async def test_malformed_engineio_packets_close_the_session_with_one_warning(quiet, log_of):
    ws_url = quiet.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    started = time.monotonic()
    async with aiohttp.ClientSession() as session:
        for _ in range(10):
            for frame in MALFORMED_FRAMES:
                ws = await session.ws_connect(ws_url)
                assert (await ws.receive_str(timeout=5)).startswith("0{")
                await ws.send_str(frame)
                closing = await ws.receive(timeout=5)
                assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), (
                    frame[:20],
                    closing,
                )
                await ws.close()
        # The same over polling: the POST is refused and the session is gone.
        for body in ["", "\x1e", "9", "40{}\x1ex", b"\xff\xfe"]:
            raw = RawPolling(quiet.url)
            try:
                async with aiohttp.ClientSession() as http:
                    raw.session = http
                    async with http.get(raw.url) as answer:
                        raw.sid = json.loads((await answer.text())[1:])["sid"]
                    status = await raw.post(body)
                    if body == "":
                        assert status == 200  # an empty POST is nothing, not malformed
                        continue
                    assert status == 400, body
                    assert (await raw.get())[0] == 400  # unknown session now
            finally:
                raw.session = None
    # The server serves on, and logged one warning for all of it, no traceback.
    client = await quiet.connect("after-the-flood")
    assert (await client.call("probe:echo", {"text": "alive"}))["ok"] is True
    log = log_of(quiet)
    assert "Traceback" not in log, log[-3000:]
    # 64 sessions closed: one warning per 10 s (WARN_INTERVAL), the first for the first
    # frame; any later one counts those held back since.
    warnings = [line for line in log.splitlines() if " WARNING " in line]
    elapsed = time.monotonic() - started
    assert 1 <= len(warnings) <= 1 + elapsed // WARN_INTERVAL, (elapsed, warnings)
    assert "malformed packet (empty packet)" in warnings[0], warnings
    assert all(" more like it since the last warning)" in line for line in warnings[1:])


# --- 8. every page of stored things under the page budget ------------------------------

PAGE_BUDGET = 1_000_000  # core/pages.py


@pytest.fixture(scope="module")
def big_pages(start_server, tmp_path_factory) -> LiveServer:
    """A server whose activity:subscribed carries as many items as a page may ask for."""
    config = tmp_path_factory.mktemp("pages") / "lvng.toml"
    config.write_text("[plugins.activity]\nsubscribe_items = 100\n")
    return start_server(args=["--config", str(config)])


async def test_activity_pages_stay_under_the_budget_and_page_on(big_pages):
    live = big_pages
    org, customer = uid("org"), uid("cust")
    service = live.token("crm", org, roles=["service"], customers=[customer])
    posted = []
    for i in range(100):  # 100 items of ~16 KB: 1.6 MB in one page before
        status, item = await live.http(
            "POST",
            f"/api/v1/customers/{customer}/activity",
            token=service,
            json={"type": "note.added", "summary": f"note {i}", "data": {"blob": "x" * 16_000}},
        )
        assert status == 201, item
        posted.append(item["id"])
    newest_first = posted[::-1]
    reader = live.token("reader", org, customers=[customer])
    seen: list[str] = []
    before = ""
    while True:
        status, page = await live.http(
            "GET", f"/api/v1/customers/{customer}/activity?limit=100{before}", token=reader
        )
        assert status == 200
        assert len(json.dumps(page, separators=(",", ":"))) < PAGE_BUDGET + 200
        seen += [item["id"] for item in page["items"]]
        if not page["hasMore"]:
            break
        assert 0 < len(page["items"]) < 100
        before = f"&before={page['items'][-1]['id']}"
    assert seen == newest_first  # every item once, newest first, none skipped
    client = await live.connect("reader", org, customers=[customer])
    assert (await client.call("activity:subscribe", {"customerId": customer}))["ok"] is True
    subscribed = await client.next("activity:subscribed")
    assert len(json.dumps(subscribed, separators=(",", ":"))) < PAGE_BUDGET + 200
    assert subscribed["hasMore"] is True
    assert [item["id"] for item in subscribed["items"]] == newest_first[: len(subscribed["items"])]


# --- 4. HTTP writes count against the per-user limit ------------------------------------


@pytest.fixture(scope="module")
def counted(start_server) -> LiveServer:
    return start_server(
        env={"LVNG_RATE_LIMIT_USER_EVENTS": "8", "LVNG_RATE_LIMIT_SERVICE_EVENTS": "12"}
    )


async def post_raw(live: LiveServer, path: str, token: str, body: Any) -> tuple[int, Any, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            live.url + path, json=body, headers={"Authorization": f"Bearer {token}"}
        ) as answer,
    ):
        return answer.status, answer.headers.get("Retry-After"), await answer.json()


async def test_http_writes_share_the_users_window_with_its_sockets(counted, log_of):
    org, channel = uid("org"), uid("http-flood")
    token = counted.token("poster", org)
    alice = await counted.connect("poster", org)
    assert (await alice.call("channel:join", {"channelId": channel}))["ok"] is True  # 1
    path = f"/api/v1/channels/{channel}/messages"
    for i in range(6):  # 2 to 7
        status, _, body = await post_raw(counted, path, token, {"content": f"m{i}"})
        assert status == 201, body
    # Reads are not counted.
    for _ in range(3):
        assert (await counted.http("GET", path, token=token))[0] == 200
    assert (await alice.call("message:send", {"channelId": channel, "content": "8th"}))["ok"]
    status, retry_after, body = await post_raw(counted, path, token, {"content": "9th"})
    assert status == 429
    assert body["error"]["code"] == "RATE_LIMITED"
    assert body["error"]["message"] == (
        "rate limit of 8 events per 60 s for all of a user's connections exceeded"
    )
    assert 55_000 < body["error"]["retryAfterMs"] <= 60_001
    assert set(body["error"]) == {"code", "message", "retryAfterMs"}
    assert int(retry_after) == -(-body["error"]["retryAfterMs"] // 1000)
    # The socket is refused by the same window, with the same body plus its event.
    ack = await alice.call("message:send", {"channelId": channel, "content": "10th"})
    assert ack["error"]["message"] == body["error"]["message"]
    # Nothing refused was stored; another user of the organization is not affected.
    status, page = await counted.http("GET", path, token=token)
    assert [m["content"] for m in page["messages"]] == [f"m{i}" for i in range(6)] + ["8th"]
    status, _, _ = await post_raw(counted, path, counted.token("bystander", org), {"content": "x"})
    assert status == 201
    assert "Traceback" not in log_of(counted)


async def test_service_tokens_have_their_own_limit(counted):
    org = uid("org")
    agent = counted.token("agent", org, roles=["service"])
    session = uid("sess")
    path = f"/api/v1/swarm/sessions/{session}/events"
    statuses = []
    for i in range(13):
        status, retry_after, body = await post_raw(
            counted, path, agent, {"type": "step.started", "agent": "a", "stepId": f"s{i}"}
        )
        statuses.append(status)
    assert statuses == [201] * 12 + [429]
    assert body["error"]["message"] == (
        "rate limit of 12 events per 60 s for all of a service's connections exceeded"
    )
    assert retry_after is not None
    status, state = await counted.http("GET", f"/api/v1/swarm/sessions/{session}", token=agent)
    assert [u["seq"] for u in state["updates"]] == list(range(1, 13))

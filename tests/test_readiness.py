"""Readiness follows the stores (issue 14): `/readyz` turns 503 within 5 s of Redis or
PostgreSQL going away and 200 again when they return; events that need the store answer
`UNAVAILABLE` meanwhile and the process lives on. The stores here are the tests' own (a
Redis and a PostgreSQL cluster on free ports), stopped and started again for real.

After Redis returns, the cluster heartbeat, the node-message listener and the Socket.IO
Redis manager's listener work again: both nodes are alive in Redis, subscribed to both
channels, and a message crosses from one node to the other.
"""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as aioredis

from tests.live import LiveServer
from tests.messages.support import in_channel, send, uid
from tests.services import OwnPostgres, OwnRedis

pytestmark = pytest.mark.timeout(120)


async def _until_ready(live: LiveServer, expected: tuple[int, dict], within: float) -> float:
    """Poll /readyz until it answers `expected`; the seconds it took (fails after
    `within`)."""
    started = time.monotonic()
    while (answer := await live.http("GET", "/readyz")) != expected:
        assert time.monotonic() - started < within, (answer, live.log()[-3000:])
        await asyncio.sleep(0.1)
    return time.monotonic() - started


NOT_READY = {
    # Redis away: connection caps and event limits count on each node (issue 26).
    "redis": (503, {"status": "unavailable", "failed": ["redis"], "limits": "per-node"}),
    "database": (503, {"status": "unavailable", "failed": ["database"]}),
}
READY = (200, {"status": "ready"})
UNAVAILABLE = {"code": "UNAVAILABLE", "message": "a backing store is unavailable; try again"}


async def _until(condition, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.1)


async def test_redis_going_away_and_coming_back(cluster, tmp_path):
    redis_server = OwnRedis(tmp_path / "redis").start()
    try:
        nodes = cluster(
            env={
                "LVNG_REDIS_URL": redis_server.url,
                "LVNG_NODE_TTL": "3",
                "LVNG_MAX_CONNECTIONS_PER_USER": "2",
            }
        )
        a, b = nodes.start_node(), nodes.start_node()
        name = nodes.env["LVNG_CLUSTER_NAME"]
        org, channel = uid("org"), uid("ch")
        alice = await in_channel(a, org, channel, "alice", name="Alice")
        bob = await in_channel(b, org, channel, "bob", name="Bob")
        await send(alice, {"channelId": channel}, "before")
        assert (await bob.next("message:new"))["content"] == "before"

        redis_server.stop()
        took = await _until_ready(a, NOT_READY["redis"], within=5)
        await _until_ready(b, NOT_READY["redis"], within=5)
        # Sending needs the room's turn, a Redis lock: refused, and the node lives on.
        ack = await alice.call("message:send", {"channelId": channel, "content": "during"})
        assert ack == {"ok": False, "error": UNAVAILABLE}
        assert (await alice.next("error"))["code"] == "UNAVAILABLE"
        assert await a.http("GET", "/healthz") == (200, {"status": "ok"})
        assert a.proc.poll() is None and b.proc.poll() is None
        await bob.close()  # leaving needs Redis too: logged, not raised
        await _until(lambda: _logged(b, "left channel:" + channel), 5, "bob's leave logged")
        status, text = await a.http("GET", "/metrics")
        assert status == 200 and '\nlvng_ready{store="redis"} 0.0\n' in text
        # Handshakes are refused meanwhile, and hold no connection slot (two per user).
        for _ in range(3):
            refused = a.client()
            with pytest.raises(Exception):  # noqa: B017 - socketio raises ConnectionError
                await refused.connect(a.token("erin", org), wait=False)
            assert refused.connect_error["data"] == {
                "code": "UNAVAILABLE",
                "message": "a backing store is unavailable; try again",
            }

        redis_server.start()  # the same port, empty (no persistence)
        back = await _until_ready(a, READY, within=10)
        await _until_ready(b, READY, within=10)

        store = aioredis.from_url(redis_server.url, decode_responses=True)
        try:
            # The heartbeats came back (each node's alive key, within a third of the TTL)...
            await _until(
                lambda: _count(store.keys(f"{name}:alive:*"), 2), 5, "both heartbeats back"
            )
            # ...and so did both Redis managers' listeners (they retry every second at
            # most, core/transport/delivery.py), subscribed to the cluster's channel again.
            await _until(lambda: _subscribers(store, name, 2), 5, "both listeners back")
            # The cluster's own node messages (a listener per node, retrying every second).
            await _until(
                lambda: _subscribers(store, f"{name}:nodes-channel", 2),
                5,
                "both node-message listeners back",
            )
        finally:
            await store.aclose()
        erin = [await a.connect("erin", org) for _ in range(2)]  # her two slots are free
        assert all(client.sid for client in erin)
        carol = await in_channel(a, org, channel, "carol", name="Carol")
        dave = await in_channel(b, org, channel, "dave", name="Dave")
        await send(carol, {"channelId": channel}, "after")
        assert (await dave.next("message:new"))["content"] == "after"
        assert "Traceback" not in a.log() + b.log()
        print(f"redis: 503 after {took:.1f} s, 200 {back:.1f} s after it returned")
        for node in nodes.nodes:
            await node.close_clients()
            node.stop()
    finally:
        redis_server.stop()


async def _logged(live: LiveServer, text: str) -> bool:
    return text in live.log()


async def _count(keys, expected: int) -> bool:
    return len(await keys) == expected


async def _subscribers(store, channel: str, expected: int) -> bool:
    [(_, count)] = await store.pubsub_numsub(channel)
    return count == expected


async def test_postgres_going_away_and_coming_back(tmp_path):
    postgres = OwnPostgres().start()
    live = None
    try:
        from tests.services import ScratchDatabase

        database = ScratchDatabase()
        database.url = postgres.url
        await database.migrate()
        live = LiveServer(tmp_path / "node", {"LVNG_DATABASE_URL": postgres.url}).start()
        org, channel = uid("org"), uid("ch")
        alice = await in_channel(live, org, channel, "alice", name="Alice")
        await send(alice, {"channelId": channel}, "before")
        token = live.token("reader", org)
        history = f"/api/v1/channels/{channel}/messages"

        postgres.stop()
        took = await _until_ready(live, NOT_READY["database"], within=5)
        ack = await alice.call("message:send", {"channelId": channel, "content": "during"})
        assert ack == {"ok": False, "error": UNAVAILABLE}
        assert await live.http("GET", history, token=token) == (
            503,
            {"error": {"code": "UNAVAILABLE", "message": "a backing store is unavailable"}},
        )
        assert await live.http("GET", "/healthz") == (200, {"status": "ok"})
        assert live.proc.poll() is None

        postgres.resume()
        back = await _until_ready(live, READY, within=10)
        await send(alice, {"channelId": channel}, "after")
        status, body = await live.http("GET", history, token=token)
        assert status == 200 and [m["content"] for m in body["messages"]] == ["before", "after"]
        await live.close_clients()
        live.stop()
        assert live.proc.returncode == 0
        print(f"postgres: 503 after {took:.1f} s, 200 {back:.1f} s after it returned")
    finally:
        if live is not None:
            await live.close_clients()
            live.stop()
        postgres.remove()

"""`lvng serve --workers N` with Redis: rooms reach clients on every worker."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.prometheus import promtool
from tests.services import require_redis


@pytest.fixture
def tmp() -> Iterator[Path]:
    """The server's TMPDIR, where the CLI makes its metrics directory (to look inside): a
    short path, since multiprocessing's manager listens on a Unix socket under it and such
    a path has at most 107 bytes (an xdist worker's tmp_path plus a long test name has
    more: the workers failed to start)."""
    path = Path(tempfile.mkdtemp(prefix="lvng-w-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def test_two_workers_share_rooms_through_redis(start_server):
    live = start_server(env={"LVNG_REDIS_URL": require_redis()}, args=["--workers", "2"])
    org = f"fleet-{uuid.uuid4().hex[:10]}"  # Redis is shared: rooms of our own
    clients = [await live.connect(f"w{i}", org) for i in range(8)]
    for client in clients:
        assert (await client.call("probe:join", {"name": "fleet"}))["ok"] is True
    # Every join was acked, so every socket is in the room on its worker: the shout
    # (published after) reaches each. Join announcements may still be in flight; they do
    # not matter here.
    assert (await clients[0].call("probe:shout", {"name": "fleet"})) == {"ok": True}
    for client in clients[1:]:
        assert await client.next("probe:shout") == {"name": "fleet", "from": "w0"}
    await clients[0].nothing("probe:shout")
    assert "(workers: 2; database sqlite lvng.sqlite3; redis 127.0.0.1:6379/0;" in live.log()
    await live.close_clients()


def _connections_by_worker(tmp: Path) -> dict[int, float]:
    """`lvng_connections_active` as each worker wrote it to its own file (pid → value)."""
    from prometheus_client.multiprocess import MultiProcessCollector

    [metrics_dir] = tmp.glob("lvng-metrics-*")
    counts = {}
    for path in metrics_dir.glob("gauge_livesum_*.db"):
        for metric in MultiProcessCollector.merge([str(path)], accumulate=False):
            for sample in metric.samples:
                if sample.name == "lvng_connections_active":
                    counts[int(path.stem.rpartition("_")[2])] = sample.value
    return counts


async def test_metrics_sum_every_worker(start_server, tmp):
    live = start_server(
        env={
            "LVNG_REDIS_URL": require_redis(),
            "LVNG_CLUSTER_NAME": f"test-{uuid.uuid4().hex[:10]}",
            "TMPDIR": str(tmp),
        },
        args=["--workers", "2"],
    )
    # The port accepts as soon as one worker listens; a worker not yet listening gets no
    # connections, so wait for both (Sanic logs each one's `Worker ready`).
    deadline = time.monotonic() + 30
    while live.log().count("Worker ready") < 2:
        assert time.monotonic() < deadline, live.log()
        await asyncio.sleep(0.05)
    # SO_REUSEPORT spreads connections over the listening workers by hash: connect until
    # both hold some (ten are enough but for a 1-in-500 draw; never more than forty).
    clients = [await live.connect(f"m{i}", "acme") for i in range(10)]
    while len(busy := [n for n in _connections_by_worker(tmp).values() if n]) < 2:
        assert len(clients) < 40, f"every connection went to one worker: {busy}"
        clients.append(await live.connect(f"m{len(clients)}", "acme"))
    per_worker = _connections_by_worker(tmp)
    assert len(per_worker) == 2 and sum(per_worker.values()) == len(clients), per_worker

    # Every scrape is a new connection, answered by either worker: always the sum.
    for _ in range(6):
        assert await live.metric("lvng_connections_active") == len(clients), per_worker
        assert await live.metric("lvng_connections_total") == len(clients), per_worker

    made = len(clients)
    for client in clients[:3]:
        await client.close()
    deadline = time.monotonic() + 5
    while await live.metric("lvng_connections_active") != made - 3:
        assert time.monotonic() < deadline, _connections_by_worker(tmp)
        await asyncio.sleep(0.05)
    assert await live.metric("lvng_connections_total") == made
    assert sum(_connections_by_worker(tmp).values()) == made - 3
    # The summed page is as valid as one worker's.
    status, text = await live.http("GET", "/metrics")
    assert status == 200 and '\nlvng_ready{store="redis"} 1.0\n' in text, text
    if shutil.which("promtool"):
        result = promtool("check", "metrics", stdin=text)
        assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    await live.close_clients()


async def test_a_channel_message_crosses_workers_once(start_server, scratch_postgres, tmp):
    """Two workers on PostgreSQL and Redis: a message sent to a socket on one worker is
    stored once and reaches the channel's sockets on both workers once, in order."""
    live = start_server(
        env={
            "LVNG_REDIS_URL": require_redis(),
            "LVNG_CLUSTER_NAME": f"test-{uuid.uuid4().hex[:10]}",
            "LVNG_DATABASE_URL": scratch_postgres.url,
            "TMPDIR": str(tmp),
        },
        args=["--workers", "2"],
    )
    deadline = time.monotonic() + 30
    while live.log().count("Worker ready") < 2:
        assert time.monotonic() < deadline, live.log()
        await asyncio.sleep(0.05)
    org, channel = f"org-{uuid.uuid4().hex[:8]}", f"ch-{uuid.uuid4().hex[:8]}"
    clients = [await live.connect(f"c{i}", org) for i in range(6)]
    while len([n for n in _connections_by_worker(tmp).values() if n]) < 2:
        assert len(clients) < 40, "every connection went to one worker"
        clients.append(await live.connect(f"c{len(clients)}", org))
    for client in clients:
        assert (await client.call("channel:join", {"channelId": channel}))["ok"] is True
    first = await clients[0].call("message:send", {"channelId": channel, "content": "hello"})
    assert first["ok"] is True
    last = await clients[-1].call("message:send", {"channelId": channel, "content": "marker"})
    assert last["ok"] is True
    for client in clients:
        assert (await client.next("message:new"))["id"] == first["id"]
        assert (await client.next("message:new"))["id"] == last["id"]
        assert [m["content"] for m in client.received["message:new"]] == ["hello", "marker"]
    status, body = await live.http(
        "GET", f"/api/v1/channels/{channel}/messages", token=live.token("reader", org)
    )
    assert status == 200 and [m["content"] for m in body["messages"]] == ["hello", "marker"]
    await live.close_clients()

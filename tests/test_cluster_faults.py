"""Issue 26's pieces of the cluster state on the live Redis (a fresh key prefix per test),
and the kit around them on one process: connection slots counted over two nodes, the
shared sliding window, deadline hashes handed over at a clean stop, `Deadlines` and
`OwedWrites`. The two-node behaviour with faults is `tests/test_faults.py`."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from core.cluster.local import LocalCluster
from core.cluster.owed import OwedWrites
from core.cluster.redis_cluster import RedisCluster, redis_client
from core.deadlines import Deadlines
from core.tasks import Tasks, Timers
from tests.services import require_redis

Pair = tuple[RedisCluster, RedisCluster]


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    url = require_redis()
    prefix = f"faults-{uuid.uuid4().hex}"
    first, second = RedisCluster(url, prefix=prefix), RedisCluster(url, prefix=prefix)
    try:
        yield first, second
    finally:
        store = redis_client(url, decode_responses=True)
        keys = [key async for key in store.scan_iter(f"{prefix}:*")]
        if keys:
            await store.delete(*keys)
        for client in (store, first.redis, second.redis):
            await client.aclose()


async def test_slots_are_counted_over_every_node_and_say_when_a_user_is_spread(
    pair: Pair,
) -> None:
    a, b = pair
    assert await a.claim_slot("acme", "alice", "s1", 2) == 1
    assert await b.claim_slot("acme", "alice", "s2", 2) == 2  # node A holds one
    assert await a.claim_slot("acme", "alice", "s3", 2) == 0  # full on both
    assert await a.claim_slot("acme", "bob", "s4", 2) == 1  # another user's own cap
    await a.release_slot("acme", "alice", "s1")
    assert await b.claim_slot("acme", "alice", "s3", 2) == 1  # only B's now


async def test_a_stopped_node_leaves_the_node_set_and_hands_its_deadlines_over(
    pair: Pair,
) -> None:
    a, b = pair
    await a._beat()
    await b._beat()
    assert await a.claim_slot("acme", "alice", "s1", 1) == 1
    await a.deadline_put("presence.grace\tacme/alice", '{"due": 1, "args": {}}')
    await a.stop()
    assert await b.redis.smembers(f"{b._p}:nodes") == {b.node_id}
    assert await b.claim_slot("acme", "alice", "s2", 1) == 1  # A's slot went with it
    assert await b.adopt_deadlines() == {"presence.grace\tacme/alice": '{"due": 1, "args": {}}'}
    assert await b.adopt_deadlines() == {}  # adopted once
    assert await b.redis.hgetall(f"{b._p}:dl:{b.node_id}") == {
        "presence.grace\tacme/alice": '{"due": 1, "args": {}}'
    }


async def test_the_shared_window_counts_hits_from_every_node(pair: Pair) -> None:
    a, b = pair
    assert [await node.hit_window("acme\talice", 3, 60) for node in (a, b, a)] == [0, 0, 0]
    retry = await b.hit_window("acme\talice", 3, 60)
    assert 59_000 < retry <= 60_001
    assert await a.hit_window("acme\tbob", 3, 60) == 0


async def test_deadlines_run_when_due_and_not_once_cancelled() -> None:
    tasks = Tasks()
    cluster = LocalCluster()
    owed = OwedWrites(cluster.settled)
    deadlines = Deadlines(cluster, Timers(tasks), tasks, owed)
    ran: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    deadlines.handle("kind", ran.put)
    await deadlines.schedule("kind", "one", 0.01, {"n": 1})
    await deadlines.schedule("kind", "two", 0.01, {"n": 2})
    await deadlines.cancel("kind", "two")
    assert await asyncio.wait_for(ran.get(), 5) == {"n": 1}
    await deadlines.schedule("kind", "three", 0.01, {"n": 3})
    assert await asyncio.wait_for(ran.get(), 5) == {"n": 3}  # "two" never ran
    with pytest.raises(KeyError):
        await deadlines.schedule("unknown", "x", 1)
    await tasks.cancel_all()


async def test_an_adopted_deadline_runs_on_the_survivor_at_its_due_time(pair: Pair) -> None:
    a, b = pair
    tasks = Tasks()
    deadlines = Deadlines(b, Timers(tasks), tasks, OwedWrites(b.settled))
    ran: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    deadlines.handle("kind", ran.put)
    await a._beat()
    await a.deadline_put("kind\tlate", json.dumps({"due": 0, "args": {"late": True}}))
    await a.stop()
    assert await deadlines.adopt() == 1
    assert await asyncio.wait_for(ran.get(), 5) == {"late": True}
    await asyncio.sleep(0)  # the done deadline leaves the survivor's hash
    await tasks.cancel_all()


async def test_owed_writes_wait_for_the_cluster_and_keep_their_order() -> None:
    settled = False
    made: list[int] = []
    failing = {2}

    async def is_settled() -> bool:
        return settled

    def write(n: int) -> Any:
        async def run() -> None:
            if n in failing:
                raise ConnectionError("still away")
            made.append(n)

        return run

    owed = OwedWrites(is_settled)
    for n in (1, 2, 3):
        owed.owe(f"write {n}", write(n))
    await asyncio.sleep(0.3)
    assert made == [] and len(owed) == 3  # not settled: nothing tried
    settled = True
    await asyncio.sleep(0.5)
    assert made == [1] and len(owed) == 2  # the second fails: the third waits behind it
    failing.clear()
    await owed.settle_now(timeout=2)
    assert made == [1, 2, 3] and len(owed) == 0

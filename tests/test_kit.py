"""The realtime kit across Redis nodes: cluster state and room turns on the live Redis.

The kit's in-process tests (tasks and timers, room turns on one node, the after-ack
invariant) are in tests/unit (test_tasks.py, test_turns.py), where the mutation run
(docs/testing.md) uses them; the cluster contract's tests run against both
implementations from tests/unit/test_cluster_local.py and tests/test_cluster_state.py."""

from __future__ import annotations

import asyncio
import uuid

from core.cluster.redis_cluster import RedisCluster
from tests.services import require_redis

# --- cluster state ------------------------------------------------------------------------


async def test_a_dead_nodes_sockets_are_removed_and_announced():
    url = require_redis()
    prefix = f"kit-{uuid.uuid4().hex[:8]}"
    lost: list[tuple[str, str, str]] = []

    async def on_lost(room: str, user: str, name: str) -> None:
        lost.append((room, user, name))

    survivor, dead = RedisCluster(url, prefix=prefix), RedisCluster(url, prefix=prefix)
    await survivor.start(on_member_lost=on_lost)
    await dead.start()
    try:
        await survivor.enter("acme/conv", "carol", "c1", "Carol")
        await dead.enter("acme/conv", "alice", "a1", "Alice")
        await dead.enter("acme/conv", "carol", "c2", "Carol")
        held = await dead.lock("acme/conv")  # it dies holding the room's turn
        dead._heartbeat.cancel()  # it crashed: no goodbye, and its heartbeat expires
        await dead.redis.delete(dead._alive(dead.node_id))
        assert held is not None
        assert await survivor.reap() == [dead.node_id]
        # Its turn is free at once, not after the lock's lease.
        token = await asyncio.wait_for(survivor.lock("acme/conv"), 1)
        await survivor.unlock("acme/conv", token)
        assert lost == [("acme/conv", "alice", "Alice")]  # carol is still on the survivor
        assert await survivor.users("acme/conv") == {"carol": "Carol"}
        assert await survivor.reap() == []
    finally:
        await dead.redis.aclose()
        await survivor.stop()


# --- room turns ---------------------------------------------------------------------------


async def test_redis_turns_exclude_each_other_across_nodes():
    url = require_redis()
    prefix = f"kit-{uuid.uuid4().hex[:8]}"
    a, b = RedisCluster(url, prefix=prefix), RedisCluster(url, prefix=prefix)
    try:
        token = await a.lock("room")
        taking = asyncio.ensure_future(b.lock("room"))
        await asyncio.sleep(0.05)
        assert not taking.done()
        await a.unlock("room", token)
        await b.unlock("room", await taking)
    finally:
        await a.redis.aclose()
        await b.redis.aclose()

"""The cluster state's contract (core/cluster/state.py) on `LocalCluster`, the in-process
implementation (the same object as both nodes). tests/test_cluster_state.py runs these
same tests against `RedisCluster` (two nodes on the live Redis), with the Redis-only ones."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from core.cluster.local import LocalCluster
from core.cluster.redis_cluster import RedisCluster
from core.cluster.state import ClusterState

Nodes = tuple[ClusterState, ClusterState]


@pytest.fixture(params=["local"])
async def nodes(request: pytest.FixtureRequest) -> AsyncIterator[Nodes]:
    """Two nodes of one cluster: in one process, the same object twice."""
    one = LocalCluster()
    yield one, one


# --- membership --------------------------------------------------------------------------


async def test_first_and_last_are_about_the_user_on_every_node(nodes: Nodes) -> None:
    a, b = nodes
    assert await a.enter("acme/r", "alice", "s1", "Alice") is True
    assert await b.enter("acme/r", "alice", "s2", "Alice") is False
    assert await a.sockets("acme/r", "alice") == 2
    assert await a.exit("acme/r", "alice", "s1") is False
    assert await b.exit("acme/r", "alice", "s2") is True
    assert await a.sockets("acme/r", "alice") == 0 and await b.users("acme/r") == {}


async def test_count_is_the_users_of_a_room_on_every_node(nodes: Nodes) -> None:
    a, b = nodes
    assert await a.count("acme/big") == 0
    await a.enter("acme/big", "alice", "s1", "Alice")
    await b.enter("acme/big", "alice", "s2", "Alice")  # her second device: one user
    await b.enter("acme/big", "bob", "s3", "Bob")
    assert await a.count("acme/big") == await b.count("acme/big") == 2
    await a.exit("acme/big", "alice", "s1")
    assert await b.count("acme/big") == 2
    await b.exit("acme/big", "alice", "s2")
    assert await a.count("acme/big") == 1 == len(await a.users("acme/big"))


async def test_entering_again_is_not_first_and_a_stranger_leaving_changes_nothing(
    nodes: Nodes,
) -> None:
    a, b = nodes
    assert await a.enter("acme/r", "alice", "s1", "Alice") is True
    assert await a.enter("acme/r", "alice", "s1", "Alice") is False
    assert await a.sockets("acme/r", "alice") == 1
    assert await b.exit("acme/r", "bob", "s9") is False
    assert await b.exit("acme/r", "alice", "s2") is False  # a socket never in it
    assert await b.users("acme/r") == {"alice": "Alice"}
    assert await a.exit("acme/r", "alice", "s1") is True
    assert await a.exit("acme/r", "alice", "s1") is False  # not there any more


async def test_users_of_a_room_with_their_names_and_rooms_apart(nodes: Nodes) -> None:
    a, b = nodes
    await a.enter("acme/r", "alice", "s1", "Alice")
    await b.enter("acme/r", "bob", "s2", "Bob")
    await b.enter("acme/other", "carol", "s3", "Carol")
    assert await a.users("acme/r") == {"alice": "Alice", "bob": "Bob"}
    assert await b.users("acme/other") == {"carol": "Carol"}
    assert await a.users("acme/empty") == {}


async def test_of_sockets_entering_and_leaving_at_once_exactly_one_is_first_and_one_last(
    nodes: Nodes,
) -> None:
    """(A socket leaves on the node it entered on: its node is part of its entry.)"""
    a, b = nodes
    sids = [f"s{n}" for n in range(10)]
    firsts = await asyncio.gather(
        *((a if n % 2 else b).enter("acme/r", "alice", sid, "Alice") for n, sid in enumerate(sids))
    )
    assert firsts.count(True) == 1
    lasts = await asyncio.gather(
        *((a if n % 2 else b).exit("acme/r", "alice", sid) for n, sid in enumerate(sids))
    )
    assert lasts.count(True) == 1
    assert await a.users("acme/r") == {}


async def test_first_and_last_socket_of_a_user_on_any_node(nodes: Nodes) -> None:
    a, b = nodes
    assert await a.enter("acme/conv", "alice", "s1", "Alice") is True
    assert await b.enter("acme/conv", "alice", "s2", "Alice") is False
    assert await a.enter("acme/conv", "bob", "s3", "Bob") is True
    assert await b.sockets("acme/conv", "alice") == 2
    assert await b.users("acme/conv") == {"alice": "Alice", "bob": "Bob"}
    assert await a.exit("acme/conv", "alice", "s1") is False
    assert await a.exit("acme/conv", "alice", "s1") is False  # not there any more
    assert await b.exit("acme/conv", "alice", "s2") is True
    assert await a.users("acme/conv") == {"bob": "Bob"}
    assert await a.exit("acme/conv", "nobody", "s9") is False


async def test_key_values_with_compare_and_delete_and_lists(nodes: Nodes) -> None:
    a, b = nodes
    assert await a.put("k", "one") is True
    assert await b.put("k", "two", only_if_absent=True) is False
    assert await b.get("k") == "one"
    assert await b.delete("k", only_if="two") is False
    assert await b.delete("k", only_if="one") is True
    assert await a.get("k") is None and await a.delete("k") is False
    assert [await a.push("l", "x", ttl=5), await b.push("l", "y", ttl=5)] == [1, 2]
    assert await a.take("l") == ["x", "y"] and await b.take("l") == []
    assert await a.put("short", "v", ttl=0.05) is True
    await asyncio.sleep(0.1)
    assert await b.get("short") is None


# --- key-value with TTL ----------------------------------------------------------------------


async def test_put_get_delete_and_compare_and_delete(nodes: Nodes) -> None:
    a, b = nodes
    assert await a.get("k") is None
    assert await a.put("k", "one") is True
    assert await b.get("k") == "one"
    assert await b.put("k", "two") is True  # without only_if_absent: replaced
    assert await a.get("k") == "two"
    assert await a.delete("k", only_if="one") is False
    assert await a.get("k") == "two"
    assert await b.delete("k", only_if="two") is True
    assert await a.delete("k") is False and await b.get("k") is None


async def test_of_two_puts_only_if_absent_at_once_exactly_one_wins(nodes: Nodes) -> None:
    a, b = nodes
    won = await asyncio.gather(
        *((a if n % 2 else b).put("k", f"v{n}", only_if_absent=True) for n in range(10))
    )
    assert won.count(True) == 1
    assert await a.get("k") == f"v{won.index(True)}"


async def test_an_expired_key_is_gone_for_every_reader(nodes: Nodes) -> None:
    a, b = nodes
    assert await a.put("short", "v", ttl=0.05) is True
    assert await a.put("long", "v") is True  # no TTL: kept until deleted
    assert await b.get("short") == "v"
    await _until_gone(b, "short")
    assert await b.put("short", "again", ttl=5, only_if_absent=True) is True
    assert await a.delete("short", only_if="v") is False
    assert await a.get("long") == "v"


async def test_lists_are_gathered_from_every_node_and_taken_once(nodes: Nodes) -> None:
    a, b = nodes
    assert [await a.push("l", "x", ttl=5), await b.push("l", "y", ttl=5)] == [1, 2]
    taken = await asyncio.gather(a.take("l"), b.take("l"))
    assert sorted(taken, key=len) == [[], ["x", "y"]]
    assert await a.take("l") == []


async def test_push_renews_the_lists_ttl_and_an_expired_list_starts_again(nodes: Nodes) -> None:
    a, b = nodes
    await a.push("l", "x", ttl=0.05)
    await b.push("l", "y", ttl=5)  # renewed: the list outlives the first TTL
    await asyncio.sleep(0.1)
    assert await a.take("l") == ["x", "y"]
    await a.push("gone", "x", ttl=0.05)
    await _until_taken_empty(b, "gone")
    assert await b.push("gone", "y", ttl=5) == 1


# --- locks -----------------------------------------------------------------------------------


async def test_a_lock_is_cross_node_only_where_the_cluster_is(nodes: Nodes) -> None:
    a, b = nodes
    token = await a.lock("acme/r")
    if not a.cross_node:
        assert token is None  # one process: the in-process lock of core.turns is enough
        return
    assert token is not None
    waiting = asyncio.ensure_future(b.lock("acme/r"))
    other = await b.lock("acme/other")  # another key is not held
    assert other is not None
    await b.unlock("acme/other", other)
    await asyncio.sleep(0.05)
    assert not waiting.done()  # held by node a
    await b.unlock("acme/r", "not-the-token")  # only the holder's token frees it
    await asyncio.sleep(0.05)
    assert not waiting.done()
    await a.unlock("acme/r", token)
    second = await asyncio.wait_for(waiting, 5)
    assert second is not None and second != token
    await b.unlock("acme/r", second)


# --- nodes -----------------------------------------------------------------------------------


async def test_a_node_message_reaches_every_node_this_one_included(nodes: Nodes) -> None:
    a, b = nodes
    heard: dict[str, list[dict[str, Any]]] = {"a": [], "b": []}
    both = asyncio.Event()

    def hearer(name: str) -> Any:
        async def on_message(message: dict[str, Any]) -> None:
            heard[name].append(message)
            if heard["a"] and (a is b or heard["b"]):
                both.set()

        return on_message

    await a.start(on_message=hearer("a"))
    if b is not a:
        await b.start(on_message=hearer("b"))
        assert isinstance(a, RedisCluster)
        channel = f"{a._p}:nodes-channel"
        while dict(await a.redis.pubsub_numsub(channel)).get(channel, 0) < 2:
            await asyncio.sleep(0.01)  # both listeners subscribed
    try:
        await a.tell_nodes({"op": "recheck", "room": "acme/r"})
        await asyncio.wait_for(both.wait(), 5)
        assert heard["a"] == [{"op": "recheck", "room": "acme/r"}]
        if b is not a:
            assert heard["b"] == [{"op": "recheck", "room": "acme/r"}]
    finally:
        if isinstance(a, RedisCluster):  # stop() closes the client the fixture closes too
            await _stop_without_closing(a)
            await _stop_without_closing(b)


# --- helpers ---------------------------------------------------------------------------------


async def _until_gone(node: ClusterState, key: str) -> None:
    """Wait for the key's TTL to pass, as seen by `node` (bounded: the test times out)."""
    while await node.get(key) is not None:
        await asyncio.sleep(0.01)


async def _until_taken_empty(node: ClusterState, key: str) -> None:
    """Wait for the list's TTL to pass (bounded: the test times out)."""
    while await _peek(node, key):
        await asyncio.sleep(0.01)


async def _peek(node: ClusterState, key: str) -> bool:
    """Whether the list `key` still exists, without taking it."""
    if isinstance(node, RedisCluster):
        return bool(await node.redis.exists(node._kv(key)))
    assert isinstance(node, LocalCluster)
    return node._live(key) is not None


async def _stop_without_closing(node: ClusterState) -> None:
    """`stop`, leaving the Redis client for the fixture to close (stop closes it)."""
    if isinstance(node, RedisCluster):
        close, node.redis.aclose = node.redis.aclose, _nothing  # type: ignore[method-assign]
        try:
            await node.stop()
        finally:
            node.redis.aclose = close  # type: ignore[method-assign]
    else:
        await node.stop()


async def _nothing() -> None:
    return None


# --- LocalCluster alone (what the mutation run asked for, docs/testing.md) ---------------------


def test_each_local_cluster_is_a_node_of_its_own():
    import os
    import socket

    one, two = LocalCluster(), LocalCluster()
    assert isinstance(one.node_id, str) and one.node_id != two.node_id
    assert one.node_id.startswith(f"{socket.gethostname()}-{os.getpid()}-")


async def test_a_key_is_gone_the_moment_its_ttl_has_passed(monkeypatch: pytest.MonkeyPatch):
    import core.cluster.local as local

    class Clock:
        now = 100.0

        @classmethod
        def monotonic(cls) -> float:
            return cls.now

    monkeypatch.setattr(local, "time", Clock)
    node = LocalCluster()
    await node.put("k", "v", ttl=2)
    await node.put("kept", "v")
    await node.push("l", "x", ttl=2)
    Clock.now = 101.999
    assert await node.get("k") == "v" and await node.push("l", "y", ttl=1) == 2
    Clock.now = 102.0
    assert await node.get("k") is None  # exactly at the deadline: passed
    assert await node.put("k", "again", only_if_absent=True) is True
    Clock.now = 102.5
    assert await node.take("l") == ["x", "y"]  # renewed at 101.999 for one second
    await node.push("l", "z", ttl=1)
    Clock.now = 1e9
    assert await node.get("kept") == "v" and await node.take("l") == []


async def test_get_of_a_list_is_none_not_the_list():
    node = LocalCluster()
    await node.push("l", "x", ttl=5)
    assert await node.get("l") is None
    assert await node.take("l") == ["x"]

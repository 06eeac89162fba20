"""The cluster state's contract (core/cluster/state.py) on `RedisCluster`: two nodes on the
live Redis, a fresh key prefix per test. The tests both implementations share are in
tests/unit/test_cluster_local.py (run there on `LocalCluster`, the same object as both
nodes) and collected here again with this module's `nodes`; the Redis-only ones follow."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from core.cluster.redis_cluster import RedisCluster
from core.errors import LvngError
from tests.services import require_redis
from tests.unit.test_cluster_local import (  # noqa: F401 (collected here, on Redis)
    Nodes,
    _stop_without_closing,
    test_a_lock_is_cross_node_only_where_the_cluster_is,
    test_a_node_message_reaches_every_node_this_one_included,
    test_an_expired_key_is_gone_for_every_reader,
    test_count_is_the_users_of_a_room_on_every_node,
    test_entering_again_is_not_first_and_a_stranger_leaving_changes_nothing,
    test_first_and_last_are_about_the_user_on_every_node,
    test_first_and_last_socket_of_a_user_on_any_node,
    test_key_values_with_compare_and_delete_and_lists,
    test_lists_are_gathered_from_every_node_and_taken_once,
    test_of_sockets_entering_and_leaving_at_once_exactly_one_is_first_and_one_last,
    test_of_two_puts_only_if_absent_at_once_exactly_one_wins,
    test_push_renews_the_lists_ttl_and_an_expired_list_starts_again,
    test_put_get_delete_and_compare_and_delete,
    test_users_of_a_room_with_their_names_and_rooms_apart,
)


@pytest.fixture(params=["redis"])
async def nodes(request: pytest.FixtureRequest) -> AsyncIterator[Nodes]:
    """Two nodes of one cluster, not started (no heartbeat, no node messages)."""
    url = require_redis()
    prefix = f"contract-{uuid.uuid4().hex}"
    first, second = RedisCluster(url, prefix=prefix), RedisCluster(url, prefix=prefix)
    try:
        yield first, second
    finally:
        keys = [key async for key in first.redis.scan_iter(f"{prefix}:*")]
        if keys:
            await first.redis.delete(*keys)
        await first.redis.aclose()
        await second.redis.aclose()


# --- locks -----------------------------------------------------------------------------------


@pytest.mark.parametrize("nodes", ["redis"], indirect=True)  # one process: no such lock
async def test_a_lock_not_freed_in_time_is_refused_as_unavailable(nodes: Nodes) -> None:
    a, b = nodes
    assert isinstance(b, RedisCluster)
    token = await a.lock("acme/r")
    assert token is not None
    b.LOCK_WAIT = 0.05  # type: ignore[misc]
    with pytest.raises(LvngError, match="busy"):
        await b.lock("acme/r")
    await a.unlock("acme/r", token)


# --- nodes -----------------------------------------------------------------------------------


@pytest.mark.parametrize("nodes", ["redis"], indirect=True)  # one process: they end with it
async def test_stop_forgets_this_nodes_memberships_without_announcing_them(
    nodes: Nodes,
) -> None:
    a, b = nodes
    assert isinstance(a, RedisCluster) and isinstance(b, RedisCluster)
    lost: list[tuple[str, str, str]] = []

    async def on_lost(room: str, user: str, name: str) -> None:
        lost.append((room, user, name))

    await b.start(on_member_lost=on_lost)
    await a.start()
    await a.enter("acme/r", "alice", "s1", "Alice")
    await b.enter("acme/r", "bob", "s2", "Bob")
    await _stop_without_closing(a)
    assert await b.users("acme/r") == {"bob": "Bob"}
    await b.reap()  # a stopped node has nothing left to announce
    assert lost == []
    await _stop_without_closing(b)

"""Presence in a large organization on two server processes sharing one Redis (and one
PostgreSQL database): the organization's size is counted across nodes, a subscriber hears
a user on the other node, and pages cover everyone once."""

from __future__ import annotations

from typing import Any

from tests.messages.support import uid
from tests.presence.support import connect, heard, large_config, unknown, update


async def test_a_subscriber_hears_a_user_on_the_other_node(cluster):
    nodes = cluster(config=large_config(limit=2, grace=0.3))
    a, b = nodes.start_node(), nodes.start_node()
    org = uid("org")
    # Three users, split over the nodes: 3 > 2 counts only across nodes.
    watcher = await connect(a, "watcher", org)
    bystander = await connect(a, "bystander", org)
    other = await connect(b, "other", org)
    # 1 and 2 online: told to the organization (bystander's maybe in a burst's window,
    # after other joined); 3: past the limit, told to other's own device only.
    for client, needed in (
        (watcher, {"watcher", "bystander"}),
        (bystander, {"bystander"}),
        (other, {"other"}),
    ):
        while needed:
            needed.discard((await heard(client))["userId"])
        assert client.unread("presence:update") == []
    ack = await watcher.call("presence:subscribe", {"userIds": ["alice"]})
    assert ack == {"ok": True, "users": [unknown("alice")]}

    alice = await connect(b, "alice", org)  # on the other node
    assert await heard(watcher) == update("alice", "Alice", "online")
    assert await heard(alice) == update("alice", "Alice", "online")
    await alice.call("presence:update", {"status": "busy"})
    assert await heard(watcher) == update("alice", "Alice", "busy")
    await alice.close()
    assert await heard(watcher) == update("alice", "Alice", "offline")
    for client in (bystander, other):  # past the limit: not told
        await client.nothing("presence:update", within=0.3)


async def test_pages_on_either_node_cover_everyone_once(cluster):
    nodes = cluster(config=large_config(limit=2, grace=0.3))
    a, b = nodes.start_node(), nodes.start_node()
    org = uid("org")
    names = [f"p{i:02d}" for i in range(9)]
    for i, name in enumerate(names):
        await connect(a if i % 2 else b, name, org)
    token = a.token("reader", org)
    for node in (a, b):
        seen: list[dict[str, Any]] = []
        cursor = None
        while True:
            query = "limit=4" + ("" if cursor is None else f"&cursor={cursor}")
            status, body = await node.http("GET", f"/api/v1/presence?{query}", token=token)
            assert status == 200, body
            seen += body["users"]
            cursor = body["nextCursor"]
            if cursor is None:
                break
        assert [u["userId"] for u in seen] == names
        assert {u["status"] for u in seen} == {"online"}

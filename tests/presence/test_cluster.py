"""Presence on two server processes sharing one PostgreSQL database and one Redis (the
`cluster` fixture: a cluster name of their own, LVNG_NODE_TTL 1.5 s)."""

from __future__ import annotations

from tests.messages.support import uid
from tests.presence.support import config, connect, heard, listed, update


async def test_two_nodes_agree_on_who_is_online(cluster):
    nodes = cluster(config=config(away=60, grace=0.5))
    a, b = nodes.start_node(), nodes.start_node()
    org = uid("org")
    bob = await connect(a, "bob", org, "Bob")
    await heard(bob)
    alice = await connect(b, "alice", org, "Alice")  # on the other node
    assert await heard(bob) == update("alice", "Alice", "online")
    carol_a = await connect(a, "carol", org, "Carol")
    assert await heard(bob) == update("carol", "Carol", "online")
    carol_b = await connect(b, "carol", org, "Carol")  # her second device, elsewhere
    await alice.call("presence:update", {"status": "busy", "customStatus": "Deep work"})
    assert await heard(bob) == update("alice", "Alice", "busy", "Deep work")

    on_a, on_b = await listed(bob), await listed(alice)
    assert on_a == on_b
    assert [(u["userId"], u["status"], u["customStatus"]) for u in on_a] == [
        ("alice", "busy", "Deep work"),
        ("bob", "online", None),
        ("carol", "online", None),
    ]
    token = a.token("reader", org)
    assert await a.http("GET", "/api/v1/presence", token=token) == (
        200,
        {"users": on_a, "nextCursor": None},
    )
    assert await b.http("GET", "/api/v1/presence", token=token) == (
        200,
        {"users": on_a, "nextCursor": None},
    )

    # Carol's device on node A goes: her device on node B keeps her online.
    await carol_a.close()
    await bob.nothing("presence:update", within=1.0)
    await carol_b.close()
    assert await heard(bob) == update("carol", "Carol", "offline")


async def test_a_reconnect_to_the_other_node_is_absorbed_by_the_grace_period(cluster):
    nodes = cluster(config=config(away=60, grace=0.8))
    a, b = nodes.start_node(), nodes.start_node()
    org = uid("org")
    bob = await connect(a, "bob", org, "Bob")
    await heard(bob)
    alice = await connect(a, "alice", org, "Alice")
    assert await heard(bob) == update("alice", "Alice", "online")
    await alice.close()  # node A starts the grace period...
    again = await connect(b, "alice", org, "Alice")  # ...she comes back on node B
    await bob.nothing("presence:update", within=1.2)
    await again.close()
    assert await heard(bob) == update("alice", "Alice", "offline")


async def test_idle_and_back_across_nodes_is_announced_once(cluster):
    nodes = cluster(config=config(away=1.0, grace=0.5))
    a, b = nodes.start_node(), nodes.start_node()
    org = uid("org")
    phone = await connect(a, "alice", org, "Alice")
    assert await heard(phone) == update("alice", "Alice", "online")
    laptop = await connect(b, "alice", org, "Alice")
    # Both nodes watch her idle time; one of them says she is away, once.
    assert await heard(phone) == update("alice", "Alice", "away")
    await laptop.call("presence:heartbeat")
    assert await heard(phone) == update("alice", "Alice", "online")
    assert await heard(phone) == update("alice", "Alice", "away")
    assert await heard(laptop) == update("alice", "Alice", "away")
    assert await heard(laptop) == update("alice", "Alice", "online")
    assert await heard(laptop) == update("alice", "Alice", "away")
    await phone.call("presence:heartbeat")
    assert await heard(laptop) == update("alice", "Alice", "online")
    assert await heard(phone) == update("alice", "Alice", "online")


async def test_a_killed_nodes_users_go_offline_on_the_survivor(cluster):
    nodes = cluster(config=config(away=60, grace=0.5))  # node TTL 1.5 s
    a, b = nodes.start_node(), nodes.start_node()
    org = uid("org")
    bob = await connect(a, "bob", org, "Bob")
    await heard(bob)
    await connect(b, "alice", org, "Alice")
    assert await heard(bob) == update("alice", "Alice", "online")
    await connect(b, "carol", org, "Carol")
    assert await heard(bob) == update("carol", "Carol", "online")
    await connect(a, "carol", org, "Carol")  # carol has a device on the survivor too

    b.kill()  # no disconnect reaches anyone: node A learns it from the expired heartbeat
    assert await heard(bob, timeout=10) == update("alice", "Alice", "offline")
    statuses = {u["userId"]: u["status"] for u in await listed(bob)}
    assert statuses == {"alice": "offline", "bob": "online", "carol": "online"}
    await bob.nothing("presence:update", within=0.5)  # carol never went offline
    assert "stopped answering" in a.log()


async def test_last_seen_survives_a_restart_with_redis(cluster):
    nodes = cluster(config=config(away=60, grace=0.3))
    node = nodes.start_node()
    org = uid("org")
    bob = await connect(node, "bob", org, "Bob")
    await heard(bob)
    alice = await connect(node, "alice", org, "Alice")
    await heard(bob)
    await alice.call("presence:update", {"status": "busy", "customStatus": "On leave"})
    await heard(bob)
    await alice.close()
    assert await heard(bob) == update("alice", "Alice", "offline", "On leave")
    before = {u["userId"]: u for u in await listed(bob)}["alice"]

    await bob.close()
    node.restart()
    carol = await connect(node, "carol", org, "Carol")
    after = {u["userId"]: u for u in await listed(carol)}
    assert after["alice"] == before
    assert after["bob"]["status"] == "offline"  # the restart disconnected him

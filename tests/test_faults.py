"""Issue 26: two `lvng serve` nodes on a Redis of the test's own, with faults: connection
caps and event limits hold over both nodes; a clean stop (SIGTERM) leaves nothing in the
cluster; a 20 s Redis outage (a `TcpCut` in front of Redis: the nodes lose it, Redis keeps
its data) owes the leaves made meanwhile and tells them after, messages cross nodes again
within 10 s of Redis's return, and no node is reaped; a node killed (SIGKILL) during a
user's offline grace or a typist's timeout has those deadlines adopted by the survivor.

Servers are stopped off the event loop (`asyncio.to_thread`): the proxy and the clients run
on it and must keep answering meanwhile."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from tests.live import Client, LiveServer
from tests.messages.support import in_channel, in_conversation, uid
from tests.presence.support import heard, update
from tests.services import POSTGRES_PORT, OwnRedis, TcpCut

pytestmark = pytest.mark.timeout(120)

CAP_MESSAGE = "at most 3 connections per user"
LIMITED = "rate limit of 8 events per 60 s for all of a user's connections exceeded"


def settings(grace: float = 30, typing: float = 10) -> str:
    return (
        f"[plugins.presence]\noffline_grace_seconds = {grace}\n"
        f"[plugins.messages]\ntyping_timeout_seconds = {typing}\n"
    )


@pytest.fixture
async def faulty(cluster, tmp_path) -> AsyncIterator[Callable[..., Any]]:
    """`faulty(config=, env=)`: a cluster on a Redis of this test's own, behind a TcpCut;
    `.cut`, `.redis` (a client of the real Redis) and `.name` (the cluster's prefix)."""
    own = OwnRedis(tmp_path / "redis").start()
    cut = await TcpCut(own.port).start()
    store = aioredis.from_url(own.url, decode_responses=True)
    made: list[Any] = []

    def make(config: str = "", env: dict[str, str] | None = None) -> Any:
        nodes = cluster(config=config, env={"LVNG_REDIS_URL": cut.url, **(env or {})})
        nodes.cut, nodes.redis, nodes.name = cut, store, nodes.env["LVNG_CLUSTER_NAME"]
        made.append(nodes)
        return nodes

    yield make
    for nodes in made:
        for node in nodes.nodes:
            await node.close_clients()
            await asyncio.to_thread(node.stop)
    await store.aclose()
    await cut.close()
    own.stop()


async def until(condition: Callable[[], Any], within: float, what: str) -> float:
    """Poll `condition` (async) until true; the seconds it took."""
    started = time.monotonic()
    while not await condition():
        assert time.monotonic() - started < within, what
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def refused(server: LiveServer, token: str) -> Any:
    client = server.client()
    with pytest.raises(Exception):  # noqa: B017 - socketio raises ConnectionError
        await client.connect(token, wait=False)
    return client.connect_error["data"]


async def node_ids(nodes: Any) -> set[str]:
    return set(await nodes.redis.smembers(f"{nodes.name}:nodes"))


async def post(server: LiveServer, token: str, channel: str, content: str) -> int:
    status, _ = await server.http(
        "POST", f"/api/v1/channels/{channel}/messages", token=token, json={"content": content}
    )
    return status


async def test_connection_caps_and_event_limits_count_on_both_nodes(faulty):
    nodes = faulty(env={"LVNG_MAX_CONNECTIONS_PER_USER": "3", "LVNG_RATE_LIMIT_USER_EVENTS": "8"})
    a, b = nodes.start_node(), nodes.start_node()
    org, channel = uid("org"), uid("ch")
    on_a = [await a.connect("many", org) for _ in range(2)]
    on_b = await b.connect("many", org)
    for node in (a, b):  # three in all: a fourth is refused on either node
        assert await refused(node, node.token("many", org)) == {
            "code": "RATE_LIMITED",
            "message": CAP_MESSAGE,
        }
    assert (await b.connect("someone-else", org)).sid  # another user is not affected
    # Both nodes know the user is spread: its events count in Redis.
    for node in (a, b):
        await until(lambda n=node: _metric(n, "lvng_users_spread", 1), 5, "spread told")

    echo = {"text": "x"}
    assert (await on_a[0].call("channel:join", {"channelId": channel}))["ok"] is True  # 1
    assert all([(await on_a[0].call("probe:echo", echo))["ok"] for _ in range(3)])  # 2-4
    assert all([(await on_b.call("probe:echo", echo))["ok"] for _ in range(3)])  # 5-7
    token = a.token("many", org)
    assert await post(a, token, channel, "8th") == 201  # an HTTP write counts too
    ack = await on_b.call("probe:echo", echo)  # the 9th, on the other node
    assert ack["error"]["code"] == "RATE_LIMITED" and ack["error"]["message"] == LIMITED
    assert 55_000 < ack["error"]["retryAfterMs"] <= 60_001
    assert (await on_a[1].call("probe:echo", echo))["error"]["message"] == LIMITED
    assert await post(b, token, channel, "10th") == 429

    # A socket closed on node A frees its slot for node B.
    await on_a[0].close()
    await until(lambda: _metric(a, "lvng_connections_active", 1), 5, "closed on A")
    assert (await b.connect("many", org)).sid
    assert "Traceback" not in a.log() + b.log()


async def _metric(node: LiveServer, name: str, value: float) -> bool:
    return await node.metric(name) == value


async def test_a_clean_stop_leaves_nothing_in_the_cluster(faulty):
    nodes = faulty(config=settings(grace=1))
    a = nodes.start_node()
    await until(lambda: _count(node_ids(nodes), 1), 5, "node A listed")
    [a_id] = await node_ids(nodes)
    b = nodes.start_node()
    await until(lambda: _count(node_ids(nodes), 2), 5, "both nodes listed")
    [b_id] = await node_ids(nodes) - {a_id}
    org, customer, conversation = uid("org"), uid("cust"), uid("conv")
    carol = await in_conversation(a, org, customer, conversation, "carol", name="Carol")
    await heard(carol)
    alice = await in_conversation(b, org, customer, conversation, "alice", name="Alice")
    assert await heard(carol) == update("alice", "Alice", "online")
    assert (await carol.next("member:joined"))["userId"] == "alice"

    await asyncio.to_thread(b.stop, signal.SIGTERM)
    assert b.proc.returncode == 0
    assert await node_ids(nodes) == {a_id}
    store, name = nodes.redis, nodes.name
    for kind in ("alive", "n", "nl", "ns", "dl"):
        assert not await store.exists(f"{name}:{kind}:{b_id}"), kind
    for key in await store.keys(f"{name}:m:*"):
        assert all(not field.startswith(b_id) for field in await store.hkeys(key)), key
    for key in await store.keys(f"{name}:conn:*"):
        assert set(await store.hvals(key)) == {a_id}, key
    for key in await store.keys(f"{name}:lock:*"):
        assert not (await store.get(key) or "").startswith(b_id + "/"), key
    # Alice's leave was told as her socket closed; her grace was handed to node A.
    left = await carol.next("member:left")
    assert (left["userId"], left["conversationId"]) == ("alice", conversation)
    assert await heard(carol, timeout=10) == update("alice", "Alice", "offline")
    await alice.close()
    assert "Traceback" not in a.log() + b.log()


async def heard_about(client: Client, user: str, timeout: float = 15) -> dict[str, Any]:
    """The next `presence:update` about `user` (others' are passed over)."""
    deadline = time.monotonic() + timeout
    while True:
        data = await heard(client, timeout=max(0.1, deadline - time.monotonic()))
        if data["userId"] == user:
            return data


async def _count(found: Any, expected: int) -> bool:
    return len(await found) == expected


async def test_a_redis_outage_owes_nothing_and_messages_cross_again(faulty):
    nodes = faulty(env={"LVNG_NODE_TTL": "3"})
    a, b = nodes.start_node(), nodes.start_node()
    await until(lambda: _count(node_ids(nodes), 2), 5, "both nodes listed")
    org, customer, conversation = uid("org"), uid("cust"), uid("conv")
    target = {"conversationId": conversation, "customerId": customer}
    carol = await in_conversation(a, org, customer, conversation, "carol", name="Carol")
    alice = await in_conversation(b, org, customer, conversation, "alice", name="Alice")
    dave = await in_conversation(b, org, customer, conversation, "dave", name="Dave")
    for who in ("alice", "dave"):
        assert (await carol.next("member:joined"))["userId"] == who
    # Nothing in flight at the cut (a failure then is logged with its traceback): presence
    # has announced everyone, the activity items of the three joins are made, and no
    # message was sent (its activity item would be made in the background).
    for who in ("alice", "dave"):
        assert (await heard_about(carol, who))["status"] == "online"
    reader = a.token("reader", org, customers=[customer])
    path = f"/api/v1/customers/{customer}/activity"

    async def three_items() -> bool:
        return len((await a.http("GET", path, token=reader))[1]["items"]) == 3

    await until(three_items, 5, "the joins' activity items")
    nodes.cut.cut()
    for node in (a, b):
        await until(lambda n=node: _not_ready(n), 5, "Redis seen gone")
    await alice.close()  # her leave cannot reach the cluster: owed by node B
    await until(lambda: _logged(b, "cluster write owed"), 5, "the leave owed")
    await asyncio.sleep(20)  # the outage lasts 20 s
    nodes.cut.restore()
    back = time.monotonic()

    left = await carol.next("member:left", timeout=10)
    assert (left["userId"], left["userName"], left["conversationId"]) == (
        "alice",
        "Alice",
        conversation,
    )
    # Messages cross nodes again, both ways, within 10 s of Redis's return.
    sent: set[str] = set()
    for sender, hearer, text in ((dave, carol, "b-to-a"), (carol, dave, "a-to-b")):
        sent.add(await _crosses(sender, hearer, target, text, back + 10, sent))
    took = time.monotonic() - back
    assert took < 10
    assert len(await node_ids(nodes)) == 2
    assert "stopped answering" not in a.log() + b.log()  # nobody was reaped
    assert "Traceback" not in a.log() + b.log()
    print(f"after a 20 s outage: leave told and messages crossing {took:.1f} s after it")


async def test_a_message_stored_as_redis_goes_reaches_the_other_node_first_when_back(
    faulty, scratch_postgres
):
    """The soak's lost message: a send whose turn was taken before Redis went away and
    whose row was committed after. The sender's node tells its own sockets at once and owes
    the others the emit and the room's turn: once Redis is back the other node hears it
    once, before anything newer in the room; the sender's sockets do not hear it twice."""
    database = await TcpCut(POSTGRES_PORT).start()  # the write is held there
    url = f"postgres://postgres@127.0.0.1:{database.port}/{scratch_postgres.name}"
    try:
        nodes = faulty(env={"LVNG_NODE_TTL": "3", "LVNG_DATABASE_URL": url})
        # Started off the event loop: the proxy in front of the database runs on it.
        a = await asyncio.to_thread(nodes.start_node)
        b = await asyncio.to_thread(nodes.start_node)
        target, carol, alice = await _carol_on_a_alice_on_b(nodes, a, b)

        database.hold(b"messages_message")  # the message's INSERT (nothing else waits)
        sending = asyncio.create_task(carol.call("message:send", {**target, "content": "m1"}))
        await asyncio.wait_for(database.held.wait(), 5)  # the turn is taken, the row waits
        nodes.cut.cut()
        database.release()
        ack = await sending
        assert ack["ok"] is True, ack
        mine = await carol.next("message:new")  # her own node told her at once
        assert (mine["id"], mine["content"]) == (ack["id"], "m1")
        await until(lambda: _logged(a, "cluster write owed"), 5, "the emit owed")
        assert alice.unread("message:new") == []  # Redis is away: node B cannot know

        nodes.cut.restore()
        # Alice sends at once, again while refused: the room is node A's until node B
        # heard m1, so her message, accepted, comes after it.
        later = await _accepted(alice, {**target, "content": "m2"})
        assert await alice.next("message:new", timeout=15) == mine
        assert (await alice.next("message:new"))["id"] == later["id"]
        assert (await carol.next("message:new"))["id"] == later["id"]  # m1 once

        async def released() -> bool:  # every turn (an owed release is made soon after)
            return await nodes.redis.keys(f"{nodes.name}:lock:*") == []

        await until(released, 5, "the turns released")
        assert "owed cluster write(s) now that Redis is back" in a.log()
        assert "Traceback" not in a.log() + b.log()
    finally:
        await database.close()


async def test_an_emit_whose_answer_redis_lost_is_heard_once_on_every_node(faulty):
    """A message's broadcast script ran as Redis went away from its node (node A), and its
    answer was lost: node A told its own sockets and owes the emit to the other nodes,
    while node B (its own line to Redis intact) heard it from the script. Once Redis is
    back for A, the owed emit goes out again with the same id: B skips it, and nobody
    hears the message twice (a recovery reads it once too: `RecoveryStore.missed`)."""
    nodes, a, b = await _a_behind_the_cut_b_direct(faulty)
    target, carol, alice = await _carol_on_a_alice_on_b(nodes, a, b)

    nodes.cut.cut_after(b"answer-lost")  # the script of its message:new
    ack = await carol.call("message:send", {**target, "content": "answer-lost"})
    assert ack["ok"] is True, ack
    await asyncio.wait_for(nodes.cut.tripped.wait(), 5)  # the emit comes after the ack
    mine = await carol.next("message:new")  # her own node told her at once
    assert (mine["id"], mine["content"]) == (ack["id"], "answer-lost")
    heard = await alice.next("message:new")  # published by the script before the cut
    assert (heard["id"], heard["content"]) == (ack["id"], "answer-lost")
    await until(lambda: _logged(a, "cluster write owed"), 5, "the emit owed")
    assert await a.metric("lvng_cluster_owed_writes") >= 1  # the emit, the turn's release

    nodes.cut.restore()
    later = await _accepted(alice, {**target, "content": "m2"})
    # The owed emit was made before the room's turn came to node B: a repeat would be here.
    assert (await alice.next("message:new", timeout=15))["id"] == later["id"]
    assert (await carol.next("message:new", timeout=15))["id"] == later["id"]
    assert "owed cluster write(s) now that Redis is back" in a.log()
    assert await a.metric("lvng_cluster_owed_writes") == 0
    assert "Traceback" not in a.log() + b.log()


async def test_a_broadcast_run_again_after_its_answer_was_lost_is_heard_once(faulty):
    """redis-py runs a command again after a connection error (`redis_client`): a message's
    broadcast script whose answer was lost on a connection Redis reset (Redis still up)
    runs twice, published under two offsets and logged twice in the room's stream. Each
    node hears it once (emit ids: core/transport/emit_ids.py)."""
    nodes, a, b = await _a_behind_the_cut_b_direct(faulty)
    target, carol, alice = await _carol_on_a_alice_on_b(nodes, a, b)

    nodes.cut.cut_after(b"run-twice", refuse=False)
    ack = await carol.call("message:send", {**target, "content": "run-twice"})
    assert ack["ok"] is True, ack
    await asyncio.wait_for(nodes.cut.tripped.wait(), 5)
    for client in (carol, alice):
        heard = await client.next("message:new")
        assert (heard["id"], heard["content"]) == (ack["id"], "run-twice")
    [stream] = await nodes.redis.keys(f"{nodes.name}:recovery:s:*/channel:{target['channelId']}")
    logged = [f for _, f in await nodes.redis.xrange(stream) if "run-twice" in f["p"]]
    assert len(logged) == 2 and logged[0]["e"] == logged[1]["e"]  # it did run twice

    later = await _accepted(alice, {**target, "content": "m2"})
    assert (await alice.next("message:new", timeout=15))["id"] == later["id"]
    assert (await carol.next("message:new", timeout=15))["id"] == later["id"]
    assert "Traceback" not in a.log() + b.log()


async def _a_behind_the_cut_b_direct(faulty: Any) -> tuple[Any, LiveServer, LiveServer]:
    """Two nodes: A reaches Redis through the test's TcpCut, B straight (its line intact)."""
    nodes = faulty(env={"LVNG_NODE_TTL": "3"})
    a = await asyncio.to_thread(nodes.start_node)
    nodes.env["LVNG_REDIS_URL"] = f"redis://127.0.0.1:{nodes.cut.upstream}/0"
    b = await asyncio.to_thread(nodes.start_node)
    return nodes, a, b


async def _accepted(sender: Client, body: dict[str, Any]) -> dict[str, Any]:
    """`message:send` until accepted: refused UNAVAILABLE while a node catches up after
    an outage (no room turn then), sent again. The accepted ack."""
    while not (ack := await sender.call("message:send", body))["ok"]:
        assert ack["error"]["code"] == "UNAVAILABLE", ack
        await asyncio.sleep(0.05)
    return dict(ack)


async def _carol_on_a_alice_on_b(
    nodes: Any, a: LiveServer, b: LiveServer
) -> tuple[dict[str, str], Client, Client]:
    """Once both nodes are listed: a channel's target, Carol in it on node A, Alice on B."""
    await until(lambda: _count(node_ids(nodes), 2), 5, "both nodes listed")
    org, channel = uid("org"), uid("ch")
    carol = await in_channel(a, org, channel, "carol", name="Carol")
    alice = await in_channel(b, org, channel, "alice", name="Alice")
    return {"channelId": channel}, carol, alice


async def _crosses(
    sender: Client,
    hearer: Client,
    target: dict[str, Any],
    text: str,
    deadline: float,
    earlier: set[str],
) -> str:
    """Send until a send is accepted (one refused while the nodes are reconnecting is
    tried again); the other node's client hears it (after, maybe, the `earlier` sends'
    messages: its own comes after its ack); fails past `deadline` (monotonic). An accepted
    send is never lost: no room turn is taken before every node listens again. Its id."""
    hearer.unread("message:new")  # what came before is not the question
    attempt = 0
    while True:
        assert time.monotonic() < deadline, f"{text} was not accepted in time"
        attempt += 1
        ack = await sender.call("message:send", {**target, "content": f"{text}-{attempt}"})
        if ack["ok"]:
            while (heard := (await hearer.next("message:new"))["id"]) != ack["id"]:
                assert heard in earlier, heard
            return str(ack["id"])
        assert ack["error"]["code"] == "UNAVAILABLE", ack
        await asyncio.sleep(0.1)


async def _not_ready(node: LiveServer) -> bool:
    return (await node.http("GET", "/readyz"))[0] == 503


async def _logged(node: LiveServer, text: str) -> bool:
    return text in node.log()


async def test_a_killed_nodes_grace_and_typing_are_adopted(faulty):
    nodes = faulty(config=settings(grace=4, typing=4))
    a, b = nodes.start_node(), nodes.start_node()
    await until(lambda: _count(node_ids(nodes), 2), 5, "both nodes listed")
    [b_id] = [n for n in await node_ids(nodes) if f"-{b.proc.pid}-" in n]
    org, customer, conversation = uid("org"), uid("cust"), uid("conv")
    target = {"conversationId": conversation, "customerId": customer}
    carol = await in_conversation(a, org, customer, conversation, "carol", name="Carol")
    await heard(carol)
    alice = await b.connect("alice", org, name="Alice")
    assert await heard(carol) == update("alice", "Alice", "online")
    tina = await in_conversation(b, org, customer, conversation, "tina", name="Tina")
    assert await heard(carol) == update("tina", "Tina", "online")
    assert (await tina.call("typing:start", target))["ok"] is True
    assert (await carol.next("typing:start"))["userId"] == "tina"
    await alice.close()  # node B starts her grace, a deadline in its hash
    field = f"presence.grace\t{org}/alice"
    hash_of_b = f"{nodes.name}:dl:{b_id}"
    await until(lambda: nodes.redis.hexists(hash_of_b, field), 5, "grace recorded")

    b.kill()  # neither timer fires on B: node A adopts them once B is reaped
    assert await heard_about(carol, "alice") == update("alice", "Alice", "offline")
    stop = await carol.next("typing:stop", timeout=15)
    assert (stop["userId"], stop["conversationId"], stop["reason"]) == (
        "tina",
        conversation,
        "timeout",
    )
    assert "adopted" in a.log()
    assert "Traceback" not in a.log()

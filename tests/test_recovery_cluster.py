"""Recovery on another node of the Redis set-up (contract section 12, core/recovery_store.py):
a socket whose node was killed (SIGKILL) reconnects to another node with `{pid, offset}`
and gets its sid, its rooms and every missed event once, in order, before anything new;
what cannot be replayed whole (the window passed, a room's stream trimmed, an unknown pid)
is a fresh connection; a room no longer allowed is not set back.

python-socketio's client does not speak recovery: a raw client (tests/raw.py) does, as
socket.io-client does (tests/e2e/recovery/cluster.test.mjs runs that one).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import redis.asyncio as aioredis

from tests.live import LiveServer
from tests.messages.support import send, uid
from tests.raw import RawSocket
from tests.test_e2e import E2E, node_ready
from tests.test_recovery import CASES, connect_raw, recoveries, until_gone

pytestmark = pytest.mark.timeout(120)

CLUSTER_CASE = CASES / "cluster.test.mjs"


def offset_of(pkt: str) -> int:
    return int(json.loads(pkt[1:])[-1])


async def events_until(raw: RawSocket, predicate: Any, timeout: float = 10.0) -> list[str]:
    """Every event packet, in arrival order, up to and including the first matching one."""
    seen: list[str] = []
    while True:
        pkt = await raw.next_packet(lambda p: p.startswith("2"), timeout)
        seen.append(pkt)
        if predicate(pkt):
            return seen


def contents(packets: list[str]) -> list[str]:
    return [json.loads(p[1:])[1]["content"] for p in packets if p.startswith('2["message:new"')]


async def raw_join(raw: RawSocket, ack_id: int, event: str, payload: dict[str, Any]) -> None:
    await raw.send(f"2{ack_id}" + json.dumps([event, payload]))
    ack = await raw.ack(ack_id)
    assert ack["ok"] is True, ack


async def on_a(a: LiveServer, org: str, channel: str, **claims: Any) -> tuple[RawSocket, dict]:
    """Alice, raw, on node A, in `channel`; her CONNECT reply."""
    alice, reply = await connect_raw(a, {"token": a.token("alice", org, **claims)})
    session = json.loads(reply[1:])
    await alice.next_packet(lambda p: p.startswith('2["connected"'))
    await raw_join(alice, 1, "channel:join", {"channelId": channel})
    return alice, session


async def message_seen(raw: RawSocket, content: str) -> int:
    pkt = await raw.next_packet(lambda p: p.startswith('2["message:new"') and content in p)
    return offset_of(pkt)


@pytest.fixture
def pair(cluster: Any) -> tuple[LiveServer, LiveServer]:
    """Node A and node B of one cluster (one Redis)."""
    nodes = cluster()
    return nodes.start_node(), nodes.start_node()


def claim(
    server: LiveServer, org: str, session: dict[str, Any], offset: int, **claims: Any
) -> dict[str, Any]:
    """Alice's auth naming her old session (`pid`) and the last offset she saw."""
    token = server.token("alice", org, **claims)
    return {"token": token, "pid": session["pid"], "offset": str(offset)}


async def recovered(
    server: LiveServer, auth: dict[str, Any], session: dict[str, Any]
) -> tuple[RawSocket, list[str]]:
    """Alice back on `server` with her session (the same sid and pid), `recovered`: the
    socket and the event packets up to its `connected`."""
    again, reply = await connect_raw(server, auth)
    assert json.loads(reply[1:]) == session
    before = await events_until(again, lambda p: p.startswith('2["connected"'))
    welcome = json.loads(before[-1][1:])[1]
    assert welcome["recovered"] is True and welcome["socketId"] == session["sid"]
    return again, before


async def test_a_killed_nodes_socket_recovers_on_another_node_with_every_missed_event(pair):
    a, b = pair
    org, channel = uid("org"), uid("ch")
    target = {"channelId": channel}
    alice, session = await on_a(a, org, channel)
    bob = await b.connect("bob", org)
    assert (await bob.call("channel:join", target))["ok"] is True
    await send(bob, target, "m1")
    await send(bob, target, "m2")
    await message_seen(alice, "m1")
    offset = await message_seen(alice, "m2")  # the last one this client saw

    a.kill()  # no goodbye: the session is only in Redis now
    await alice.close()
    await send(bob, target, "m3")
    await send(bob, target, "m4")

    again, before = await recovered(b, claim(b, org, session, offset), session)
    assert contents(before) == ["m3", "m4"]  # each missed one once, in order
    offsets = [offset_of(p) for p in before]
    assert offsets == sorted(set(offsets)) and offsets[0] > offset

    # Its room is set back: it hears new messages there (once) and may send to it.
    await send(bob, target, "m5")
    after = await events_until(again, lambda p: '"m5"' in p)
    assert contents(after) == ["m5"] and offset_of(after[-1]) > offsets[-1]
    await again.send("22" + json.dumps(["message:send", {**target, "content": "back"}]))
    assert (await again.ack(2))["ok"] is True
    assert (await bob.next("message:new"))["content"] == "m1"
    for expected in ("m2", "m3", "m4", "m5", "back"):
        assert (await bob.next("message:new"))["content"] == expected
    found = recoveries(b)
    assert (found["recovered"], found["unknown"], found["expired"]) == (1, 0, 0)
    assert found["replayed"] >= 2
    await again.close()


async def test_a_reconnect_to_another_node_after_a_clean_drop_recovers(pair):
    """The node lives on; its socket's transport dropped; the client lands elsewhere."""
    a, b = pair
    org, channel = uid("org"), uid("ch")
    alice, session = await on_a(a, org, channel)
    bob = await b.connect("bob", org)
    assert (await bob.call("channel:join", {"channelId": channel}))["ok"] is True
    await send(bob, {"channelId": channel}, "seen")
    offset = await message_seen(alice, "seen")
    await alice.close()
    await until_gone(a)
    await send(bob, {"channelId": channel}, "missed")
    again, before = await recovered(b, claim(b, org, session, offset), session)
    assert contents(before) == ["missed"]
    await again.close()


async def fresh(server: LiveServer, auth: dict[str, Any], session: dict[str, Any]) -> RawSocket:
    raw, reply = await connect_raw(server, auth)
    got = json.loads(reply[1:])
    assert got["sid"] != session["sid"] and got["pid"] != session["pid"]
    welcome = await raw.next_event("connected")
    assert "recovered" not in welcome
    return raw


async def not_in_room(raw: RawSocket, target: dict[str, Any]) -> None:
    """Nothing of the old session was set back: the room must be joined again."""
    await raw.send("29" + json.dumps(["message:send", {**target, "content": "x"}]))
    ack = await raw.ack(9)
    assert ack["ok"] is False and ack["error"]["code"] == "NOT_IN_ROOM", ack


async def test_past_the_window_a_killed_nodes_socket_starts_fresh_elsewhere(cluster):
    nodes = cluster(env={"LVNG_RECOVERY_WINDOW": "2"})
    a, b = nodes.start_node(), nodes.start_node()
    org, channel = uid("org"), uid("ch")
    alice, session = await on_a(a, org, channel)
    a.kill()
    await alice.close()
    # The session's key expires a window after node A last refreshed it.
    redis = aioredis.from_url(nodes.env["LVNG_REDIS_URL"], decode_responses=True)
    key = f"{nodes.env['LVNG_CLUSTER_NAME']}:recovery:p:{session['pid']}"
    try:
        deadline = time.monotonic() + 10
        while await redis.exists(key):
            assert time.monotonic() < deadline, "the session outlived its window"
            await asyncio.sleep(0.1)
    finally:
        await redis.aclose()
    raw = await fresh(b, claim(b, org, session, 1), session)
    await not_in_room(raw, {"channelId": channel})
    assert recoveries(b)["unknown"] == 1
    await raw.close()


async def test_a_trimmed_stream_is_a_fresh_connection_never_a_silent_gap(cluster):
    nodes = cluster(env={"LVNG_RECOVERY_LOG_SIZE": "3"})
    a, b = nodes.start_node(), nodes.start_node()
    org, channel = uid("org"), uid("ch")
    target = {"channelId": channel}
    alice, session = await on_a(a, org, channel)
    bob = await b.connect("bob", org)
    assert (await bob.call("channel:join", target))["ok"] is True
    await send(bob, target, "seen")
    offset = await message_seen(alice, "seen")
    a.kill()
    await alice.close()
    for text in ("one", "two", "three", "four"):  # the room's stream keeps 3
        await send(bob, target, text)
    raw = await fresh(b, claim(b, org, session, offset), session)
    await not_in_room(raw, target)
    found = recoveries(b)
    assert (found["recovered"], found["expired"]) == (0, 1)
    await raw.close()


async def test_an_unknown_pid_is_a_fresh_connection(pair):
    a, b = pair
    org = uid("org")
    session = {"sid": "-", "pid": "not-a-session-of-anyone"}
    raw = await fresh(b, claim(b, org, session, 1), session)
    assert recoveries(b)["unknown"] == 1
    await raw.close()
    assert a.proc is not None


async def test_a_room_no_longer_allowed_is_not_set_back_on_another_node(pair):
    a, b = pair
    org, channel, customer, conversation = uid("org"), uid("ch"), uid("cust"), uid("conv")
    in_channel = {"channelId": channel}
    in_conversation = {"conversationId": conversation, "customerId": customer}
    alice, session = await on_a(a, org, channel, customers=[customer])
    await raw_join(alice, 3, "conversation:join", in_conversation)
    bob = await b.connect("bob", org, customers=[customer])
    assert (await bob.call("channel:join", in_channel))["ok"] is True
    assert (await bob.call("conversation:join", in_conversation))["ok"] is True
    await send(bob, in_conversation, "cv1")
    await send(bob, in_channel, "ch1")
    offset = await message_seen(alice, "ch1")
    a.kill()
    await alice.close()
    await send(bob, in_conversation, "cv2")
    await send(bob, in_channel, "ch2")

    # Alice's new token no longer grants the customer: the conversation stays behind.
    again, before = await recovered(b, claim(b, org, session, offset, customers=[]), session)
    assert contents(before) == ["ch2"]  # nothing of the conversation
    await send(bob, in_conversation, "cv3")
    await send(bob, in_channel, "ch3")
    after = await events_until(again, lambda p: '"ch3"' in p)
    assert contents(after) == ["ch3"]
    await not_in_room(again, in_conversation)
    await again.close()


class Killer(ThreadingHTTPServer):
    """POST /kill: SIGKILL the node holding the clients (the one with connections), answer
    the survivor's URL."""

    def __init__(self, nodes: list[LiveServer]) -> None:
        self.nodes = nodes
        self.killed: list[LiveServer] = []
        super().__init__(("127.0.0.1", 0), KillHandler)


class KillHandler(BaseHTTPRequestHandler):
    server: Killer

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        if self.path != "/kill":
            self.send_error(404)
            return
        held = [node for node in self.server.nodes if active(node) > 0]
        assert len(held) == 1, "the clients are not all on one node"
        held[0].kill()
        self.server.killed.append(held[0])
        survivor = next(node for node in self.server.nodes if node is not held[0])
        body = survivor.url.encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def active(node: LiveServer) -> float:
    with urllib.request.urlopen(f"{node.url}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return float(re.search(r"(?m)^lvng_connections_active (\S+)$", text).group(1))


def run_kill_case(url: str, nodes: list[LiveServer], switch: bool) -> Killer:
    node_ready()
    killer = Killer(nodes)
    thread = threading.Thread(target=killer.serve_forever, daemon=True)
    thread.start()
    env = {
        **os.environ,
        "LVNG_URL": url,
        "LVNG_JWT_SECRET": nodes[0].secret,
        "LVNG_CONTROL_URL": f"http://127.0.0.1:{killer.server_address[1]}",
        "LVNG_SWITCH": "1" if switch else "0",
    }
    try:
        result = subprocess.run(
            ["node", "--test", "--test-force-exit", "--test-reporter=spec", str(CLUSTER_CASE)],
            cwd=E2E,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        killer.shutdown()
        killer.server_close()
    logs = "".join(f"--- {node.url} ---\n{node.log()[-3000:]}\n" for node in nodes)
    assert result.returncode == 0, f"{result.stdout[-4000:]}\n{result.stderr[-2000:]}\n{logs}"
    assert len(killer.killed) == 1
    return killer


async def test_socket_io_client_recovers_on_another_node_after_a_kill(pair):
    """The stock socket.io-client, over websocket and polling, pointed at the survivor."""
    a, b = pair
    killer = run_kill_case(a.url, [a, b], switch=True)
    assert killer.killed == [a]
    found = recoveries(b)
    assert (found["recovered"], found["unknown"], found["expired"]) == (2, 0, 0)


async def test_socket_io_client_recovers_through_nginx_after_its_node_is_killed(pair, tmp_path):
    """The same behind nginx with deploy/nginx/lvng.conf: the client reconnects to the
    proxy, which sends it to the live node."""
    from tests.test_nginx import Nginx

    a, b = pair
    proxy = Nginx(tmp_path / "nginx", [a, b]).start()
    try:
        killer = run_kill_case(proxy.url, [a, b], switch=False)
    finally:
        proxy.stop()
    survivor = b if killer.killed == [a] else a
    found = recoveries(survivor)
    assert (found["recovered"], found["unknown"], found["expired"]) == (2, 0, 0)


async def test_another_users_claim_is_refused_and_the_owner_still_recovers(pair):
    """Rights on another node: mallory naming alice's pid is refused (FORBIDDEN) and the
    session stays in Redis for alice, who recovers right after, on the same node."""
    a, b = pair
    org, channel = uid("org"), uid("ch")
    alice, session = await on_a(a, org, channel)
    welcome_offset = await alice_offset(alice, b, org, channel)
    a.kill()
    await alice.close()
    mine = claim(b, org, session, welcome_offset)
    mallory, refused = await connect_raw(b, {**mine, "token": b.token("mallory", org)})
    assert refused.startswith("4") and json.loads(refused[1:])["data"]["code"] == "FORBIDDEN"
    await mallory.close()
    again, _ = await recovered(b, claim(b, org, session, welcome_offset), session)
    found = recoveries(b)
    assert (found["refused"], found["recovered"]) == (1, 1)
    await again.close()


async def alice_offset(alice: RawSocket, server: LiveServer, org: str, channel: str) -> int:
    """A message of bob's reaches alice: its offset, the last she saw."""
    bob = await server.connect("bob", org)
    assert (await bob.call("channel:join", {"channelId": channel}))["ok"] is True
    await send(bob, {"channelId": channel}, "hi")
    return await message_seen(alice, "hi")


async def test_a_socket_the_client_disconnected_is_not_recovered_elsewhere(pair):
    """A disconnect the client asked for (`41`) ends the session, as on one node."""
    a, b = pair
    org, channel = uid("org"), uid("ch")
    alice, session = await on_a(a, org, channel)
    offset = await alice_offset(alice, b, org, channel)
    await alice.send("1")  # Socket.IO DISCONNECT
    await alice.close()
    await until_gone(a)  # node A handled it (the session's end is written right then)
    raw = await fresh(b, claim(b, org, session, offset), session)
    await not_in_room(raw, {"channelId": channel})
    assert recoveries(b)["unknown"] == 1
    await raw.close()

"""Connection-state recovery (contract section 12, core/recovery.py) under the settings
that bound it: the window, the size of a room's log, the presence grace, a restart on
PostgreSQL; its metrics; the offset argument and `pid` as a Python client sees them.

The cases run socket.io-client (tests/e2e/recovery/*.test.mjs): python-socketio's client
does not speak recovery (python-socketio#1258); the Python client checks the wire.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from tests.live import LiveServer
from tests.raw import RawSocket
from tests.services import ScratchDatabase
from tests.test_e2e import E2E, Control, node_ready

CASES = E2E / "recovery"


def run_case(live: LiveServer, case: str, control: Control | None = None) -> None:
    node_ready()
    env = {**os.environ, "LVNG_URL": live.url, "LVNG_JWT_SECRET": live.secret}
    if control is not None:
        env["LVNG_CONTROL_URL"] = f"http://127.0.0.1:{control.server_address[1]}"
    result = subprocess.run(
        ["node", "--test", "--test-force-exit", "--test-reporter=spec", str(CASES / case)],
        cwd=E2E,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, (
        f"{case}:\n{result.stdout[-4000:]}\n{result.stderr[-2000:]}\n"
        f"--- server log ---\n{live.log()[-3000:]}"
    )


def recoveries(live: LiveServer) -> dict[str, float]:
    import urllib.request

    with urllib.request.urlopen(f"{live.url}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("lvng_recoveries_total{"):
            result = line.split('result="', 1)[1].split('"', 1)[0]
            found[result] = float(line.rsplit(" ", 1)[1])
        elif line.startswith("lvng_recovery_replayed_events_total "):
            found["replayed"] = float(line.rsplit(" ", 1)[1])
    return found


def serve(tmp_path: Path, env: dict[str, str] | None = None, config: str = "") -> LiveServer:
    args = []
    if config:
        (tmp_path / "lvng.toml").write_text(config)
        args = ["--config", str(tmp_path / "lvng.toml")]
    return LiveServer(tmp_path, env=env, args=args).start()


def test_past_the_window_a_reconnect_is_a_fresh_connection(tmp_path: Path) -> None:
    live = serve(tmp_path, {"LVNG_RECOVERY_WINDOW": "1"})
    try:
        run_case(live, "window.test.mjs")
        assert recoveries(live) == {
            "recovered": 0,
            "expired": 1,
            "unknown": 0,
            "refused": 0,
            "replayed": 0,
        }
    finally:
        live.stop()


def test_a_trimmed_log_is_a_fresh_connection_never_a_silent_gap(tmp_path: Path) -> None:
    live = serve(tmp_path, {"LVNG_RECOVERY_LOG_SIZE": "4"})
    try:
        run_case(live, "trimmed.test.mjs")
        found = recoveries(live)
        assert (found["recovered"], found["expired"]) == (1, 1)
        assert found["replayed"] >= 1  # "one" (and what was in flight at the drop)
    finally:
        live.stop()


def test_a_recovered_user_does_not_flap_offline(tmp_path: Path) -> None:
    live = serve(tmp_path, config="[plugins.presence]\noffline_grace_seconds = 2\n")
    try:
        run_case(live, "presence.test.mjs")
        assert recoveries(live)["recovered"] == 1
    finally:
        live.stop()


def restart_case(tmp_path: Path, env: dict[str, str]) -> None:
    live = serve(tmp_path, env)
    control = Control(live)
    thread = threading.Thread(target=control.serve_forever, daemon=True)
    thread.start()
    try:
        run_case(live, "restart.test.mjs", control)
        assert control.restarts == 1
        found = recoveries(live)
        assert found["recovered"] == 1
        assert found["replayed"] >= 2  # r1, r2, and the presence and member events of the gap
        # Read once at start, then gone: a second restart does not replay it again.
        assert not list(tmp_path.glob("*.recovery.json"))
    finally:
        control.shutdown()
        control.server_close()
        live.stop()


def test_a_graceful_restart_of_the_embedded_default_recovers(tmp_path: Path) -> None:
    restart_case(tmp_path, {})


async def test_a_graceful_restart_on_postgresql_recovers(
    tmp_path: Path, scratch_postgres: ScratchDatabase
) -> None:
    restart_case(tmp_path, {"LVNG_DATABASE_URL": scratch_postgres.url})


async def test_every_room_event_carries_an_increasing_offset_and_connect_a_pid(
    tmp_path: Path,
) -> None:
    live = serve(tmp_path)
    try:
        alice = await live.connect("alice", "acme")
        await live.connect("bob", "acme")
        await alice.next("presence:update")  # alice's own
        await alice.next("presence:update")  # bob's
        # connected (to the socket), then two presence updates (to the organization):
        offsets = [int(offset) for offset in alice.offsets]
        assert len(offsets) == 3 and offsets == sorted(set(offsets))
        # The payloads are unchanged: the offset is an extra, last argument.
        assert alice.received["connected"][0]["userId"] == "alice"
    finally:
        live.stop()


async def test_recovery_off_means_no_offset(tmp_path: Path) -> None:
    live = serve(tmp_path, {"LVNG_RECOVERY_WINDOW": "0"})
    try:
        alice = await live.connect("alice", "acme")
        await alice.next("presence:update")
        assert alice.received["connected"][0]["userId"] == "alice"
        assert alice.offsets == []
    finally:
        live.stop()


async def connect_raw(live: LiveServer, auth: dict[str, Any]) -> tuple[RawSocket, str]:
    raw = await RawSocket(live.url).open(handshake=False)
    await raw.send("0" + json.dumps(auth))
    return raw, await raw.next_packet(lambda p: p.startswith(("0", "4")))


async def until_gone(live: LiveServer) -> None:
    """Wait for the server to have handled the drop (its connection gauge at 0)."""
    deadline = time.monotonic() + 5
    while "lvng_connections_active 0.0" not in (await live.http("GET", "/metrics"))[1]:
        assert time.monotonic() < deadline, "the dropped socket is still connected"
        await asyncio.sleep(0.05)


async def test_the_pid_is_private_and_only_its_user_recovers(tmp_path: Path) -> None:
    live = serve(tmp_path)
    try:
        alice, reply = await connect_raw(live, {"token": live.token("alice", "acme")})
        session = json.loads(reply[1:])
        assert set(session) == {"sid", "pid"} and session["pid"] != session["sid"]
        welcome = await alice.next_packet(lambda p: p.startswith('2["connected"'))
        offset = json.loads(welcome[1:])[-1]
        await alice.close()  # the transport goes, not the socket: it may come back
        await until_gone(live)

        # Another user with alice's pid: refused (nothing of alice's session shown).
        mallory, refused = await connect_raw(
            live, {"token": live.token("mallory", "acme"), "pid": session["pid"], "offset": offset}
        )
        assert refused.startswith("4") and json.loads(refused[1:])["data"]["code"] == "FORBIDDEN"
        await mallory.close()

        # Alice herself: the same sid and pid, and `connected` says so.
        again, reply = await connect_raw(
            live, {"token": live.token("alice", "acme"), "pid": session["pid"], "offset": offset}
        )
        assert json.loads(reply[1:]) == session
        back = json.loads((await again.next_packet(lambda p: '"recovered"' in p))[1:])
        assert back[1]["recovered"] is True and back[1]["socketId"] == session["sid"]
        await again.close()
    finally:
        live.stop()


async def test_a_reconnect_before_the_node_saw_the_drop_still_recovers(tmp_path: Path) -> None:
    """The client saw its transport die first (a network change): the node still holds
    the old socket when the reconnect comes. The old one goes, the new one recovers."""
    live = serve(tmp_path)
    try:
        old, reply = await connect_raw(live, {"token": live.token("alice", "acme")})
        session = json.loads(reply[1:])
        welcome = await old.next_packet(lambda p: p.startswith('2["connected"'))
        offset = json.loads(welcome[1:])[-1]
        again, reply = await connect_raw(
            live, {"token": live.token("alice", "acme"), "pid": session["pid"], "offset": offset}
        )
        assert json.loads(reply[1:]) == session
        await again.next_packet(lambda p: '"recovered"' in p)
        assert recoveries(live)["recovered"] == 1
        await again.close()
        await old.close()
    finally:
        live.stop()


async def test_with_redis_the_same_node_recovers_through_redis_too(cluster) -> None:
    """The Redis set-up: the node the socket was on recovers it through the cluster's
    offsets and sessions, as any node would (tests/test_recovery_cluster.py: another one)."""
    nodes = cluster()
    first = nodes.start_node()
    alice, reply = await connect_raw(first, {"token": first.token("alice", "acme")})
    session = json.loads(reply[1:])
    welcome = await alice.next_packet(lambda p: p.startswith('2["connected"'))
    offset = json.loads(welcome[1:])[-1]
    await alice.close()
    await until_gone(first)
    auth = {"token": first.token("alice", "acme"), "pid": session["pid"], "offset": offset}
    again, reply = await connect_raw(first, auth)
    assert json.loads(reply[1:]) == session
    await again.next_packet(lambda p: '"recovered"' in p)
    await again.close()
    assert recoveries(first)["recovered"] == 1

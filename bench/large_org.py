"""The `large-org` section of `python -m bench` (issue 25): N sockets of ONE organization,
every built-in plugin on (the embedded default), each socket subscribed to the next
`SUBSCRIBE` users (`presence:subscribe`, as a client showing a member list would).

- connects/s: N handshakes, 50 in flight per generator process, until every socket has
  its `connected` (the presence of each connect done by the server meanwhile).
- server CPU per connect: the server process's CPU time (user + system) from the first
  handshake until every generator is ready (every socket connected and subscribed), over
  N: what one connect and its `presence:subscribe` cost the server, whatever else runs
  on the machine.
- reconnect storm: the server gets SIGTERM (a graceful stop: it tells its clients), a new
  one starts at once on the same port and data, and the sockets come back by
  socket.io-client's own reconnection (default back-off: 1 s, up to 5 s, randomized).
  Measured from the SIGTERM: seconds until every socket is connected again, and until
  `GET /api/v1/presence` (every page) lists all N users online. Skipped with
  `--no-storm` (`storm` is then null): a connect measurement in a fraction of the time.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

SUBSCRIBE = 20  # ids each socket subscribes to
CONCURRENCY = 50  # handshakes in flight per generator process
ORG = "bigorg"


async def _spawn(bench: Path, job: dict[str, Any], path: Path) -> asyncio.subprocess.Process:
    path.write_text(json.dumps(job))
    return await asyncio.create_subprocess_exec(
        "node",
        str(bench / "large_org.js"),
        str(path),
        cwd=bench,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=16 * 1024 * 1024,
    )


async def _line(proc: asyncio.subprocess.Process, key: str, timeout: float) -> dict[str, Any]:
    assert proc.stdout is not None
    while True:
        raw = await asyncio.wait_for(proc.stdout.readline(), timeout)
        if not raw:
            raise RuntimeError("a large-org generator ended early")
        text = raw.decode().strip()
        if text.startswith("{"):
            data = json.loads(text)
            if "error" in data:
                raise RuntimeError(f"large-org generator: {data['error']}")
            if key in data:
                return dict(data[key])


def _online(url: str, bearer: str) -> dict[str, int]:
    """How many users every page of GET /api/v1/presence lists, by status."""
    statuses: dict[str, int] = {}
    cursor = None
    while True:
        query = "limit=500" + ("" if cursor is None else f"&cursor={cursor}")
        request = urllib.request.Request(
            f"{url}/api/v1/presence?{query}", headers={"Authorization": f"Bearer {bearer}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            body = json.loads(response.read())
        for user in body["users"]:
            statuses[user["status"]] = statuses.get(user["status"], 0) + 1
        cursor = body["nextCursor"]
        if cursor is None:
            return statuses


def _present(statuses: dict[str, int]) -> int:
    """Users shown as connected: `online`, or `away` (a socket idle for away_after_seconds
    is away, rightly, in a long storm on a loaded machine)."""
    return statuses.get("online", 0) + statuses.get("away", 0)


async def large_org_run(
    bench: Path,
    root: Path,
    count: int,
    procs: int,
    start_server: Any,
    token: Any,
    cpu_seconds: Callable[[int], float],
    *,
    storm: bool = True,
) -> dict[str, Any]:
    """One run at `count` sockets; `start_server(kind, workdir, port=)`, `token(sub, org)`
    and `cpu_seconds(pid)` are the bench's own. Without `storm`, no restart."""
    workdir = root / f"large-org-{count}"
    server = start_server("lvng", workdir)
    users = [f"m{i:05d}" for i in range(count)]
    tokens = [token(u, ORG) for u in users]
    reader = token("reader", ORG)
    parts = [list(range(i, count, procs)) for i in range(procs)]
    generators: list[asyncio.subprocess.Process] = []
    try:
        started, cpu0 = time.monotonic(), cpu_seconds(server.proc.pid)
        for n, part in enumerate(parts):
            job = {
                "url": server.url,
                "tokens": [tokens[i] for i in part],
                "users": users,
                "concurrency": CONCURRENCY,
                "subscribe": SUBSCRIBE,
                "deadline": 900,
            }
            generators.append(await _spawn(bench, job, workdir / f"job{n}.json"))
        ready = await asyncio.gather(*(_line(g, "ready", 900) for g in generators))
        connect_cpu = cpu_seconds(server.proc.pid) - cpu0
        connect_s = max(r["seconds"] for r in ready)
        all_ready_s = time.monotonic() - started
        online_before = _present(await asyncio.to_thread(_online, server.url, reader))
        if not storm:
            return _result(ready, connect_s, connect_cpu, all_ready_s, online_before, None)
        # The storm: SIGTERM, a new server on the same port and data at once.
        for g in generators:
            assert g.stdin is not None
            g.stdin.write(b"storm\n")
            await g.stdin.drain()
        storm_started = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(server.proc.wait, 120)
        stopped_s = time.monotonic() - storm_started
        server = start_server("lvng", workdir, port=server.port)
        storms = await asyncio.gather(*(_line(g, "storm", 600) for g in generators))
        back_s = time.monotonic() - storm_started
        online, best, statuses, deadline = 0, 0, {}, time.monotonic() + 120
        while time.monotonic() < deadline:
            statuses = await asyncio.to_thread(_online, server.url, reader)
            online = _present(statuses)
            best = max(best, online)
            if online >= count:
                break
            await asyncio.sleep(0.2)
        right_s = time.monotonic() - storm_started
    finally:
        for g in generators:
            if g.returncode is None:
                g.kill()
                await g.wait()
        server.stop()
    stormed = {
        "stop_seconds": round(stopped_s, 2),
        "all_back_seconds": round(back_s, 2),
        "presence_right_seconds": round(right_s, 2) if online >= count else None,
        "online_after": online,
        "most_online_seen": best,
        "statuses_after": statuses,
        "updates_heard": sum(s["updates"] for s in storms),
    }
    return _result(ready, connect_s, connect_cpu, all_ready_s, online_before, stormed)


def _result(
    ready: list[dict[str, Any]],
    connect_s: float,
    connect_cpu: float,
    all_ready_s: float,
    online_before: int,
    stormed: dict[str, Any] | None,
) -> dict[str, Any]:
    connected = sum(r["sockets"] for r in ready)
    return {
        "sockets": connected,
        "connects_per_s": round(connected / connect_s, 1),
        "connect_seconds": round(connect_s, 2),
        "server_cpu_ms_per_connect": round(connect_cpu * 1000 / max(connected, 1), 3),
        "subscribed": sum(r["subscribed"] for r in ready),
        "ready_seconds": round(all_ready_s, 2),
        "online_before_storm": online_before,
        "storm": stormed,
    }

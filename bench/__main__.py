"""`python -m bench`: how fast LVNG fans out, at what latency, how many connections fit.

Starts each server itself on 127.0.0.1 (LVNG on its embedded default: SQLite, one process,
rate limits raised by configuration), drives it with Node load generators written with
socket.io-client (bench/load.js, several processes), and compares, in the same run and
under the same load, bare python-socketio on Sanic (bench/bare_socketio.py) and Node's
socket.io (bench/node_server.js). Prints a table and writes JSON (`--out`).

Every process it starts stops by itself (deadlines) and is stopped by pid at the end.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt

from bench import ceiling as bench_ceiling
from bench.channels import channels_run
from bench.large_org import large_org_run

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
SECRET = "bench-secret-" + "x" * 32
MAX_SECONDS = 900  # any server or generator left behind ends by itself after this
LVNG_SETTINGS: dict[str, str] = {}  # --lvng-setting NAME=VALUE: LVNG_NAME for every run
SERVERS = ("lvng", "bare", "node")
LABELS = {"lvng": "LVNG (persisted)", "bare": "python-socketio (bare)", "node": "Node socket.io"}


@dataclass
class Sizes:
    fanout: list[int]
    senders: int
    window: int
    duration: float
    drain: float
    sustained: float
    sustained_members: int
    connections: int
    persist: list[tuple[int, int]]  # (senders, sends in flight each)
    persist_duration: float
    ceiling_seconds: float
    receiver_procs: int
    idle_procs: int
    rooms_connections: int
    rooms_rate: float  # messages/s, open loop
    rooms_duration: float
    rooms_procs: int
    settle: float = 3.0  # seconds idle sockets sit before the server's memory is read
    # The channels section: (channels, messages in each, timed channel:list calls).
    channel_list: tuple[int, int, int] = (200, 1000, 100)


FULL = Sizes(
    fanout=[100, 500, 2000],
    senders=4,
    window=8,
    duration=10,
    drain=3,
    sustained=60,
    sustained_members=500,
    connections=5000,
    persist=[(50, 1), (200, 2), (500, 2)],
    persist_duration=10,
    ceiling_seconds=3,
    receiver_procs=3,
    idle_procs=4,
    rooms_connections=10_000,
    rooms_rate=3_000,
    rooms_duration=10,
    rooms_procs=4,
)
# A check that every section runs and loses nothing, in about half a minute: one server
# of each kind serves both fan-out sizes (a full run starts a fresh one per size).
QUICK = Sizes(
    fanout=[20, 50],
    senders=2,
    window=4,
    duration=1,
    drain=1.0,
    sustained=1.5,
    sustained_members=50,
    connections=200,
    persist=[(10, 1), (20, 2)],
    persist_duration=1,
    ceiling_seconds=0.5,
    receiver_procs=1,
    idle_procs=1,
    rooms_connections=200,
    rooms_rate=100,
    rooms_duration=1,
    rooms_procs=1,
    settle=1.0,
    channel_list=(20, 30, 20),
)
QUICK_SOAK_SECONDS = 50.0  # the soak's traffic under --quick: one round of every fault
ROOM_SIZE = 10  # the many-small-rooms section: rooms of 10, each user in 2 of them
# A run is not comparable with another when the machine was already busy as it started
# (other work's load average above this share of its CPUs): its ratios, taken within the
# run under the same load, still are.
LOADED_SHARE = 0.5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def token(sub: str, org: str) -> str:
    return jwt.encode(
        {"sub": sub, "org": org, "name": sub, "exp": int(time.time()) + 7200},
        SECRET,
        algorithm="HS256",
    )


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) process `pid` has used so far, from /proc/PID/stat."""
    # The fields after the command name (which may hold spaces): utime and stime are the
    # 12th and 13th, in clock ticks.
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))


# --- servers ---------------------------------------------------------------------------


@dataclass
class Server:
    kind: str
    proc: subprocess.Popen
    port: int
    workdir: Path
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def start_server(
    kind: str, workdir: Path, database_url: str | None = None, port: int | None = None
) -> Server:
    port = port or free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LVNG_")}
    env["BENCH_MAX_SECONDS"] = str(MAX_SECONDS)
    if kind == "lvng":
        env.update(
            {
                "LVNG_JWT_SECRET": SECRET,
                "LVNG_LOG_LEVEL": "WARNING",
                "LVNG_DATABASE_URL": database_url or "sqlite://lvng.sqlite3",
                # The rate limits, raised by configuration for a load test.
                "LVNG_RATE_LIMIT_EVENTS": "1000000",
                "LVNG_RATE_LIMIT_USER_EVENTS": "1000000",
                "LVNG_MAX_CONNECTIONS_PER_USER": "100000",
                **LVNG_SETTINGS,
                "PYTHONPATH": os.environ.get("BENCH_LVNG_REPO", str(REPO)),
            }
        )
        command = [
            sys.executable,
            str(BENCH / "lvng_server.py"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ]
        if database_url is not None:  # PostgreSQL: migrated first, as an operator does
            subprocess.run(
                [sys.executable, "-m", "core.cli", "migrate"],
                cwd=workdir,
                env=env,
                check=True,
                capture_output=True,
                timeout=120,
            )
    elif kind == "bare":
        command = [sys.executable, str(BENCH / "bare_socketio.py"), str(port)]
    else:
        command = ["node", str(BENCH / "node_server.js"), str(port)]
    log = workdir / f"{kind}-{port}.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            command,
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_raise_fd_limit,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{kind} server exited: {log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError(f"{kind} server did not start")
    server = Server(kind, proc, port, workdir, log)
    if kind == "lvng":  # the first request opens the database: wait until it answers
        import urllib.request

        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{server.url}/readyz", timeout=2).read()
                break
            except Exception:  # noqa: BLE001
                time.sleep(0.2)
    return server


# --- load generators -------------------------------------------------------------------


@dataclass
class Generator:
    proc: asyncio.subprocess.Process
    ready: dict[str, Any] = field(default_factory=dict)

    async def line(self, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        while True:
            raw = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
            if not raw:
                raise RuntimeError("a load generator ended early")
            text = raw.decode().strip()
            if text.startswith("{"):
                data = json.loads(text)
                if "error" in data:
                    raise RuntimeError(f"load generator: {data['error']}")
                return data

    async def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"go\n")
        await self.proc.stdin.drain()

    async def stop(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()


async def spawn(job: dict[str, Any], setup_timeout: float) -> Generator:
    fd, path = tempfile.mkstemp(prefix="lvng-bench-job-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(job, f)
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(BENCH / "load.js"),
        path,
        cwd=BENCH,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=64 * 1024 * 1024,
        preexec_fn=_raise_fd_limit,
    )
    generator = Generator(proc)
    try:
        generator.ready = (await generator.line(setup_timeout))["ready"]
    except BaseException:
        await generator.stop()
        raise
    finally:
        os.unlink(path)
    return generator


def split(items: list[Any], parts: int) -> list[list[Any]]:
    parts = max(1, min(parts, len(items)))
    return [items[i::parts] for i in range(parts)]


def percentile(hist: dict[int, int], fraction: float) -> float | None:
    total = sum(hist.values())
    if not total:
        return None
    rank, seen = fraction * total, 0
    for bucket in sorted(hist):
        seen += hist[bucket]
        if seen >= rank:
            return round(bucket / 10, 1)  # ms (0.1 ms buckets)
    return None


def merge(hists: list[dict[str, int]]) -> dict[int, int]:
    merged: dict[int, int] = {}
    for hist in hists:
        for bucket, count in hist.items():
            merged[int(bucket)] = merged.get(int(bucket), 0) + count
    return merged


async def broadcast_run(
    server: Server, members: int, sizes: Sizes, *, rate: float = 0, duration: float, channel: str
) -> dict[str, Any]:
    """`members` receivers in one channel (room), `sizes.senders` senders (members too,
    not counted); closed loop (`window` in flight per sender) or open loop at `rate`."""
    flavor = "lvng" if server.kind == "lvng" else "bare"
    org = f"bench-{uuid.uuid4().hex[:6]}"
    make = (lambda sub: token(sub, org)) if flavor == "lvng" else (lambda sub: None)
    receivers = [make(f"r{i}") for i in range(members)]
    senders = [make(f"s{i}") for i in range(sizes.senders)]
    base = {
        "url": server.url,
        "flavor": flavor,
        "channel": channel,
        "duration": duration,
        "drain": sizes.drain,
        "joinConcurrency": 20,
    }
    generators: list[Generator] = []
    try:
        started = time.monotonic()
        for i, part in enumerate(split(receivers, sizes.receiver_procs)):
            generators.append(
                await spawn({**base, "id": f"r{i}", "role": "receive", "tokens": part}, 300)
            )
        sender = await spawn(
            {
                **base,
                "id": "s",
                "role": "send",
                "tokens": senders,
                "window": sizes.window,
                "rate": rate,
            },
            120,
        )
        generators.append(sender)
        setup = time.monotonic() - started
        await asyncio.sleep(0.5)
        for g in generators:
            await g.go()
        results = [(await g.line(duration + 240))["result"] for g in generators]
    finally:
        for g in generators:
            await g.stop()
    sent = next(r for r in results if r["role"] == "send")
    received = [r for r in results if r["role"] == "receive"]
    delivered = sum(r["delivered"] for r in received)
    go = min(r["go"] for r in received)
    last = max((r["last"] for r in received if r["last"]), default=go)
    hist = merge([r["hist"] for r in received])
    expected = sent["acked"] * members
    return {
        "members": members,
        "senders": sizes.senders,
        "setup_s": round(setup, 1),
        "sent": sent["sent"],
        "acked": sent["acked"],
        "failed": sent["failed"],
        "messages_per_s": round(sent["acked"] / sent["seconds"], 1),
        "delivered": delivered,
        "deliveries_per_s": round(delivered / max((last - go) / 1000, 1e-3)),
        "p50_ms": percentile(hist, 0.50),
        "p99_ms": percentile(hist, 0.99),
        "lost": max(0, expected - delivered),
        "out_of_order": sum(r["outOfOrder"] for r in received),
    }


async def connections_run(server: Server, count: int, sizes: Sizes) -> dict[str, Any]:
    flavor = "lvng" if server.kind == "lvng" else "bare"
    await asyncio.sleep(1.0)
    rss0 = rss_bytes(server.proc.pid)
    # 100 users per organization: idle users of many customers, not one giant org.
    tokens = [token(f"u{i}", f"org{i // 100}") if flavor == "lvng" else None for i in range(count)]
    generators: list[Generator] = []
    try:
        started, cpu0 = time.monotonic(), cpu_seconds(server.proc.pid)
        generators = list(
            await asyncio.gather(
                *(
                    spawn(
                        {
                            "url": server.url,
                            "flavor": flavor,
                            "role": "idle",
                            "tokens": part,
                            "id": f"i{i}",
                            "duration": 0,
                            "joinConcurrency": 50,
                        },
                        300,
                    )
                    for i, part in enumerate(split(tokens, sizes.idle_procs))
                )
            )
        )
        connect_s = time.monotonic() - started
        connect_cpu = cpu_seconds(server.proc.pid) - cpu0
        await asyncio.sleep(sizes.settle)
        rss1 = rss_bytes(server.proc.pid)
        for g in generators:
            await g.go()
        for g in generators:
            await g.line(60)
    finally:
        for g in generators:
            await g.stop()
    connected = sum(g.ready["sockets"] for g in generators)
    return {
        "connections": connected,
        "rss0_bytes": rss0,
        "rss_bytes": rss1,
        "bytes_per_connection": round((rss1 - rss0) / max(connected, 1)),
        "connects_per_s": round(connected / connect_s, 1),
        "server_cpu_ms_per_connect": round(connect_cpu * 1000 / max(connected, 1), 3),
    }


async def persistence_run(
    server: Server, sizes: Sizes, senders: int, window: int
) -> dict[str, Any]:
    org = f"bench-{uuid.uuid4().hex[:6]}"
    job = {
        "url": server.url,
        "flavor": "lvng",
        "channel": f"p{uuid.uuid4().hex[:6]}",
        "channelPerSocket": True,
        "role": "send",
        "id": "p",
        "window": window,
        "rate": 0,
        "joinConcurrency": 50,
        "duration": sizes.persist_duration,
        "drain": 0,
        "tokens": [token(f"p{i}", org) for i in range(senders)],
        "ackHistogram": True,
    }
    g = await spawn(job, 120)
    try:
        await g.go()
        result = (await g.line(sizes.persist_duration + 120))["result"]
    finally:
        await g.stop()
    hist = merge([result.get("ackHist", {})])
    return {
        "senders": senders,
        "in_flight": window,
        "acked": result["acked"],
        "failed": result["failed"],
        "acked_per_s": round(result["acked"] / result["seconds"], 1),
        "ack_p50_ms": percentile(hist, 0.50),
        "ack_p99_ms": percentile(hist, 0.99),
    }


def rooms_of(count: int) -> tuple[list[str], list[list[str]]]:
    """`count` users (a multiple of 100) in organizations of 100; in each, a 10×10 grid:
    a user is in its row's room and its column's room (2 rooms of 10 each)."""
    orgs, users, rooms = [], [], []
    for i in range(count):
        org, k = i // 100, i % 100
        orgs.append(f"rorg{org}")
        users.append(f"ru{i}")
        rooms.append([f"r{org}-row{k // 10}", f"r{org}-col{k % 10}"])
    return [f"{o}:{u}" for o, u in zip(orgs, users, strict=True)], rooms


async def rooms_run(server: Server, sizes: Sizes, count: int, rate: float) -> dict[str, Any]:
    """Many small rooms: `count` connections, each user in 2 rooms of 10, open-loop
    senders at `rate` messages/s in all (every socket sends in turn), every message
    delivered to its room's 10 members."""
    flavor = "lvng" if server.kind == "lvng" else "bare"
    count = max(100, count // 100 * 100)
    who, rooms = rooms_of(count)
    tokens = [token(w.split(":")[1], w.split(":")[0]) if flavor == "lvng" else None for w in who]
    procs = max(1, sizes.rooms_procs)
    parts = [list(range(count))[i::procs] for i in range(procs)]
    await asyncio.sleep(1.0)
    rss0 = rss_bytes(server.proc.pid)
    generators: list[Generator] = []
    try:
        started = time.monotonic()
        generators = list(
            await asyncio.gather(
                *(
                    spawn(
                        {
                            "url": server.url,
                            "flavor": flavor,
                            "role": "rooms",
                            "id": f"m{p}",
                            "tokens": [tokens[i] for i in part],
                            "rooms": [rooms[i] for i in part],
                            "rate": rate / procs,
                            "duration": sizes.rooms_duration,
                            "drain": sizes.drain,
                            "joinConcurrency": 50,
                        },
                        600,
                    )
                    for p, part in enumerate(parts)
                )
            )
        )
        setup = time.monotonic() - started
        await asyncio.sleep(1.0)
        rss1 = rss_bytes(server.proc.pid)
        for g in generators:
            await g.go()
        results = [(await g.line(sizes.rooms_duration + 240))["result"] for g in generators]
    finally:
        for g in generators:
            await g.stop()
    acked = sum(r["acked"] for r in results)
    delivered = sum(r["delivered"] for r in results)
    go = min(r["go"] for r in results)
    last = max((r["last"] for r in results if r["last"]), default=go)
    hist = merge([r["hist"] for r in results])
    seconds = max(r["seconds"] for r in results)
    return {
        "connections": count,
        "rooms": count * 2 // ROOM_SIZE,
        "rate_messages_per_s": rate,
        "setup_s": round(setup, 1),
        "sent": sum(r["sent"] for r in results),
        "acked": acked,
        "failed": sum(r["failed"] for r in results),
        "stored_per_s": round(acked / max(seconds, 1e-3), 1) if flavor == "lvng" else None,
        "messages_per_s": round(acked / max(seconds, 1e-3), 1),
        "delivered": delivered,
        "deliveries_per_s": round(delivered / max((last - go) / 1000, 1e-3)),
        "p50_ms": percentile(hist, 0.50),
        "p99_ms": percentile(hist, 0.99),
        "lost": max(0, acked * ROOM_SIZE - delivered),
        "out_of_order": sum(r["outOfOrder"] for r in results),
        "rss0_bytes": rss0,
        "rss_bytes": rss1,
        "bytes_per_connection": round((rss1 - rss0) / count),
    }


async def persistence_store(root: Path, sizes: Sizes, url: str | None) -> dict[str, Any]:
    """Every (senders, in flight) row on one store, then the store's own ceiling."""
    store = "postgres" if url else "sqlite"
    server = start_server("lvng", root / f"lvng-{store}", database_url=url)
    runs = []
    try:
        for senders, window in sizes.persist:
            run = await persistence_run(server, sizes, senders, window)
            run["load"] = load_average()
            runs.append(run)
            _progress(f"persistence {store} {senders}x{window}: {run}")
    finally:
        server.stop()
    if url:
        ceiling = await bench_ceiling.postgres(url, sizes.ceiling_seconds)
    else:
        ceiling = await asyncio.to_thread(
            bench_ceiling.sqlite, root / "ceiling.sqlite3", sizes.ceiling_seconds
        )
    ceiling["load"] = load_average()
    _progress(f"ceiling {store}: {ceiling}")
    for run in runs:
        run["vs_one_row_commits"] = round(run["acked_per_s"] / ceiling["one_row_commits_per_s"], 2)
        run["vs_batched_rows"] = round(run["acked_per_s"] / ceiling["batched_rows_per_s"], 3)
    return {"runs": runs, "ceiling": ceiling}


# --- PostgreSQL scratch database -------------------------------------------------------


async def scratch_postgres(host: str, port: int) -> tuple[str, Any] | None:
    try:
        import asyncpg

        admin = await asyncpg.connect(
            host=host, port=port, user="postgres", database="postgres", timeout=3
        )
    except Exception as exc:  # noqa: BLE001
        print(f"PostgreSQL on {host}:{port} not reachable ({exc!r}): skipped", file=sys.stderr)
        return None
    name = f"lvng_bench_{uuid.uuid4().hex[:10]}"
    await admin.execute(f'CREATE DATABASE "{name}"')

    async def drop() -> None:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()

    return f"postgres://postgres@{host}:{port}/{name}", drop


# --- the run ---------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> dict[str, Any]:
    sizes = QUICK if args.quick else FULL
    if args.fanout:
        sizes.fanout = [int(n) for n in args.fanout.split(",")]
        sizes.sustained_members = sizes.fanout[-1]
    if args.duration:
        sizes.duration = args.duration
    if args.rooms_connections:
        sizes.rooms_connections = args.rooms_connections
    if args.rooms_rate:
        sizes.rooms_rate = args.rooms_rate
    sections = set(args.sections.split(","))
    servers = [s for s in args.servers.split(",") if s]
    root = Path(tempfile.mkdtemp(prefix="lvng-bench-"))
    report: dict[str, Any] = {
        "mode": "quick" if args.quick else "full",
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "lvng_settings": dict(LVNG_SETTINGS),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "node": subprocess.run(
                ["node", "--version"], capture_output=True, text=True
            ).stdout.strip(),
            "load_at_start": load_average(),
        },
        "fanout": {},
        "sustained": {},
        "connections": {},
        "rooms": {},
        "persistence": {},
        "channels": {},
        "large_org": [],
    }
    if "soak" in sections:  # bench/soak.py: two nodes behind nginx, faults on a schedule
        from bench import soak

        seconds = args.soak_seconds or (QUICK_SOAK_SECONDS if args.quick else 600)
        report["soak"] = await soak.run(seconds, _progress, keep=args.keep)
    try:
        # Fan-out: each server, each size; the ratios are taken within this run.
        for kind in servers if "fanout" in sections else ():
            report["fanout"][kind] = []
            shared = start_server(kind, root / f"{kind}-fanout") if args.quick else None
            for members in sizes.fanout:
                server = shared or start_server(kind, root / f"{kind}-fanout-{members}")
                try:
                    result = await broadcast_run(
                        server, members, sizes, duration=sizes.duration, channel=f"fan{members}"
                    )
                finally:
                    if shared is None or members == sizes.fanout[-1]:
                        server.stop()
                result["load"] = load_average()
                report["fanout"][kind].append(result)
                _progress(
                    f"fan-out {kind} {members}: {result['deliveries_per_s']}/s "
                    f"p50 {result['p50_ms']} p99 {result['p99_ms']} "
                    f"lost {result['lost']}"
                )
        # Sustained: LVNG at half its measured peak (messages/s at that size).
        if "lvng" in servers and "sustained" in sections and report["fanout"].get("lvng"):
            members = sizes.sustained_members
            peak = next(
                (r for r in report["fanout"]["lvng"] if r["members"] == members),
                report["fanout"]["lvng"][-1],
            )
            rate = max(1.0, peak["messages_per_s"] / 2)
            server = start_server("lvng", root / "lvng-sustained")
            try:
                result = await broadcast_run(
                    server,
                    peak["members"],
                    sizes,
                    rate=rate,
                    duration=sizes.sustained,
                    channel="steady",
                )
            finally:
                server.stop()
            result.update(
                {"rate_messages_per_s": rate, "seconds": sizes.sustained, "load": load_average()}
            )
            report["sustained"] = result
            _progress(
                f"sustained {rate}/s: p50 {result['p50_ms']} p99 {result['p99_ms']} "
                f"lost {result['lost']}"
            )
        # Connections: idle (authenticated, for LVNG) sockets and the server's RSS.
        for kind in servers if "connections" in sections else ():
            server = start_server(kind, root / f"{kind}-connections")
            try:
                result = await connections_run(server, sizes.connections, sizes)
            finally:
                server.stop()
            result["load"] = load_average()
            report["connections"][kind] = result
            _progress(
                f"connections {kind}: {result['bytes_per_connection']} B each, "
                f"{result['connects_per_s']}/s"
            )
        # Many small rooms: every server, the same shape; LVNG stores every message.
        for kind in servers if "rooms" in sections else ():
            server = start_server(kind, root / f"{kind}-rooms")
            try:
                result = await rooms_run(server, sizes, sizes.rooms_connections, sizes.rooms_rate)
            finally:
                server.stop()
            result["load"] = load_average()
            report["rooms"][kind] = result
            _progress(
                f"rooms {kind}: {result['deliveries_per_s']}/s p50 {result['p50_ms']} "
                f"p99 {result['p99_ms']} lost {result['lost']} failed {result['failed']}"
            )
        # One large organization (opt-in: --sections large-org): connects/s, restart storm.
        if "lvng" in servers and "large-org" in sections:
            counts = [
                int(n)
                for n in (args.large_org or ("300" if args.quick else "5000,10000")).split(",")
            ]
            for count in counts:
                result = await large_org_run(
                    BENCH,
                    root,
                    count,
                    sizes.idle_procs,
                    start_server,
                    token,
                    cpu_seconds,
                    storm=not args.no_storm,
                )
                result["load"] = load_average()
                report["large_org"].append(result)
                storm = result["storm"]
                _progress(
                    f"large org {count}: {result['connects_per_s']}/s, "
                    f"{result['server_cpu_ms_per_connect']} ms server CPU per connect"
                    + (
                        f", back after a restart in {storm['all_back_seconds']} s, "
                        f"presence right in {storm['presence_right_seconds']} s"
                        if storm
                        else ""
                    )
                )
        # Persistence: acked message:send per second, SQLite then PostgreSQL, beside the
        # database's own ceiling measured now.
        if "lvng" in servers and "persistence" in sections:
            report["persistence"]["sqlite"] = await persistence_store(root, sizes, None)
            pg = None if args.no_postgres else await scratch_postgres(args.pg_host, args.pg_port)
            if pg is None:
                report["persistence"]["postgres"] = {
                    "skipped": "PostgreSQL not reachable"
                    if not args.no_postgres
                    else "--no-postgres"
                }
            else:
                url, drop = pg
                try:
                    report["persistence"]["postgres"] = await persistence_store(root, sizes, url)
                finally:
                    await drop()
        if "lvng" in servers and "channels" in sections:
            await channels_section(report, root, sizes, args)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    report["load_at_end"] = load_average()
    report["ratios"] = ratios(report)
    report["comparable"], report["warning"] = comparable(report)
    return report


async def channels_section(
    report: dict[str, Any], root: Path, sizes: Sizes, args: argparse.Namespace
) -> None:
    """channel:list p50/p99 for a user with N channels of M messages (bench/channels.py),
    on SQLite then PostgreSQL."""
    channels, messages, calls = sizes.channel_list
    pg = None if args.no_postgres else await scratch_postgres(args.pg_host, args.pg_port)
    stores: list[tuple[str, str | None]] = [("sqlite", None)]
    if pg is None:
        report["channels"]["postgres"] = {"skipped": "PostgreSQL not reachable or --no-postgres"}
    else:
        stores.append(("postgres", pg[0]))
    try:
        for store, url in stores:
            workdir = root / f"lvng-channels-{store}"
            server = start_server("lvng", workdir, database_url=url)
            database = url or str(workdir / "lvng.sqlite3")
            try:
                result = await channels_run(
                    server.url, token, database, channels, messages, calls=calls
                )
            finally:
                server.stop()
            result["load"] = load_average()
            report["channels"][store] = result
            _progress(f"channels {store}: {result}")
    finally:
        if pg is not None:
            await pg[1]()


def comparable(report: dict[str, Any]) -> tuple[bool, str | None]:
    """Whether this run's absolute numbers may be set beside another run's: not when the
    machine was busy with other work as it started."""
    cpus = report["machine"]["cpus"] or 1
    load = report["machine"]["load_at_start"][0]
    if load <= LOADED_SHARE * cpus:
        return True, None
    return False, (
        f"the machine was loaded when this run started (load average {load} on {cpus} "
        f"CPUs): its numbers are not comparable with another run's; the ratios, taken "
        f"within this run under the same load, still are"
    )


def ratios(report: dict[str, Any]) -> dict[str, Any]:
    fan = report["fanout"]
    out: dict[str, Any] = {}
    if "lvng" not in fan:
        return out
    for row in fan["lvng"]:
        for other in ("bare", "node"):
            match = next((r for r in fan.get(other, []) if r["members"] == row["members"]), None)
            if match and match["deliveries_per_s"]:
                out[f"fanout_{row['members']}_vs_{other}"] = round(
                    row["deliveries_per_s"] / match["deliveries_per_s"], 2
                )
    return out


def _progress(text: str) -> None:
    print(
        f"[bench {time.strftime('%H:%M:%S')} load {load_average()[0]}] {text}",
        file=sys.stderr,
        flush=True,
    )


def table(report: dict[str, Any]) -> str:
    lines = [f"WARNING: {report['warning']}", ""] if report.get("warning") else []
    lines += [
        f"LVNG benchmark ({report['mode']}), {report['machine']['cpus']} CPUs, "
        f"load at start {report['machine']['load_at_start']}, "
        f"at end {report['load_at_end']}",
        "",
    ]
    fan = report["fanout"]
    lines.append("fan-out: deliveries/s | send→deliver p50 / p99 ms | lost")
    lines.append(
        f"{'members':>8}  "
        + "  ".join(f"{LABELS[k]:>34}" for k in fan)
        + "  LVNG vs bare / vs Node"
    )
    sizes = sorted({r["members"] for rows in fan.values() for r in rows})
    for members in sizes:
        cells = []
        for rows in fan.values():
            r = next((x for x in rows if x["members"] == members), None)
            cells.append(
                f"{r['deliveries_per_s']:>9,}/s {r['p50_ms']:>7}/{r['p99_ms']:<7}"
                f" lost {r['lost']:<3}"
                if r
                else " " * 34
            )
        ratio = report["ratios"]
        lines.append(
            f"{members:>8}  " + "  ".join(f"{c:>34}" for c in cells) + "  "
            f"{ratio.get(f'fanout_{members}_vs_bare', '-')}x / "
            f"{ratio.get(f'fanout_{members}_vs_node', '-')}x"
        )
    s = report.get("sustained") or None
    if s:
        lines += [
            "",
            f"sustained: {s['rate_messages_per_s']} messages/s to {s['members']} "
            f"members for {s['seconds']} s: p50 {s['p50_ms']} ms, p99 "
            f"{s['p99_ms']} ms, lost {s['lost']}",
        ]
    lines += [
        "",
        "connections: idle sockets | RSS at 0 → at N | bytes each | connects/s | "
        "server CPU per connect",
    ]
    for kind, c in report["connections"].items():
        lines.append(
            f"  {LABELS[kind]:<24} {c['connections']:>6}  "
            f"{c['rss0_bytes'] / 2**20:6.1f} → {c['rss_bytes'] / 2**20:6.1f} MiB  "
            f"{c['bytes_per_connection']:>7,} B  {c['connects_per_s']:>8}/s  "
            f"{c['server_cpu_ms_per_connect']} ms"
        )
    lines += [
        "",
        "many small rooms (rooms of 10, 2 per user, open loop): messages/s | deliveries/s | "
        "send→deliver p50 / p99 ms | lost | out of order | failed | bytes per connection",
    ]
    for kind, r in report.get("rooms", {}).items():
        lines.append(
            f"  {LABELS[kind]:<24} {r['connections']:>6} conns {r['messages_per_s']:>8}/s "
            f"{r['deliveries_per_s']:>8,}/s {r['p50_ms']}/{r['p99_ms']} ms lost {r['lost']} "
            f"ooo {r['out_of_order']} failed {r['failed']} {r['bytes_per_connection']:,} B"
        )
    if report.get("large_org"):
        lines += [
            "",
            "one large organization (every plugin): connects/s | server CPU per connect | "
            "after SIGTERM and a restart: all back | presence right | presence:update "
            "frames heard in the storm",
        ]
        for r in report["large_org"]:
            st = r["storm"]
            lines.append(
                f"  {r['sockets']:>6} sockets  {r['connects_per_s']:>8}/s  "
                f"{r['server_cpu_ms_per_connect']} ms  "
                + (
                    f"{st['all_back_seconds']} s  {st['presence_right_seconds']} s  "
                    f"{st['updates_heard']}"
                    if st
                    else "(no storm: --no-storm)"
                )
            )
    lines += [
        "",
        "persistence: acked message:send/s (ack p50/p99 ms), and the database's own ceiling "
        "(one-row commits/s; rows/s batched 100 a commit) in this run",
    ]
    for store, p in report["persistence"].items():
        if "runs" not in p:
            lines.append(f"  {store:<9} {p.get('skipped', '')}")
            continue
        c = p["ceiling"]
        lines.append(
            f"  {store:<9} ceiling: {c['one_row_commits_per_s']:,} one-row commits/s "
            f"({c['connections']} connections), {c['batched_rows_per_s']:,} rows/s batched"
        )
        for r in p["runs"]:
            lines.append(
                f"  {store:<9} {r['senders']:>4} senders × {r['in_flight']} in flight: "
                f"{r['acked_per_s']:>9,}/s  p50 {r['ack_p50_ms']} / p99 {r['ack_p99_ms']} ms  "
                f"failed {r['failed']}  = {r['vs_one_row_commits']}x one-row commits, "
                f"{r['vs_batched_rows']}x batched rows"
            )
    lines += [
        "",
        "channels: channel:list of N channels × M messages (p50 / p99 ms, counts checked)",
    ]
    for store, c in report.get("channels", {}).items():
        if "p50_ms" not in c:
            lines.append(f"  {store:<9} {c.get('skipped', '')}")
            continue
        lines.append(
            f"  {store:<9} {c['channels']} × {c['messages_per_channel']}: p50 {c['p50_ms']} / "
            f"p99 {c['p99_ms']} ms over {c['calls']} calls, {c['wrong_counts']} wrong counts "
            f"(seeded in {c['seed_seconds']} s)"
        )
    k = report.get("soak")
    if k:
        rss = [max(v for n, v in row.items() if n != "t_s") for row in k["rss_kib"]] or [0]
        lines += [
            "",
            f"soak: {k['seconds']:g} s, faults {', '.join(k['fault_kinds'])} "
            f"({len(k['faults'])}): acked {k['acked']}, refused {sum(k['refused'].values())}, "
            f"unanswered {k['unanswered']}, lost {k['lost']}, duplicates {k['duplicates']}, "
            f"ghosts {k['ghosts']}, swarm seq gaps {k['swarm_seq_gaps']}, unread mismatches "
            f"{k['unread_mismatches']}, node RSS max {max(rss) / 1024:.0f} MiB, tracebacks "
            f"{len(k['tracebacks'])}",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a few seconds")
    parser.add_argument("--out", default="bench-results.json", help="JSON report path")
    parser.add_argument(
        "--servers", default=",".join(SERVERS), help="which of lvng,bare,node (default: all)"
    )
    parser.add_argument(
        "--sections",
        default="fanout,sustained,connections,rooms,persistence,channels",
        help="which sections to run (default: all but soak; soak: bench/soak.py)",
    )
    parser.add_argument(
        "--rooms-connections",
        type=int,
        help="connections of the many-small-rooms section (default 10000; --quick 200)",
    )
    parser.add_argument(
        "--rooms-rate", type=float, help="messages/s in all, open loop (default 3000)"
    )
    parser.add_argument(
        "--soak-seconds",
        type=float,
        help="seconds of traffic and faults of the soak "
        f"(default 600; --quick {QUICK_SOAK_SECONDS:g})",
    )
    parser.add_argument("--fanout", help="channel sizes instead of the mode's, e.g. 500")
    parser.add_argument(
        "--large-org",
        help="sockets of the one organization of the large-org section (opt-in: "
        "--sections large-org), e.g. 5000 (default 5000,10000; --quick 300)",
    )
    parser.add_argument(
        "--no-storm",
        action="store_true",
        help="large-org: measure the connects only, without the restart and reconnect storm",
    )
    parser.add_argument("--duration", type=float, help="seconds per fan-out run")
    parser.add_argument("--pg-host", default="127.0.0.1")
    parser.add_argument("--pg-port", type=int, default=5432)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the servers' logs")
    parser.add_argument(
        "--lvng-setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the LVNG server, e.g. flush_window_ms=0 "
        "(as LVNG_FLUSH_WINDOW_MS); repeatable",
    )
    args = parser.parse_args(argv)
    for setting in args.lvng_setting:
        name, sep, value = setting.partition("=")
        if not sep or not name:
            parser.error(f"--lvng-setting {setting!r}: expected NAME=VALUE")
        LVNG_SETTINGS[f"LVNG_{name.upper()}"] = value
    if not (BENCH / "node_modules" / "socket.io-client").is_dir():
        print("bench/node_modules missing: run npm ci --prefix bench", file=sys.stderr)
        return 2
    report = asyncio.run(run(args))
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(table(report))
    print(f"\nJSON: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""PostgreSQL and Redis for the tests: real services on 127.0.0.1.

Outside CI a missing service skips its tests; under CI=true it fails them.
"""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path
from typing import Any

import pytest

POSTGRES_HOST, POSTGRES_PORT = "127.0.0.1", 5432
REDIS_URL = "redis://127.0.0.1:6379/0"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require(service: str, host: str, port: int) -> None:
    if _reachable(host, port):
        return
    message = f"{service} is not reachable on {host}:{port}"
    if IN_CI:
        pytest.fail(f"{message} (required under CI=true)")
    pytest.skip(message)


def require_redis() -> str:
    require("Redis", "127.0.0.1", 6379)
    return REDIS_URL


async def _admin_execute(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(
        host=POSTGRES_HOST, port=POSTGRES_PORT, user="postgres", database="test"
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


class ScratchDatabase:
    """A PostgreSQL database of its own for one test, dropped afterwards."""

    def __init__(self) -> None:
        self.name = f"lvng_test_{uuid.uuid4().hex[:12]}"
        self.url = f"postgres://postgres@{POSTGRES_HOST}:{POSTGRES_PORT}/{self.name}"

    async def create(self) -> ScratchDatabase:
        require("PostgreSQL", POSTGRES_HOST, POSTGRES_PORT)
        await _admin_execute(f'CREATE DATABASE "{self.name}"')
        return self

    async def migrate(self) -> ScratchDatabase:
        """`lvng migrate` on it, as an operator does before starting nodes on PostgreSQL
        (`lvng serve` refuses a database with pending migrations)."""
        import asyncio
        import sys

        from tests.live import REPO

        env = {k: v for k, v in os.environ.items() if not k.startswith("LVNG_")}
        env.update(LVNG_DATABASE_URL=self.url, LVNG_ENTRY_POINTS="false", PYTHONPATH=str(REPO))
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "core.cli",
            "migrate",
            env=env,
            cwd=REPO,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await proc.communicate()
        assert proc.returncode == 0, out.decode()
        return self

    async def drop(self) -> None:
        await _admin_execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


class Cluster:
    """Server processes on one scratch PostgreSQL database and one Redis, as one cluster
    (a cluster name of their own, so other tests' servers on the shared Redis never
    mix with them)."""

    def __init__(
        self,
        workdir: Path,
        database: ScratchDatabase,
        *,
        env: dict[str, str] | None = None,
        config: str = "",
    ) -> None:
        from tests.live import LiveServer

        self._live = LiveServer
        self.workdir = workdir
        self.env = {
            "LVNG_DATABASE_URL": database.url,
            "LVNG_REDIS_URL": require_redis(),
            "LVNG_CLUSTER_NAME": f"test-{uuid.uuid4().hex[:10]}",
            "LVNG_NODE_TTL": "1.5",
            **(env or {}),
        }
        self.config = workdir / "lvng.toml"
        workdir.mkdir(parents=True, exist_ok=True)
        self.config.write_text(config)
        self.nodes: list[Any] = []

    def start_node(self) -> Any:
        """One more node (started after the others, so migrations never race)."""
        node = self._live(
            self.workdir / f"node{len(self.nodes)}", self.env, ["--config", str(self.config)]
        ).start()
        self.nodes.append(node)
        return node

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


class OwnRedis:
    """A Redis server of one test's own on a free port (no persistence), to stop and start
    again on the same port; stopped by its pid."""

    def __init__(self, workdir: Path) -> None:
        from tests.live import free_port

        self.workdir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: Any = None

    def start(self) -> OwnRedis:
        import shutil
        import subprocess
        import time

        server = shutil.which("redis-server")
        if server is None:
            (pytest.fail if IN_CI else pytest.skip)("redis-server is not installed")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                server,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=(self.workdir / "redis.log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while not _reachable("127.0.0.1", self.port):
            assert self.proc.poll() is None, "redis-server exited"
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class OwnPostgres:
    """A PostgreSQL cluster of one test's own (initdb + pg_ctl as the `postgres` user) on a
    free port, to stop and start again; skipped where that cannot be made."""

    def __init__(self) -> None:
        import tempfile

        from tests.live import free_port

        # Not under pytest's tmp_path: the `postgres` user must be able to reach it.
        self.workdir = Path(tempfile.mkdtemp(prefix="lvng-pg-"))
        self.data = self.workdir / "data"
        self.port = free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *args: str) -> Any:
        import shutil
        import subprocess

        prefix = (
            []
            if os.geteuid() != 0
            else [shutil.which("runuser") or "runuser", "-u", "postgres", "--"]
        )
        return subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=60)

    def start(self) -> OwnPostgres:
        import shutil

        tools = [shutil.which(name) for name in ("initdb", "pg_ctl")]
        if None in tools:
            (pytest.fail if IN_CI else pytest.skip)("initdb/pg_ctl are not installed")
        self.initdb, self.pg_ctl = tools
        if not self.data.exists():
            if os.geteuid() == 0:
                shutil.chown(self.workdir, "postgres")
            made = self._as_postgres(
                self.initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync"
            )
            assert made.returncode == 0, made.stdout + made.stderr
        return self.resume()

    def resume(self) -> OwnPostgres:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c fsync=off"
        )
        started = self._as_postgres(
            self.pg_ctl,
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.workdir / "postgres.log"),
            "-w",
            "start",
        )
        assert started.returncode == 0, started.stdout + started.stderr
        return self

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._as_postgres(self.pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        import shutil

        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


class TcpCut:
    """An asyncio TCP proxy in front of a service (a test's own Redis): `cut()` drops every
    connection and refuses new ones, as if the service were gone, while the service keeps
    its data; `restore()` lets connections through again. `hold(match)` keeps the first
    bytes a client sends that contain `match` (and what follows on that connection) from
    reaching the service (`held` is set then) until `release()`.
    Runs on the test's event loop: stop servers off it (`asyncio.to_thread`) so the proxy
    keeps serving meanwhile."""

    def __init__(self, port: int) -> None:
        from tests.live import free_port

        self.upstream = port
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.open = True
        self._server: Any = None
        self._writers: set[Any] = set()
        self._flowing: Any = None  # an asyncio.Event, cleared while held
        self._match = b""
        self.held: Any = None  # an asyncio.Event: set when a client's bytes wait
        self._cut_after, self._refuse = b"", True
        self.tripped: Any = None  # an asyncio.Event: set when `cut_after` cut

    async def start(self) -> TcpCut:
        import asyncio

        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self._flowing, self.held, self.tripped = asyncio.Event(), asyncio.Event(), asyncio.Event()
        self._flowing.set()
        return self

    async def _accept(self, reader: Any, writer: Any) -> None:
        import asyncio

        if not self.open:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))
        await asyncio.gather(
            self._pipe(reader, up_writer, upstream=True),
            self._pipe(up_reader, writer),
            return_exceptions=True,
        )

    async def _pipe(self, reader: Any, writer: Any, upstream: bool = False) -> None:
        try:
            while data := await reader.read(65536):
                if upstream and not self._flowing.is_set() and self._match in data:
                    self.held.set()
                    await self._flowing.wait()
                if upstream and self._cut_after and self._cut_after in data:
                    # The request reaches the service (a FIN after it), its answer does
                    # not: every other connection is dropped at once.
                    self._cut_after = b""
                    writer.write(data)
                    self._writers.discard(writer)
                    self.cut()
                    self.open = not self._refuse
                    writer.close()
                    self.tripped.set()
                    return
                writer.write(data)
                await writer.drain()
        finally:
            self._writers.discard(writer)
            writer.close()

    def cut(self) -> None:
        self.open = False
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def restore(self) -> None:
        self.open = True

    def cut_after(self, match: bytes, refuse: bool = True) -> None:
        """Let the first client bytes that contain `match` reach the service, then cut
        (as `cut()`) before any answer comes back: a command that ran as the service went
        away, its answer lost. `tripped` is set then. With `refuse` False, new
        connections go through at once (the service reset its connections, and is up)."""
        self._cut_after, self._refuse = match, refuse
        self.tripped.clear()

    def hold(self, match: bytes) -> None:
        self._match = match
        self.held.clear()
        self._flowing.clear()

    def release(self) -> None:
        self._flowing.set()

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

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

    conn = await asyncpg.connect(host=POSTGRES_HOST, port=POSTGRES_PORT, user="postgres",
                                 database="test")
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
        env.update(LVNG_DATABASE_URL=self.url, LVNG_ENTRY_POINTS="false",
                   PYTHONPATH=str(REPO))
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "core.cli", "migrate", env=env, cwd=REPO,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await proc.communicate()
        assert proc.returncode == 0, out.decode()
        return self

    async def drop(self) -> None:
        await _admin_execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


class Cluster:
    """Server processes on one scratch PostgreSQL database and one Redis, as one cluster
    (a cluster name of their own, so other tests' servers on the shared Redis never
    mix with them)."""

    def __init__(self, workdir: Path, database: ScratchDatabase, *,
                 env: dict[str, str] | None = None, config: str = "") -> None:
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
        node = self._live(self.workdir / f"node{len(self.nodes)}", self.env,
                          ["--config", str(self.config)]).start()
        self.nodes.append(node)
        return node

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

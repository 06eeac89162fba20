"""The database's own ceiling, measured from Python in the bench's run: how many one-row
transactions per second it commits, and how many rows per second batched 100 to a commit,
on a table shaped like a message (so the persistence rows can be read as a ratio).

PostgreSQL: asyncpg, `connections` connections at once (50), each committing in a loop.
SQLite: the standard library's sqlite3 on a file in WAL mode with synchronous=NORMAL (as
LVNG opens it), one connection: SQLite has one writer whatever the number of connections.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

COLUMNS = ("message_id", "organization_id", "room", "user_id", "user_name", "content", "created_at")
ROW_TEXT = ("o-ceiling", "room-1", "u1", "User One", "hello from the ceiling")
BATCH = 100


def _row(n: int, when: Any) -> list[Any]:
    return [f"msg_{n}", *ROW_TEXT, when]


async def postgres(url: str, seconds: float, connections: int = 50) -> dict[str, Any]:
    import asyncpg

    admin = await asyncpg.connect(url)
    await admin.execute(
        "CREATE TABLE IF NOT EXISTS bench_ceiling (seq BIGSERIAL PRIMARY KEY, "
        "message_id TEXT, organization_id TEXT, room TEXT, user_id TEXT, user_name TEXT, "
        "content TEXT, created_at TIMESTAMPTZ)"
    )
    pool = await asyncpg.create_pool(url, min_size=connections, max_size=connections)
    cols = ", ".join(COLUMNS)
    one = f"INSERT INTO bench_ceiling ({cols}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
    width = len(COLUMNS)
    many = f"INSERT INTO bench_ceiling ({cols}) VALUES " + ", ".join(
        "(" + ", ".join(f"${i * width + j + 1}" for j in range(width)) + ")" for i in range(BATCH)
    )
    counter = [0]
    now = datetime.now(UTC)

    async def single(deadline: float) -> int:
        done = 0
        async with pool.acquire() as conn:
            while time.monotonic() < deadline:
                counter[0] += 1
                await conn.execute(one, *_row(counter[0], now))
                done += 1
        return done

    async def batched(deadline: float) -> int:
        done = 0
        async with pool.acquire() as conn:
            while time.monotonic() < deadline:
                values: list[Any] = []
                for _ in range(BATCH):
                    counter[0] += 1
                    values += _row(counter[0], now)
                await conn.execute(many, *values)  # one statement: its own transaction
                done += BATCH
        return done

    try:
        result = {}
        for name, work in (("one_row_commits_per_s", single), ("batched_rows_per_s", batched)):
            started = time.monotonic()
            counts = await asyncio.gather(*(work(started + seconds) for _ in range(connections)))
            result[name] = round(sum(counts) / (time.monotonic() - started))
        result["connections"] = connections
        return result
    finally:
        await pool.close()
        await admin.execute("DROP TABLE IF EXISTS bench_ceiling")
        await admin.close()


def sqlite(path: Path, seconds: float) -> dict[str, Any]:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(
            "CREATE TABLE bench_ceiling (seq INTEGER PRIMARY KEY, message_id TEXT, "
            "organization_id TEXT, room TEXT, user_id TEXT, user_name TEXT, content TEXT, "
            "created_at TEXT)"
        )
        cols = ", ".join(COLUMNS)
        one = f"INSERT INTO bench_ceiling ({cols}) VALUES (?, ?, ?, ?, ?, ?, ?)"
        now = datetime.now(UTC).isoformat(" ")
        n = 0
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            n += 1
            conn.execute("BEGIN")
            conn.execute(one, _row(n, now))
            conn.execute("COMMIT")
        single = n / (time.monotonic() - started)
        rows = 0
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            conn.execute("BEGIN")
            conn.executemany(one, [_row(n + i, now) for i in range(BATCH)])
            conn.execute("COMMIT")
            n += BATCH
            rows += BATCH
        return {
            "one_row_commits_per_s": round(single),
            "batched_rows_per_s": round(rows / (time.monotonic() - started)),
            "connections": 1,
        }
    finally:
        conn.close()

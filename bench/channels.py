"""The `channels` section (issue 28): how long `channel:list` takes for a user with many
busy channels, on one store (SQLite or PostgreSQL).

A reader joins (and leaves: the channels stay on its list) N channels through the server.
The M messages of each channel are then written straight into the database, with the
kept counts they would have made (the same set-based statements as migration 0004's
backfill: sending 200,000 messages through the server would take this shared machine
longer than the rest of the benchmark); one in ten mentions the reader. Through the
server again, the reader reads half of the channels up to their middle message (the
read's range count) and a writer sends one more message, mentioning the reader, to every
channel (the send's counts). Then `channel:list {limit: N}`, called one at a time, is
timed (p50/p99), and every count it gives is checked against what was written.
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import socketio

MENTION_EVERY = 10  # message k mentions the reader when k % MENTION_EVERY == 0
COLUMNS = (
    "message_id, organization_id, room, channel_id, user_id, user_name, content, "
    "content_type, mentions, attachments, metadata, created_at, updated_at"
)
# Migration 0004's backfill, for one organization's channels (and the reader's entries).
LIVE = (
    "FROM messages_message m WHERE m.organization_id = {t}.organization_id "
    "AND m.room = 'channel:' || REPLACE({t}.channel_id, ':', '%3A') AND m.deleted_at IS NULL"
)
COUNTS = [
    "INSERT INTO messages_mention (message_seq, organization_id, channel_id, user_id) "
    "SELECT seq, organization_id, channel_id, 'reader' FROM messages_message "
    "WHERE organization_id = '{org}' AND content LIKE '@reader%'",
    "UPDATE messages_channel_tally SET live = (SELECT COUNT(*) "
    + LIVE.format(t="messages_channel_tally")
    + "), last_seq = COALESCE((SELECT MAX(m.seq) "
    + LIVE.format(t="messages_channel_tally")
    + "), 0) WHERE organization_id = '{org}'",
    "UPDATE messages_channel_entry SET mentions = (SELECT COUNT(*) FROM messages_mention x "
    "WHERE x.organization_id = messages_channel_entry.organization_id "
    "AND x.channel_id = messages_channel_entry.channel_id "
    "AND x.user_id = messages_channel_entry.user_id) WHERE organization_id = '{org}'",
]


def _rows(org: str, ids: list[str], messages: int) -> list[tuple[Any, ...]]:
    moment = datetime.now(UTC)
    rows = []
    for k in range(messages):
        for i, channel in enumerate(ids):
            mention = k % MENTION_EVERY == 0
            rows.append(
                (
                    f"msg_{uuid.uuid4()}",
                    org,
                    f"channel:{channel}",
                    channel,
                    f"w{i % 50}",
                    f"w{i % 50}",
                    f"@reader message {k}" if mention else f"message {k}",
                    "text",
                    '["reader"]' if mention else "[]",
                    "[]",
                    "{}",
                    moment,
                    moment,
                )
            )
    return rows


def _seed_sqlite(path: Path, org: str, rows: list[tuple[Any, ...]]) -> None:
    as_text = [(*r[:11], str(r[11]), str(r[12])) for r in rows]
    with sqlite3.connect(path, timeout=30) as conn:
        marks = ", ".join("?" * len(COLUMNS.split(",")))
        conn.executemany(f"INSERT INTO messages_message ({COLUMNS}) VALUES ({marks})", as_text)
        for statement in COUNTS:
            conn.execute(statement.format(org=org))


async def _seed_postgres(url: str, org: str, rows: list[tuple[Any, ...]]) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            await conn.copy_records_to_table(
                "messages_message",
                records=rows,
                columns=[c.strip() for c in COLUMNS.split(",")],
            )
            for statement in COUNTS:
                await conn.execute(statement.format(org=org))
    finally:
        await conn.close()


async def _client(url: str, token: str) -> socketio.AsyncClient:
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(url, auth={"token": token}, transports=["websocket"], wait_timeout=10)
    return client


async def _call(client: socketio.AsyncClient, event: str, data: Any) -> dict[str, Any]:
    ack: dict[str, Any] = await client.call(event, data, timeout=60)
    if not ack.get("ok"):
        raise RuntimeError(f"{event} failed: {ack}")
    return ack


def expected(messages: int, read_at: int | None) -> tuple[int, int]:
    """(unread, mentions) of a channel the reader read up to message `read_at`, after
    the M written and the one sent (mentioning the reader)."""
    start = -1 if read_at is None else read_at
    after = range(start + 1, messages)
    return len(after) + 1, sum(1 for k in after if k % MENTION_EVERY == 0) + 1


async def channels_run(
    url: str,
    token: Callable[[str, str], str],
    database: str,
    channels: int,
    messages: int,
    *,
    calls: int = 100,
) -> dict[str, Any]:
    """`database`: the server's SQLite file, or its PostgreSQL URL."""
    org = f"bench-{uuid.uuid4().hex[:6]}"
    ids = [f"c{i:04d}-{uuid.uuid4().hex[:6]}" for i in range(channels)]
    reader = await _client(url, token("reader", org))
    writer = await _client(url, token("writer", org))
    try:
        for channel in ids:  # on the reader's list from its first join
            await _call(reader, "channel:join", {"channelId": channel})
            await _call(reader, "channel:leave", {"channelId": channel})
        started = time.perf_counter()
        rows = _rows(org, ids, messages)
        half = (messages // 2) * channels  # rows are written message by message
        middle = {r[3]: r[0] for r in rows[half : half + channels]}
        if database.startswith("postgres"):
            await _seed_postgres(database, org, rows)
        else:
            await asyncio.to_thread(_seed_sqlite, Path(database), org, rows)
        seed_seconds = time.perf_counter() - started
        read_at: dict[str, int | None] = dict.fromkeys(ids)
        for channel in ids[::2]:
            await _call(reader, "channel:join", {"channelId": channel})
            await _call(
                reader, "message:read", {"channelId": channel, "messageId": middle[channel]}
            )
            await _call(reader, "channel:leave", {"channelId": channel})
            read_at[channel] = messages // 2
        for channel in ids:
            await _call(writer, "channel:join", {"channelId": channel})
            data = {"channelId": channel, "content": "one more", "mentions": ["reader"]}
            await _call(writer, "message:send", data)
            await _call(writer, "channel:leave", {"channelId": channel})
        timings = []
        for _ in range(calls):
            began = time.perf_counter()
            ack = await _call(reader, "channel:list", {"limit": min(channels, 200)})
            timings.append((time.perf_counter() - began) * 1000)
        wrong = [
            c["channelId"]
            for c in ack["channels"]
            if (c["unreadCount"], c["mentionCount"]) != expected(messages, read_at[c["channelId"]])
        ]
        timings.sort()
        return {
            "channels": channels,
            "messages_per_channel": messages,
            "stored": channels * (messages + 1),
            "seed_seconds": round(seed_seconds, 1),
            "calls": calls,
            "listed": len(ack["channels"]),
            "wrong_counts": len(wrong),
            "p50_ms": round(statistics.median(timings), 1),
            "p99_ms": round(timings[min(len(timings) - 1, int(len(timings) * 0.99))], 1),
        }
    finally:
        await reader.disconnect()
        await writer.disconnect()

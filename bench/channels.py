"""The `channels` section (issue 28): how long `channel:list` takes for a user with many
busy channels, on one store (SQLite or PostgreSQL).

A reader joins (and leaves: the channels stay on its list) N channels; writers fill each
with M messages through `message:send` (one in ten mentions the reader); the reader then
reads half of the channels up to their middle message. Then `channel:list {limit: N}`,
called one at a time, is timed (p50/p99), and every count it gives is checked against
what was sent, so a fast answer is also a right one.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

import socketio

MENTION_EVERY = 10  # message k mentions the reader when k % MENTION_EVERY == 0


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
    """(unread, mentions) of a channel the reader read up to message `read_at`."""
    start = -1 if read_at is None else read_at
    after = range(start + 1, messages)
    return len(after), sum(1 for k in after if k % MENTION_EVERY == 0)


async def channels_run(
    url: str,
    token: Callable[[str, str], str],
    channels: int,
    messages: int,
    *,
    writers: int = 50,
    window: int = 4,
    calls: int = 100,
) -> dict[str, Any]:
    org = f"bench-{uuid.uuid4().hex[:6]}"
    ids = [f"c{i:04d}-{uuid.uuid4().hex[:6]}" for i in range(channels)]
    reader = await _client(url, token("reader", org))
    clients = [reader]
    try:
        for channel in ids:  # on the reader's list from its first join
            await _call(reader, "channel:join", {"channelId": channel})
            await _call(reader, "channel:leave", {"channelId": channel})
        writers = min(writers, channels)
        senders = [await _client(url, token(f"w{i}", org)) for i in range(writers)]
        clients += senders
        middle: dict[str, str] = {}
        started = time.perf_counter()

        async def fill(sender: socketio.AsyncClient, mine: list[str]) -> None:
            for channel in mine:
                await _call(sender, "channel:join", {"channelId": channel})
            queue = [(c, k) for k in range(messages) for c in mine]
            gate = asyncio.Semaphore(window)

            async def one(channel: str, k: int) -> None:
                async with gate:
                    data: dict[str, Any] = {"channelId": channel, "content": f"message {k}"}
                    if k % MENTION_EVERY == 0:
                        data["mentions"] = ["reader"]
                    ack = await _call(sender, "message:send", data)
                    if k == messages // 2:
                        middle[channel] = ack["id"]

            await asyncio.gather(*(one(c, k) for c, k in queue))

        await asyncio.gather(*(fill(s, ids[i::writers]) for i, s in enumerate(senders)))
        fill_seconds = time.perf_counter() - started
        read_at: dict[str, int | None] = dict.fromkeys(ids)
        for channel in ids[::2]:
            await _call(reader, "channel:join", {"channelId": channel})
            await _call(
                reader, "message:read", {"channelId": channel, "messageId": middle[channel]}
            )
            await _call(reader, "channel:leave", {"channelId": channel})
            read_at[channel] = messages // 2
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
            "stored": channels * messages,
            "fill_seconds": round(fill_seconds, 1),
            "calls": calls,
            "listed": len(ack["channels"]),
            "wrong_counts": len(wrong),
            "p50_ms": round(statistics.median(timings), 1),
            "p99_ms": round(timings[min(len(timings) - 1, int(len(timings) * 0.99))], 1),
        }
    finally:
        for client in clients:
            await client.disconnect()

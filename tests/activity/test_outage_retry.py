"""An activity item whose store is away is tried again, not dropped (issue 26: the soak's
PostgreSQL outage lost the item of a message stored just before it). A bug is not
retried. The feed is a stand-in here: what is under test is the retry around it."""

from __future__ import annotations

import asyncio
from typing import Any

import redis.exceptions

from plugins.activity import sources
from plugins.activity.feed import Draft


class Counter:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def labels(self, **labels: str) -> Counter:
        self.key = labels["type"]
        return self

    def inc(self) -> None:
        self.counts[self.key] = self.counts.get(self.key, 0) + 1


class Metrics:
    def __init__(self) -> None:
        self.failed = Counter()


class Feed:
    def __init__(self, failures: list[BaseException]) -> None:
        self.failures = failures
        self.calls = 0

    async def add(self, *args: Any, **kwargs: Any) -> object:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return object()


def _sources(feed: Feed) -> sources.Sources:
    return sources.Sources(None, feed, Metrics(), writers=1)  # type: ignore[arg-type]


DRAFT = Draft("message.created", "soak sent a message", "u", "u", "message", "msg_1")


async def test_an_outage_is_outlasted(monkeypatch):
    monkeypatch.setattr(sources, "OUTAGE_RETRIES", (0.01, 0.01, 0.01))
    outage = redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:1.")
    feed = Feed([outage, ConnectionRefusedError(111, "Connection refused")])
    made = _sources(feed)
    await asyncio.wait_for(made._make("org", "cust", DRAFT, True), 5)
    assert feed.calls == 3 and made.metrics.failed.counts == {}


async def test_a_long_outage_gives_up_and_counts_it(monkeypatch):
    monkeypatch.setattr(sources, "OUTAGE_RETRIES", (0.01, 0.01))
    feed = Feed([ConnectionRefusedError(111, "Connection refused") for _ in range(5)])
    made = _sources(feed)
    await asyncio.wait_for(made._make("org", "cust", DRAFT, True), 5)
    assert feed.calls == 3 and made.metrics.failed.counts == {"message.created": 1}


async def test_a_bug_is_not_retried(monkeypatch):
    monkeypatch.setattr(sources, "OUTAGE_RETRIES", (0.01, 0.01))
    feed = Feed([KeyError("k")])
    made = _sources(feed)
    await made._make("org", "cust", DRAFT, True)
    assert feed.calls == 1 and made.metrics.failed.counts == {"message.created": 1}

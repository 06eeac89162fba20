"""The group commit of the core kit (core/commits.py), against SQLite and PostgreSQL:
acked means committed, what arrives while a batch is in flight forms the next one, a
room's rows keep their order, a failed batch fails exactly its writes and keeps nothing
of a failed write, and the database being gone fails the whole batch.

A batch is held in flight deterministically by a write whose `then` waits for an event
the test sets; what the test asks meanwhile forms the next batch.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from prometheus_client import CollectorRegistry
from tortoise import Tortoise

from core.clock import new_id, now_utc
from core.cluster.local import LocalCluster
from core.commits import MAX_BATCH, BatchedThen, GroupCommit
from core.database import migrate, tortoise_config
from core.errors import ErrorCode, LvngError
from core.metrics import CoreMetrics
from core.tasks import Tasks
from plugins.messages import channel_counts
from plugins.messages.models import Message, Reaction
from tests.services import ScratchDatabase

MODELS = {"messages": ["plugins.messages.models"]}
STAMP = "2026-01-01 00:00:00"


class Store:
    """A database opened by Tortoise in this process, and a reader on a connection of its
    own (what another process would see)."""

    def __init__(self, url: str, read: Any) -> None:
        self.url = url
        self.read = read  # async (sql) -> list of tuples, on its own connection

    async def write(self, sql: str) -> None:
        """Run `sql` and commit it, on a connection of its own."""
        await self.read(sql)


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    scratch = None
    if request.param == "sqlite":
        path = tmp_path / "kit.sqlite3"
        url = f"sqlite://{path}"

        async def read(sql: str) -> list[tuple[Any, ...]]:
            with sqlite3.connect(path) as conn:
                return [tuple(r) for r in conn.execute(sql).fetchall()]
    else:
        scratch = await ScratchDatabase().create()
        url = scratch.url

        async def read(sql: str) -> list[tuple[Any, ...]]:
            conn = await asyncpg.connect(url)
            try:
                return [tuple(r) for r in await conn.fetch(sql)]
            finally:
                await conn.close()

    config = tortoise_config(url, MODELS)
    await migrate(config)
    await Tortoise.init(config=config, _enable_global_fallback=True)
    try:
        yield Store(url, read)
    finally:
        await Tortoise.close_connections()
        if scratch is not None:
            await scratch.drop()


def kit() -> tuple[GroupCommit, CoreMetrics]:
    metrics = CoreMetrics(CollectorRegistry())
    return GroupCommit(LocalCluster(), Tasks(), metrics), metrics


def message(room: str, content: str, message_id: str | None = None) -> Message:
    moment = now_utc()
    return Message(
        message_id=message_id or new_id("msg"),
        organization_id="org",
        room=room,
        user_id="u1",
        user_name="User One",
        content=content,
        created_at=moment,
        updated_at=moment,
    )


def batches(metrics: CoreMetrics) -> tuple[float, float]:
    """(transactions, writes) the kit committed or tried so far."""
    count = total = 0.0
    for family in metrics.commit_batches.collect():
        for sample in family.samples:
            if sample.name.endswith("_count"):
                count = sample.value
            elif sample.name.endswith("_sum"):
                total = sample.value
    return count, total


class Hold:
    """Writes whose transactions wait, in flight, until `release()`: as many as the kit
    runs batches at once (one on SQLite, more on PostgreSQL), so what comes next queues."""

    def __init__(self, commits: GroupCommit) -> None:
        self.commits = commits
        self.go = asyncio.Event()
        self.held: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        for i in range(self.commits.parallel()):
            entered = asyncio.Event()

            async def then(connection: Any, entered: asyncio.Event = entered) -> None:
                entered.set()
                await self.go.wait()

            row = message(f"held-{i}", "first")
            self.held.append(asyncio.create_task(self.commits.insert(row, then=then)))
            await entered.wait()

    async def release(self) -> None:
        self.go.set()
        await asyncio.gather(*self.held)


async def stored(store: Store) -> list[tuple[Any, ...]]:
    return await store.read("SELECT room, content FROM messages_message ORDER BY seq")


async def test_an_insert_returns_once_committed_with_its_key(store: Store) -> None:
    commits, metrics = kit()
    row = message("room-a", "hello")
    await commits.insert(row)
    assert row.seq is not None and row._saved_in_db
    # Another connection sees it: acked means committed.
    assert await store.read(f"SELECT seq, content FROM messages_message WHERE seq = {row.seq}") == [
        (row.seq, "hello")
    ]
    assert batches(metrics) == (1, 1)  # an idle kit writes at once, alone


async def test_a_write_asked_as_soon_as_the_one_before_committed_is_written(
    store: Store,
) -> None:
    """The caller of a write resumes before the task of the batch's flusher has ended: a
    write it asks at once (no other write anywhere) must still get a flusher. On SQLite
    (one flusher) it waited for the next write of anyone: a quiet server never acked it."""
    commits, metrics = kit()
    first, second = message("room-a", "one"), message("room-a", "two")
    async with asyncio.timeout(5):  # in this task: no task between the two
        await commits.insert(first)
        await commits.insert(second)
    assert second.seq is not None and second.seq > first.seq
    assert batches(metrics) == (2, 2)


async def test_what_arrives_while_a_batch_is_in_flight_forms_the_next(store: Store) -> None:
    commits, metrics = kit()
    hold = Hold(commits)
    await hold.start()
    # Forty writes of four rooms, ten each in order, while the first is in flight.
    rows = [message(f"room-{i % 4}", f"m{i}") for i in range(40)]
    waiting = [asyncio.create_task(commits.insert(row)) for row in rows]
    await asyncio.sleep(0)  # they are queued: nothing is committed while the batch holds
    assert len(commits) == 40 and not any(w.done() for w in waiting)
    assert await stored(store) == []
    await hold.release()
    await asyncio.gather(*waiting)
    held = commits.parallel()
    assert batches(metrics) == (held + 1, held + 40)  # one transaction for the forty
    # Every row's key is its own, and each room's rows are stored in the order asked.
    back = dict(await store.read("SELECT seq, content FROM messages_message"))
    assert {row.seq: row.content for row in rows}.items() <= back.items()
    for room in range(4):
        mine = [r for r in rows if r.room == f"room-{room}"]
        assert [r.seq for r in mine] == sorted(r.seq for r in mine)
        assert [r.content for r in mine] == [f"m{i}" for i in range(room, 40, 4)]


async def test_a_refused_write_fails_alone_and_keeps_nothing_of_itself(store: Store) -> None:
    commits, metrics = kit()
    hold = Hold(commits)
    await hold.start()
    taken = message("room-1", "taken")
    await_taken = asyncio.create_task(commits.insert(taken))  # forms the next batch ...
    # ... with a write of two rows whose second repeats the first's unique message_id
    # (refused by the database), and writes before and after it.
    before = asyncio.create_task(commits.insert(message("room-2", "before")))
    bad_rows = (message("room-3", "half one"), message("room-3", "half two", taken.message_id))
    bad = asyncio.create_task(commits.insert(*bad_rows))
    after = asyncio.create_task(commits.insert(message("room-4", "after")))
    await asyncio.sleep(0)
    await hold.release()
    await asyncio.gather(await_taken, before, after)
    with pytest.raises(LvngError) as refused:
        await bad
    assert refused.value.code is ErrorCode.INTERNAL_ERROR
    assert refused.value.message.startswith("not stored:")
    assert all(row.seq is None and not row._saved_in_db for row in bad_rows)
    # The others were stored, in order; nothing of the refused write was.
    held = commits.parallel()
    contents = [c for _, c in await stored(store)]
    assert contents == ["first"] * held + ["taken", "before", "after"]
    # The refused batch was tried whole (one transaction of four), then each write alone.
    assert batches(metrics) == (held + 1, held + 4)


async def test_a_batch_that_cannot_reach_the_database_fails_every_write(store: Store) -> None:
    commits, _ = kit()
    hold = Hold(commits)
    await hold.start()

    async def gone(connection: Any) -> None:
        raise ConnectionResetError("the database went away")

    writes = [
        asyncio.create_task(commits.insert(message("room-1", "one"))),
        asyncio.create_task(commits.insert(message("room-2", "two"), then=gone)),
        asyncio.create_task(commits.insert(message("room-3", "three"))),
    ]
    await asyncio.sleep(0)
    await hold.release()
    results = await asyncio.gather(*writes, return_exceptions=True)
    assert all(isinstance(r, LvngError) and r.code is ErrorCode.UNAVAILABLE for r in results)
    assert {c for _, c in await stored(store)} == {"first"}  # nothing of that batch kept


async def test_a_write_of_several_models_and_its_then_are_one_transaction(store: Store) -> None:
    commits, _ = kit()
    row = message("room-0", "with a reaction")
    seen: list[Any] = []

    async def then(connection: Any) -> None:
        # The caller's own statement, in the same transaction: the row is there already.
        seen.append(
            await connection.execute_query_dict("SELECT count(*) AS n FROM messages_message")
        )

    moment = now_utc()
    reaction = Reaction(message_seq=0, user_id="u1", user_name="U", emoji="+1", created_at=moment)
    await commits.insert(row, reaction, then=then)
    assert row.seq is not None and reaction.id is not None
    assert seen and seen[0][0]["n"] == 1
    assert await store.read("SELECT emoji FROM messages_reaction") == [("+1",)]


async def test_batched_thens_run_once_per_batch_with_every_item(store: Store) -> None:
    commits, _ = kit()
    calls: list[list[str]] = []
    singles: list[str] = []

    async def run(connection: Any, items: list[str]) -> None:
        calls.append(list(items))

    async def single(connection: Any) -> None:
        singles.append("plain")

    hold = Hold(commits)
    await hold.start()
    waiting = [
        asyncio.create_task(commits.insert(message(f"room-{i}", f"m{i}"), then=then))
        for i, then in enumerate(
            [BatchedThen(run, "a"), single, BatchedThen(run, "b"), BatchedThen(run, "c")]
        )
    ]
    await asyncio.sleep(0)
    await hold.release()
    await asyncio.gather(*waiting)
    assert calls == [["a", "b", "c"]] and singles == ["plain"]  # one call for the batch
    # A write alone (as when a refused batch is retried write by write): its one item.
    await commits.insert(message("room-9", "alone"), then=BatchedThen(run, "d"))
    assert calls[-1] == ["d"]


def lose_commit_reply(*, committed: bool) -> Any:
    """A `then` after which the batch's COMMIT (committed, or rolled back) loses its
    connection before the reply: what PostgreSQL stopped at that very moment does."""

    async def then(connection: Any) -> None:
        finish = connection.commit if committed else connection.rollback

        async def lost() -> None:
            await finish()
            raise ConnectionResetError("the connection was lost during COMMIT")

        connection.commit = lost

    return then


async def test_a_commit_whose_reply_was_lost_is_settled_by_asking_the_database(
    store: Store,
) -> None:
    commits, _ = kit()
    hold = Hold(commits)
    await hold.start()
    rows = [message(f"room-{i}", f"m{i}") for i in range(3)]
    writes = [
        asyncio.create_task(commits.insert(rows[0])),
        asyncio.create_task(commits.insert(rows[1], then=lose_commit_reply(committed=True))),
        asyncio.create_task(commits.insert(rows[2])),
    ]
    await asyncio.sleep(0)
    await hold.release()
    await asyncio.gather(*writes)  # stored: acked, not UNAVAILABLE
    assert all(row.seq is not None and row._saved_in_db for row in rows)
    contents = [c for _, c in await stored(store)]
    assert contents[-3:] == ["m0", "m1", "m2"]


async def test_a_commit_lost_before_it_committed_fails_its_writes(store: Store) -> None:
    commits, _ = kit()
    hold = Hold(commits)
    await hold.start()
    writes = [
        asyncio.create_task(commits.insert(message("room-1", "one"))),
        asyncio.create_task(
            commits.insert(message("room-2", "two"), then=lose_commit_reply(committed=False))
        ),
    ]
    await asyncio.sleep(0)
    await hold.release()
    results = await asyncio.gather(*writes, return_exceptions=True)
    assert all(isinstance(r, LvngError) and r.code is ErrorCode.UNAVAILABLE for r in results)
    assert {c for _, c in await stored(store)} == {"first"}
    # The kit goes on: the next write is stored.
    await commits.insert(message("room-3", "three"))
    assert [c for _, c in await stored(store)][-1] == "three"


async def test_a_commit_in_doubt_waits_for_the_database_and_gives_up_in_time(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    commits, _ = kit()
    asked = 0
    real = commits._stored

    async def away_twice(batch: Any) -> list[bool]:
        nonlocal asked
        asked += 1
        if asked <= 2:
            raise ConnectionRefusedError("the database is still away")
        return await real(batch)

    monkeypatch.setattr(commits, "_stored", away_twice)
    row = message("room-1", "told late")
    await commits.insert(row, then=lose_commit_reply(committed=True))
    assert asked == 3 and row.seq is not None

    async def away(batch: Any) -> list[bool]:
        raise ConnectionRefusedError("the database is still away")

    monkeypatch.setattr(commits, "_stored", away)
    commits.doubt_seconds = 0.3
    with pytest.raises(LvngError) as failed:
        await commits.insert(
            message("room-2", "never told"), then=lose_commit_reply(committed=True)
        )
    assert failed.value.code is ErrorCode.UNAVAILABLE
    assert "may have been stored" in failed.value.message


async def test_a_full_batch_of_channel_sends_is_one_transaction(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """A batch of `MAX_BATCH` sends, each in a channel of its own (many small rooms under
    load), with their counts: one transaction, every tally and author's entry counted.
    The counts' statements once named every channel in one `OR` chain, which SQLite
    refuses past 1,000 terms (its expression depth): the batch was refused and every send
    written alone, a third of the throughput exactly when the load was highest."""
    commits, metrics = kit()
    channels = [f"c{i}" for i in range(MAX_BATCH)]
    # Seeded by SQL of our own: Tortoise's bulk_create keeps the SQL of the dialect it
    # first ran on, and this module runs on SQLite and PostgreSQL in one process.
    tallies = ", ".join(f"('org', '{c}', 0, 0)" for c in channels)
    await store.write(
        "INSERT INTO messages_channel_tally (organization_id, channel_id, live, last_seq) "
        f"VALUES {tallies}"
    )
    entries = ", ".join(f"('org', '{c}', 'u1', 0, 0, 0, 0, '{STAMP}')" for c in channels)
    await store.write(
        "INSERT INTO messages_channel_entry (organization_id, channel_id, user_id, read_seq, "
        f"read_live, own_after, mentions, created_at) VALUES {entries}"
    )
    rows = []
    for c in channels:
        row = message(f"channel:{c}", f"to {c}")
        row.channel_id = c
        rows.append(row)
    hold = Hold(commits)
    await hold.start()
    waiting = [
        asyncio.create_task(commits.insert(row, then=channel_counts.counted_send(row)))
        for row in rows
    ]
    await asyncio.sleep(0)
    before = batches(metrics)
    await hold.release()
    await asyncio.gather(*waiting)
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert refused == []  # not written alone: one transaction for the batch
    transactions, writes = batches(metrics)
    held = commits.parallel()  # the hold's writes, one transaction each
    assert (transactions - before[0], writes - before[1]) == (held + 1, held + MAX_BATCH)
    tallies = await store.read(
        "SELECT COUNT(*), SUM(live), SUM(CASE WHEN last_seq > 0 THEN 1 ELSE 0 END) "
        "FROM messages_channel_tally"
    )
    assert [tuple(int(v) for v in t) for t in tallies] == [(MAX_BATCH, MAX_BATCH, MAX_BATCH)]
    entries = await store.read("SELECT SUM(own_after) FROM messages_channel_entry")
    assert int(entries[0][0]) == MAX_BATCH

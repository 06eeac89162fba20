"""Group commit: the stored writes of many rooms in one transaction per short batch.

A plugin asks for rows to be stored in its room's order (`await turn.insert(row, ...)`
inside the room's turn, or `await platform.commits.insert(row, ...)` for writes no turn
orders) and gets control back once they are committed. Everything asked while a batch is
being written forms the next batch: the first write of an idle server goes at once, and
the window grows with the load (no timer, no added latency when idle).

One batch is one transaction: for each model, one multi-row `INSERT … RETURNING pk`
(chunked under the databases' parameter limits); then each write's `then(connection)`,
the caller's extra statements (an outbox row, a counter), in the order asked; then
COMMIT. The rows' primary keys are set once the batch committed; nothing is set on
rows that were not stored.

What holds:

- **Acked means committed.** `insert` returns only after COMMIT succeeded.
- **A room's order.** Rows are inserted in the order asked, so within one batch a room's
  rows get increasing keys in that order; a caller that holds the room's turn until its
  emits are out (`turn.insert`) has at most one write in flight per room, so commit order
  is the turn's order, on one node and (the turn's Redis lock) across nodes. Without
  Redis, several processes on one PostgreSQL database are a misconfiguration that is
  still covered: the batch takes the advisory locks of its rooms' turns (sorted, one
  statement per batch, not a transaction per write).
- **A failed batch fails exactly its writes.** Nothing of a failed transaction is kept.
  When the database cannot be reached every write of the batch fails (UNAVAILABLE);
  when it refused the batch (a constraint, a trigger, a caller's `then` raising), each
  write of the batch is tried again alone, in order, so only the writes that fail alone
  fail, each with its own error, and the others are stored. A write fails whole: its
  rows and its `then` are one transaction.
- **Batched thens.** A `then` made with `BatchedThen(run, item)` is run once per batch
  for all its batch's writes with the same `run`: `await run(connection, [item, …])`,
  in the writes' order, where the first of them would have run (a counter kept with
  one statement per batch instead of one per write); a write tried alone runs it with
  its one item.
- **A commit in doubt is settled, not guessed.** When the connection is lost during
  COMMIT itself (PostgreSQL stopped at that moment, a network cut), the database may
  have committed the batch without the reply reaching us. Its writes are then neither
  acked nor failed at once: the kit asks the database, as soon as it answers again,
  which of them are stored (each write's first row, by primary key; a write is one
  transaction, so its first row tells for all of it), and completes each write
  accordingly; the callers still hold their turns, so a room's order is kept. When the
  database does not answer within `doubt_seconds`, the writes fail UNAVAILABLE with
  words saying the outcome is unknown (a retry with the same `optimisticId` is answered
  with the stored message, if it was).
- **Several batches in flight** (PostgreSQL: `in_flight`, on the pool's connections) never
  hold two writes of one turn: a turn's next write is asked after its previous one
  committed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.database import store_unavailable
from core.errors import ErrorCode, LvngError
from core.rows import insert_many, insert_rows

__all__ = ["BatchedThen", "CommitInDoubt", "GroupCommit", "insert_rows"]

if TYPE_CHECKING:
    from tortoise.backends.base.client import BaseDBAsyncClient
    from tortoise.models import Model

    from core.cluster.state import ClusterState
    from core.metrics import CoreMetrics
    from core.tasks import Tasks

log = logging.getLogger("lvng.commits")

Then = Callable[["BaseDBAsyncClient"], Awaitable[Any]]
BatchRun = Callable[["BaseDBAsyncClient", list[Any]], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class BatchedThen:
    """A write's `then` whose work is done for the whole batch at once: the group commit
    calls `run(connection, items)` once with the items of every write of the batch that
    carries the same `run` (see the module docstring)."""

    run: BatchRun
    item: Any

    async def __call__(self, connection: BaseDBAsyncClient) -> Any:
        return await self.run(connection, [self.item])


MAX_BATCH = 1000  # writes per transaction; more wait for the next batch
DOUBT_SECONDS = 30.0  # how long a commit in doubt waits for the database to tell


class CommitInDoubt(Exception):
    """The connection was lost during COMMIT: the batch may or may not be stored (its
    cause is the connection error)."""


@dataclass(slots=True)
class _Write:
    rows: tuple[Model, ...]
    then: Then | None
    locks: tuple[str, ...]  # the turns ordering this write (advisory locks without Redis)
    future: asyncio.Future[None]
    keys: list[tuple[Model, Any]] = field(default_factory=list)  # (row, generated pk)


class GroupCommit:
    """The platform's group commit (`platform.commits`); see the module docstring."""

    def __init__(
        self, cluster: ClusterState, tasks: Tasks, metrics: CoreMetrics | None = None
    ) -> None:
        self.cluster = cluster
        self.tasks = tasks
        self.metrics = metrics
        self.in_flight = 2  # batches at once where the database has several connections
        self.doubt_seconds = DOUBT_SECONDS
        self._queue: list[_Write] = []
        self._flushers = 0

    def __len__(self) -> int:
        """Writes asked and not yet in a batch."""
        return len(self._queue)

    async def insert(
        self,
        *rows: Model,
        then: Then | None = None,
        key: str | None = None,
        also: tuple[str, ...] = (),
    ) -> None:
        """Insert `rows` (unsaved model instances, in this order) in the next batch, then
        run `then(connection)` in the same transaction; return once committed (the rows'
        generated keys set). `key`: the turn that orders these writes (its advisory lock
        on PostgreSQL without Redis), `also`: other turns it holds (derived writes' feeds,
        core/derived.py). Raises LvngError (UNAVAILABLE, INTERNAL_ERROR) when the write
        was not stored; nothing of it is kept then."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        locks = (key, *also) if key is not None else also
        write = _Write(rows, then, locks, future)
        self._queue.append(write)
        self._start()
        await future
        for row, pk in write.keys:
            row.pk = pk
        for row in rows:
            row._saved_in_db = True

    # --- batches ----------------------------------------------------------------------

    def _start(self) -> None:
        if self._flushers >= self.parallel():
            return  # a running flusher takes it with the next batch
        self._flushers += 1
        task = self.tasks.spawn(self._flush(), name="lvng-group-commit")
        task.add_done_callback(self._flusher_ended)

    def parallel(self) -> int:
        """Batches in flight at once: one on SQLite (one connection), `in_flight` on
        PostgreSQL (the pool's connections)."""
        from tortoise import connections

        dialect = connections.get("default").capabilities.dialect
        return 1 if dialect == "sqlite" else self.in_flight  # SQLite: one connection

    def _flusher_ended(self, task: asyncio.Task[Any]) -> None:
        self._flushers -= 1
        if task.cancelled():
            if self._flushers == 0:
                waiting, self._queue = self._queue, []  # the server is stopping
                for write in waiting:
                    _fail(write, LvngError(ErrorCode.UNAVAILABLE, _STOPPING))
        elif self._queue:
            # Asked after the flusher's last look at the queue and before this callback
            # (its writes' callers resume first): still counted then, so `_start` left it
            # to this flusher. On SQLite (one flusher) it waited for anyone's next write.
            self._start()

    async def _flush(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            try:
                await self._commit(batch)
            except asyncio.CancelledError:
                for write in batch:
                    _fail(write, LvngError(ErrorCode.UNAVAILABLE, _STOPPING))
                raise

    async def _commit(self, batch: list[_Write]) -> None:
        started = time.perf_counter()
        try:
            await self._transaction(batch)
        except CommitInDoubt as exc:
            self._doubt(batch, exc)
        except Exception as exc:  # noqa: BLE001 - every cause is reported to its writes
            if len(batch) > 1 and not store_unavailable(exc):
                # Refused: find which writes fail alone, store the others.
                log.warning("a batch of %d writes was refused (%r): each alone", len(batch), exc)
                for write in batch:
                    await self._alone(write)
            else:
                _report(exc, len(batch))
                for write in batch:
                    _fail(write, _not_stored(exc))
        else:
            for write in batch:
                _done(write)
        if self.metrics is not None:
            self.metrics.commit_batches.observe(len(batch))
            self.metrics.commit_seconds.observe(time.perf_counter() - started)

    async def _alone(self, write: _Write) -> None:
        try:
            await self._transaction([write])
        except CommitInDoubt as exc:
            self._doubt([write], exc)
        except Exception as exc:  # noqa: BLE001
            _report(exc, 1)
            _fail(write, _not_stored(exc))
        else:
            _done(write)

    async def _transaction(self, batch: list[_Write]) -> None:
        """One transaction for `batch`; raises CommitInDoubt when the connection was lost
        during COMMIT (everything before it ran: the outcome is the database's to tell)."""
        from tortoise.transactions import in_transaction

        committing = False
        try:
            async with in_transaction() as connection:
                await self._write(connection, batch)
                committing = True  # leaving the block is the COMMIT
        except Exception as exc:
            if committing and store_unavailable(exc):
                raise CommitInDoubt(f"the connection was lost during COMMIT: {exc!r}") from exc
            raise

    # --- a commit in doubt ------------------------------------------------------------

    def _doubt(self, batch: list[_Write], exc: CommitInDoubt) -> None:
        """Settle `batch` in the background: the flusher goes on with the next batch (it
        fails at once while the database is away), the writes' callers wait."""
        log.warning(
            "%d writes in doubt (%s): asking the database which were stored", len(batch), exc
        )
        self.tasks.spawn(self._settle(batch, exc), name="lvng-commit-in-doubt")

    async def _settle(self, batch: list[_Write], exc: CommitInDoubt) -> None:
        deadline = time.monotonic() + self.doubt_seconds
        pause = 0.1
        try:
            while True:
                try:
                    stored = await self._stored(batch)
                    break
                except Exception as error:  # noqa: BLE001 - an outage: ask again
                    if not store_unavailable(error) or time.monotonic() + pause > deadline:
                        log.error(
                            "%d writes in doubt stay unknown: the database did not tell (%r)",
                            len(batch),
                            error,
                        )
                        for write in batch:
                            _fail(write, _in_doubt(exc))
                        return
                await asyncio.sleep(pause)
                pause = min(pause * 2, 1.0)
        except asyncio.CancelledError:
            for write in batch:
                _fail(write, _in_doubt(exc))
            raise
        log.warning("%d of %d writes in doubt were stored", sum(stored), len(batch))
        for write, was_stored in zip(batch, stored, strict=True):
            if was_stored:
                _done(write)
            else:
                _fail(write, _not_stored(exc.__cause__ or exc))

    async def _stored(self, batch: list[_Write]) -> list[bool]:
        """Whether each write of `batch` is stored: its first row, by primary key (a write
        without rows cannot be told: not stored, so its caller hears UNAVAILABLE)."""
        marks: list[tuple[type[Any], Any] | None] = []
        for write in batch:
            if not write.rows:
                marks.append(None)
                continue
            first = write.rows[0]
            generated = dict((id(row), pk) for row, pk in write.keys)
            pk = generated.get(id(first), first.pk)
            marks.append(None if pk is None else (type(first), pk))
        found: dict[type[Any], set[Any]] = {}
        wanted: dict[type[Any], list[Any]] = {}
        for mark in marks:
            if mark is not None:
                wanted.setdefault(mark[0], []).append(mark[1])
        for model, keys in wanted.items():
            rows = await model.filter(pk__in=keys).values_list(model._meta.pk_attr, flat=True)
            found[model] = set(rows)
        return [mark is not None and mark[1] in found[mark[0]] for mark in marks]

    async def _write(self, connection: BaseDBAsyncClient, batch: list[_Write]) -> None:
        dialect = connection.capabilities.dialect
        if dialect == "postgres" and not self.cluster.cross_node:
            keys = sorted({k for w in batch for k in w.locks})
            if keys:
                await connection.execute_query(_ADVISORY_LOCKS, [keys])
        per_model: dict[type[Any], list[tuple[_Write, Model]]] = {}
        for write in batch:
            write.keys = []
            for row in write.rows:
                per_model.setdefault(type(row), []).append((write, row))
        for model, pairs in per_model.items():
            generated = await insert_many(connection, dialect, model, [r for _, r in pairs])
            if generated is not None:
                for (write, row), key in zip(pairs, generated, strict=True):
                    write.keys.append((row, key))
        await _run_thens(connection, [w.then for w in batch if w.then is not None])


async def _run_thens(connection: BaseDBAsyncClient, thens: list[Then]) -> None:
    """Each write's `then` in order; the `BatchedThen`s of one `run` together, once."""
    grouped: dict[BatchRun, list[Any]] = {}
    steps: list[tuple[Then | None, BatchRun | None]] = []
    for then in thens:
        if isinstance(then, BatchedThen):
            if then.run not in grouped:
                grouped[then.run] = []
                steps.append((None, then.run))
            grouped[then.run].append(then.item)
        else:
            steps.append((then, None))
    for one, run in steps:
        if run is not None:
            await run(connection, grouped[run])
        elif one is not None:
            await one(connection)


_STOPPING = "not stored: the server is stopping; send it again once reconnected"
_ADVISORY_LOCKS = (
    "SELECT count(pg_advisory_xact_lock(k)) FROM "
    "(SELECT DISTINCT hashtext(x) AS k FROM unnest($1::text[]) AS x ORDER BY k) AS locks"
)


def _not_stored(exc: BaseException) -> LvngError:
    if isinstance(exc, LvngError):
        return exc
    if store_unavailable(exc):
        # The words every UNAVAILABLE of the gateway has (core/gateway.py); the cause kept,
        # so whoever awaited the write can tell an outage (store_unavailable) from a bug.
        error = LvngError(ErrorCode.UNAVAILABLE, "a backing store is unavailable; try again")
        error.__cause__ = exc
        return error
    return LvngError(
        ErrorCode.INTERNAL_ERROR,
        "not stored: the database refused this write (it has been logged); nothing of it was kept",
    )


def _in_doubt(exc: CommitInDoubt) -> LvngError:
    error = LvngError(
        ErrorCode.UNAVAILABLE,
        "a backing store is unavailable; it may have been stored: send it again with the "
        "same optimisticId",
    )
    error.__cause__ = exc
    return error


def _report(exc: BaseException, writes: int) -> None:
    if isinstance(exc, LvngError):
        return  # a caller's own refusal, told to its client as it is
    if store_unavailable(exc):
        log.warning("%d writes not stored, the database is unavailable: %r", writes, exc)
    else:
        log.error("%d writes not stored, the database refused them", writes, exc_info=exc)


def _done(write: _Write) -> None:
    if not write.future.done():
        write.future.set_result(None)


def _fail(write: _Write, error: BaseException) -> None:
    if not write.future.done():
        write.future.set_exception(error)

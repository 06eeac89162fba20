"""After-ack work and room turns (the realtime kit).

**After-ack work.** A handler's ack must reach its sender before what the handler tells
the room (a joiner gets its ack, then the history, then the live stream). A handler
queues emits and follow-up work on `ctx.after_ack`; the gateway starts running the queue,
in order, once the handler has returned. python-socketio sends the ack from the handler's
return value without yielding to the event loop in between (the ack is queued on the
socket before any other task runs), so everything queued leaves after the ack. That
invariant is relied on in one place only: `Gateway.on_event`, which awaits nothing between
the handler's return and its own; `tests/unit/test_turns.py` pins it against python-socketio.

HTTP routes have no ack: they run their `AfterAck` themselves (`await after.run()`).

**Room turns.** Whatever changes a room and tells it holds the room's turn from the write
to the last emit, so every socket hears a room in commit order, and a joiner's snapshot and
the live stream neither overlap nor leave a gap. A turn is an in-process lock, plus a
cross-node lock in the cluster state when Redis is configured. When the block queued
after-ack work, the turn is released at the end of that work (after the emits went out),
not when the block ends. The turn belongs to one handler's `AfterAck`: the same handler may
enter a room's turn again (nested or one after the other) without waiting for itself.

Without Redis there is one node, so the in-process lock is enough, except that several
processes on one PostgreSQL database (a misconfiguration, but cheap to cover) must still
give a room's rows commit order: `turn.transaction()` then takes a PostgreSQL advisory
lock for the room, inside the transaction. A turn's single write statement
(`turn.statement()`) is its own transaction wherever the turn alone orders the room's
writes (SQLite, or Redis across nodes): one round trip to the database, not three.

Rows stored on the hot path go through the group commit (`turn.insert(rows)`,
core/commits.py): many rooms' writes share one transaction, and the batch takes the
advisory locks of its turns (one statement, only where the turn alone does not order).

A write may carry domain events (`turn.insert(rows, events=[...])`,
`turn.transaction(events=[...])`): the rows other plugins derive from them are stored in
the same transaction, and the events are delivered at the end of the turn
(core/derived.py).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from tortoise.models import Model

    from core.cluster.state import ClusterState
    from core.commits import GroupCommit, Then
    from core.data import DomainEvent
    from core.rooms import Room

log = logging.getLogger("lvng.turns")

Work = Callable[[], Awaitable[Any]]


class Emitter(Protocol):
    """Whatever sends an after-ack queue's emits: the platform (`Platform.emit`)."""

    async def emit(
        self,
        event: str,
        data: Any,
        *,
        room: Room | None = None,
        to: str | None = None,
        skip_sid: str | None = None,
    ) -> None: ...


class AfterAck:
    """Emits and work that run, in the order queued, once the handler's ack is out; the
    emits go through `emitter.emit` (the platform's, for `platform.after_ack()`)."""

    __slots__ = ("_emitter", "_items")

    def __init__(self, emitter: Emitter) -> None:
        self._emitter = emitter
        self._items: list[Work] = []

    def emit(
        self,
        event: str,
        data: Any,
        *,
        room: Room | None = None,
        to: str | None = None,
        skip_sid: str | None = None,
    ) -> None:
        """Queue `emitter.emit(event, data, room=/to=, skip_sid=)`."""
        emitter = self._emitter
        self._items.append(lambda: emitter.emit(event, data, room=room, to=to, skip_sid=skip_sid))

    def then(self, work: Work) -> None:
        """Queue `await work()` (a domain event, say)."""
        self._items.append(work)

    def __len__(self) -> int:
        return len(self._items)

    async def run(self) -> None:
        """Run everything queued, in order; a failing item is logged and the rest still run
        (a turn's release is an item too)."""
        while self._items:
            items, self._items = self._items, []
            for work in items:
                try:
                    await work()
                except Exception as exc:
                    from core.database import store_unavailable  # tortoise: imported late

                    if store_unavailable(exc):  # an outage (a turn's lock left to expire)
                        log.warning("after-ack work failed, a store is unavailable: %r", exc)
                    else:
                        log.exception("after-ack work failed")


class Prepared(Protocol):
    """One write's events and what plugins derive from them (`core.derived.Prepared`;
    typed here by what a turn uses, so this module does not import that one)."""

    @property
    def rows(self) -> tuple[Model, ...]: ...

    @property
    def keys(self) -> tuple[str, ...]: ...

    async def take_turns(self, turn: Callable[[str], RoomTurn]) -> None: ...

    async def release(self) -> None: ...

    async def finish(self, after: AfterAck) -> None: ...

    def publish(self, after: AfterAck) -> None: ...


class Derived(Protocol):
    """The platform's derived writers (`core.derived.DerivedWriters`), as a turn uses them."""

    async def prepare(self, events: Sequence[DomainEvent]) -> Prepared: ...


class _RoomLock:
    """The in-process side of a room's turn, owned by one `AfterAck` at a time."""

    __slots__ = ("lock", "owner", "depth", "token", "__weakref__")

    def __init__(self) -> None:
        import asyncio

        self.lock = asyncio.Lock()
        self.owner: AfterAck | None = None
        self.depth = 0
        self.token: str | None = None


class RoomTurns:
    """Hands out room turns; one per platform (`platform.turns`)."""

    def __init__(self, cluster: ClusterState, commits: GroupCommit | None = None) -> None:
        self.cluster = cluster
        if commits is None:
            from core.commits import GroupCommit
            from core.tasks import Tasks

            commits = GroupCommit(cluster, Tasks())
        self.commits = commits
        self.derived: Derived | None = None  # set by the platform (core/derived.py)
        self._locks: weakref.WeakValueDictionary[str, _RoomLock] = weakref.WeakValueDictionary()

    def turn(self, key: str, after: AfterAck) -> RoomTurn:
        """The turn of room (or other serialized thing) `key`, for the handler of `after`."""
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = _RoomLock()
        return RoomTurn(self, key, lock, after)


class RoomTurn:
    """`async with platform.turn(room, after):` see the module docstring."""

    __slots__ = ("_turns", "key", "_lock", "_after", "_queued", "_published")

    def __init__(self, turns: RoomTurns, key: str, lock: _RoomLock, after: AfterAck) -> None:
        self._turns = turns
        self.key = key
        self._lock = lock
        self._after = after
        self._queued = 0
        self._published: list[Prepared] = []

    async def __aenter__(self) -> RoomTurn:
        lock = self._lock
        if lock.owner is self._after:
            lock.depth += 1
        else:
            await lock.lock.acquire()
            try:
                lock.token = await self._turns.cluster.lock(self.key)
            except BaseException:
                lock.lock.release()
                raise
            lock.owner, lock.depth = self._after, 1
        self._queued = len(self._after)
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        published, self._published = self._published, []
        for prepared in published:  # committed writes' events (core/derived.py)
            if exc_type is None:
                await prepared.finish(self._after)  # derived emits, their turns handed on
            else:
                await prepared.release()
        if exc_type is None and len(self._after) > self._queued:
            self._after.then(self._release)  # after the emits this turn queued
        else:
            await self._release()
        for prepared in published:
            prepared.publish(self._after)  # delivered once the room is handed on

    async def _release(self) -> None:
        lock = self._lock
        lock.depth -= 1
        if lock.depth > 0:
            return
        token, lock.token, lock.owner = lock.token, None, None
        try:
            if token is not None:
                await self._turns.cluster.unlock(self.key, token)
        finally:
            lock.lock.release()

    async def insert(
        self, *rows: Model, then: Then | None = None, events: Sequence[DomainEvent] = ()
    ) -> None:
        """Store `rows` (unsaved model instances) in the room's order, in the next group
        commit (core/commits.py), with `then(connection)` run in the same transaction;
        return once committed. Many rooms' writes share one transaction: the way to store
        a turn's rows on the hot path. `events`: the domain events this write causes
        (`platform.domain_event(...)`); the rows plugins derive from them go in the same
        transaction, and they are delivered at the end of this turn (core/derived.py)."""
        prepared = await self._prepare(events)
        if prepared is None:
            await self._turns.commits.insert(*rows, then=then, key=self.key)
            return
        try:
            await self._turns.commits.insert(
                *rows, *prepared.rows, then=then, key=self.key, also=prepared.keys
            )
        except BaseException:
            await prepared.release()
            raise
        self._published.append(prepared)

    async def _prepare(self, events: Sequence[DomainEvent]) -> Prepared | None:
        if not events:
            return None
        derived = self._turns.derived
        if derived is None:
            raise RuntimeError("a write's events need the platform's turns (`platform.turn`)")
        if self._lock.owner is not self._after:
            raise RuntimeError("a write's events need its turn held: `async with turn:` first")
        prepared = await derived.prepare(events)
        await prepared.take_turns(lambda key: self._turns.turn(key, self._after))
        return prepared

    @asynccontextmanager
    async def statement(self) -> AsyncIterator[Any]:
        """A connection for this turn's one write statement, committed when it returns.

        The statement is its own transaction (one round trip, not three: BEGIN, the
        statement, COMMIT) wherever the turn alone keeps the room's writes in order: on
        SQLite (one process; Tortoise runs a statement between transactions, never inside
        another's) and across nodes with Redis (the turn's lock). PostgreSQL without Redis
        needs `transaction()`'s advisory lock: that is what it yields there."""
        from tortoise import connections

        connection = connections.get("default")
        if connection.capabilities.dialect == "sqlite" or self._turns.cluster.cross_node:
            yield connection
            return
        async with self.transaction() as connection:
            yield connection

    @asynccontextmanager
    async def transaction(self, events: Sequence[DomainEvent] = ()) -> AsyncIterator[Any]:
        """A database transaction for this turn's writes (see the module docstring).
        `events`: the domain events these writes cause; the rows plugins derive from them
        are inserted at the end of the block, before COMMIT (core/derived.py)."""
        from tortoise.transactions import in_transaction

        from core.rows import insert_rows

        prepared = await self._prepare(events)
        try:
            async with in_transaction() as connection:
                if (
                    not self._turns.cluster.cross_node
                    and connection.capabilities.dialect == "postgres"
                ):
                    keys = [self.key, *(prepared.keys if prepared is not None else ())]
                    for key in keys:
                        await connection.execute_query(
                            "SELECT pg_advisory_xact_lock(hashtext($1))", [key]
                        )
                yield connection
                if prepared is not None:
                    await insert_rows(connection, prepared.rows)
        except BaseException:
            if prepared is not None:
                await prepared.release()
            raise
        if prepared is not None:
            self._published.append(prepared)

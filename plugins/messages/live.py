"""What the messages plugin keeps only in this process's memory: room turns (locks),
typing indicators with their server-side expiry, and read receipts being coalesced.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.clock import now_iso

if TYPE_CHECKING:
    from core.identity import Identity
    from core.platform import Platform
    from core.rooms import Room
    from plugins.messages.service import Target

log = logging.getLogger("lvng.messages")


class Tasks:
    """Background tasks of the plugin, kept referenced and cancelled at shutdown."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("messages background task failed", exc_info=task.exception())

    async def cancel_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class RoomLocks:
    """One lock per room (and per user, for idempotent sends), made on demand.

    Whatever changes a room's messages or membership and tells the room holds its lock
    from the database write to the last emit, so within a room commit order is the order
    every socket hears things in, and a joiner's history and the live stream neither
    overlap nor leave a gap.
    """

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    def of(self, key: str) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        return lock


@dataclass
class _Emit:
    event: str
    data: Any
    room: Room | None = None
    to: str | None = None
    skip_sid: str | None = None


class RoomTurn:
    """`async with RoomTurn(...) as turn:` holds a room's lock; `turn.then(...)` queues
    emits that go out after the handler has returned (so after its ack), still under the
    lock, which is released once they are out; `turn.finally_(...)` queues work (domain
    events, say) for after that.

    The handler must return right after the block, awaiting nothing more: the queued
    emits start as soon as the handler's task yields.
    """

    def __init__(self, platform: Platform, lock: asyncio.Lock, tasks: Tasks) -> None:
        self._platform = platform
        self._lock = lock
        self._tasks = tasks
        self._then: list[_Emit] = []
        self._finally: list[Callable[[], Awaitable[Any]]] = []

    def finally_(self, work: Callable[[], Awaitable[Any]]) -> None:
        self._finally.append(work)

    def then(self, event: str, data: Any, *, room: Room | None = None, to: str | None = None,
             skip_sid: str | None = None) -> None:
        self._then.append(_Emit(event, data, room, to, skip_sid))

    async def __aenter__(self) -> RoomTurn:
        await self._lock.acquire()
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None or not (self._then or self._finally):
            self._lock.release()
            return
        # The task starts only once this task yields, which is after python-socketio has
        # queued the handler's ack: the ack goes out first, then these emits.
        self._tasks.spawn(self._flush())

    async def _flush(self) -> None:
        try:
            for emit in self._then:
                await self._platform.emit(emit.event, emit.data, room=emit.room, to=emit.to,
                                          skip_sid=emit.skip_sid)
        finally:
            self._lock.release()
        for work in self._finally:
            await work()


@dataclass
class _Typist:
    sid: str
    target: Target
    identity: Identity
    expiry: asyncio.Task[Any] | None = None


class TypingIndicators:
    """Who is typing where; a `typing:start` not stopped within `timeout` s is stopped by
    the server. Keyed by room and user, so any of a user's devices can stop it.
    """

    def __init__(self, platform: Platform, tasks: Tasks, timeout: float) -> None:
        self._platform = platform
        self._tasks = tasks
        self._timeout = timeout
        self._typing: dict[tuple[str, str], _Typist] = {}

    @staticmethod
    def _payload(target: Target, identity: Identity, **extra: Any) -> dict[str, Any]:
        return {**target.ids(), "userId": identity.user_id, "userName": identity.user_name,
                "timestamp": now_iso(), **extra}

    async def start(self, sid: str, target: Target, identity: Identity) -> None:
        key = (target.room.key, identity.user_id)
        previous = self._typing.pop(key, None)
        if previous is not None and previous.expiry is not None:
            previous.expiry.cancel()
        typist = _Typist(sid, target, identity)
        self._typing[key] = typist
        typist.expiry = self._tasks.spawn(self._expire(key, typist))
        await self._platform.emit("typing:start", self._payload(target, identity),
                                  room=target.room, skip_sid=sid)

    async def stop(self, sid: str, target: Target, identity: Identity, **extra: Any) -> bool:
        """End the user's typing in the room; False if it was not typing there."""
        typist = self._typing.pop((target.room.key, identity.user_id), None)
        if typist is None:
            return False
        if typist.expiry is not None and typist.expiry is not asyncio.current_task():
            typist.expiry.cancel()
        await self._platform.emit("typing:stop", self._payload(target, identity, **extra),
                                  room=target.room, skip_sid=sid)
        return True

    async def _expire(self, key: tuple[str, str], typist: _Typist) -> None:
        await asyncio.sleep(self._timeout)
        if self._typing.get(key) is typist:
            await self.stop(typist.sid, typist.target, typist.identity, reason="timeout")

    async def socket_gone(self, sid: str, rooms: set[Room] | None = None) -> None:
        """Stop whatever this socket was typing (in `rooms` only, when given)."""
        for typist in [t for t in self._typing.values() if t.sid == sid]:
            if rooms is None or typist.target.room in rooms:
                await self.stop(sid, typist.target, typist.identity, reason="left")


@dataclass
class _PendingReads:
    target: Target
    identity: Identity
    message_ids: list[str] = field(default_factory=list)


class ReadReceipts:
    """Coalesces one user's reads in one room within `window` s: one read goes out as
    `message:read`, several as one `message:read:batch`, to everyone in the room.
    """

    def __init__(self, platform: Platform, tasks: Tasks, window: float) -> None:
        self._platform = platform
        self._tasks = tasks
        self._window = window
        self._pending: dict[tuple[str, str], _PendingReads] = {}

    def add(self, target: Target, identity: Identity, message_id: str) -> None:
        key = (target.room.key, identity.user_id)
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = _PendingReads(target, identity)
            self._tasks.spawn(self._flush_later(key))
        if message_id not in pending.message_ids:
            pending.message_ids.append(message_id)

    async def _flush_later(self, key: tuple[str, str]) -> None:
        await asyncio.sleep(self._window)
        pending = self._pending.pop(key, None)
        if pending is None:
            return
        target, identity = pending.target, pending.identity
        if len(pending.message_ids) == 1:
            event = "message:read"
            data: dict[str, Any] = {"messageId": pending.message_ids[0], **target.ids(),
                                    "userId": identity.user_id,
                                    "userName": identity.user_name, "timestamp": now_iso()}
        else:
            event = "message:read:batch"
            data = {"messageIds": pending.message_ids, **target.ids(),
                    "userId": identity.user_id, "userName": identity.user_name,
                    "timestamp": now_iso()}
        await self._platform.emit(event, data, room=target.room)


"""`OwedWrites`: cluster writes that failed while Redis was away, made once it is back.

A socket that leaves while Redis is down cannot leave its rooms in the cluster state, so
the other nodes would never hear `member:left` (nor presence offline, nor a call's
participant left) until this node stops. Such writes are owed: kept in order and retried by
one settle loop (0.1 s doubling to 1 s between attempts) once the cluster is settled again
(`ClusterState.settled`: Redis answers and every live node listens on the Socket.IO channel
again, since a broadcast to a node that is not subscribed is lost to it). The first owed
write of an outage is logged, and so is the last one made; at stop the owed writes get one
more chance (`settle_now`).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import Gauge

from core.errors import ErrorCode, LvngError

log = logging.getLogger("lvng.cluster")

Write = Callable[[], Awaitable[Any]]

FIRST_PAUSE = 0.1
LONGEST_PAUSE = 1.0

# True in the task making owed writes and in the tasks it awaits (a plugin hook run by
# `asyncio.gather` is a task of its own): what they emit is published at once, not owed
# behind itself. A task started in the background (`Tasks.spawn`, a timer) runs with it
# False (`outside`): its emit queues behind what is owed then.
_making: contextvars.ContextVar[bool] = contextvars.ContextVar("owed_making", default=False)


def outside() -> contextvars.Context | None:
    """A context for a background task started now: None (the current one) unless an
    owed write is being made, then a copy of it with that undone."""
    if not _making.get():
        return None
    context = contextvars.copy_context()
    context.run(_making.set, False)
    return context


class CatchingUp(LvngError):
    """No new room turn: this node has not yet told the cluster what it owes since a
    Redis outage (`RedisCluster.lock`). A socket's leave refused so is owed too
    (core/gateway.py), behind the rest."""

    def __init__(self) -> None:
        super().__init__(
            ErrorCode.UNAVAILABLE, "the cluster is catching up after a Redis outage; try again"
        )


class OwedWrites:
    """Writes owed to the cluster state, made in order once it is settled."""

    def __init__(self, settled: Callable[[], Awaitable[bool]], gauge: Gauge | None = None) -> None:
        self._settled = settled
        self._owed: deque[tuple[str, Write]] = deque()
        self._gauge = gauge  # lvng_cluster_owed_writes: how many are owed
        self._loop: asyncio.Task[None] | None = None
        self._closed = False

    def __len__(self) -> int:
        return len(self._owed)

    def making(self) -> bool:
        """The caller is making an owed write."""
        return _making.get()

    def pending(self) -> bool:
        """Writes are owed and the caller is not making them: an emit now would overtake
        them (core/transport/redis_manager.py owes it too)."""
        return bool(self._owed) and not self.making()

    def owe(self, what: str, write: Write) -> None:
        """Make `write` (described by `what`, for the log) once the cluster is back."""
        if not self._owed:
            log.warning("cluster write owed until Redis is back: %s", what)
        self._owed.append((what, write))
        if self._gauge is not None:
            self._gauge.set(len(self._owed))
        if not self._closed and (self._loop is None or self._loop.done()):
            self._loop = asyncio.ensure_future(self._settle_loop())

    async def _settle_loop(self) -> None:
        pause = FIRST_PAUSE
        while self._owed:
            await asyncio.sleep(pause)
            if await self._settle():
                pause = FIRST_PAUSE
            else:
                pause = min(LONGEST_PAUSE, pause * 2)

    async def _settle(self) -> bool:
        """Make owed writes in order while they succeed; True when none is left."""
        try:
            if not await self._settled():
                return False
        except Exception:  # noqa: BLE001 - Redis still away
            return False
        made = 0
        making = _making.set(True)
        try:
            while self._owed:
                what, write = self._owed[0]
                try:
                    await write()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - away again: keep it for the next try
                    log.info("owed cluster write still failing (%s): %r", what, exc)
                    return False
                self._owed.popleft()
                made += 1
                if self._gauge is not None:
                    self._gauge.set(len(self._owed))
        finally:
            _making.reset(making)
        if made:
            log.warning("made %d owed cluster write(s) now that Redis is back", made)
        return True

    async def settle_now(self, timeout: float) -> None:
        """At stop: make what is owed if the cluster comes back within `timeout` s."""
        self._closed = True
        if self._loop is not None:
            self._loop.cancel()
            await asyncio.gather(self._loop, return_exceptions=True)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        pause = FIRST_PAUSE
        while self._owed and not await self._settle():
            if loop.time() + pause > deadline:
                log.warning("stopping with %d cluster write(s) still owed", len(self._owed))
                return
            await asyncio.sleep(pause)
            pause = min(LONGEST_PAUSE, pause * 2)

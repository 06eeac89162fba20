"""Background work of the platform: tracked tasks and keyed timers (the realtime kit).

Every task the core or a plugin starts goes through `Tasks`: it stays referenced (asyncio
keeps only weak references to tasks), a failure is logged with the task's name, and all of
them are cancelled at shutdown, before the database closes.

`Timers` are this node's expiries by key: typing indicators, read coalescing, presence
grace and idle. A timer is local to the node that set it; what it does when it fires must
re-check the shared state (`core.cluster`), since another node may have acted meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from core.cluster.owed import outside

log = logging.getLogger("lvng.tasks")


class Tasks:
    """Tracked background tasks, cancelled together at shutdown."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False

    def spawn(self, coro: Awaitable[Any], *, name: str | None = None) -> asyncio.Task[Any]:
        """Run `coro` in the background; its failure is logged, never lost."""
        context = outside()  # not part of an owed write (core/cluster/owed.py)
        if context is not None and asyncio.iscoroutine(coro):
            task = asyncio.get_running_loop().create_task(coro, context=context)
        else:
            task = asyncio.ensure_future(coro)
        if name is not None:
            task.set_name(name)
        if self._closed:  # shutting down: nothing new may start
            task.cancel()
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled() or (exc := task.exception()) is None:
            return
        from core.database import store_unavailable  # tortoise: imported late

        if store_unavailable(exc):  # an outage, not a bug: one line
            log.warning(
                "background task %s failed, a backing store is unavailable: %s: %s",
                task.get_name(),
                type(exc).__name__,
                exc,
            )
        else:
            log.error("background task %s failed", task.get_name(), exc_info=exc)

    def __len__(self) -> int:
        return len(self._tasks)

    async def cancel_all(self) -> None:
        """Cancel every task and wait for them to end; later spawns are cancelled at once."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class Timers:
    """Keyed one-shot timers: `schedule(key, delay, fn)` replaces the key's timer,
    `cancel(key)` drops it. `fn` is an async callable run as a tracked task."""

    def __init__(self, tasks: Tasks) -> None:
        self._tasks = tasks
        self._handles: dict[str, asyncio.TimerHandle] = {}

    def schedule(self, key: str, delay: float, fn: Callable[[], Awaitable[Any]]) -> None:
        self.cancel(key)
        # A bound method and arguments, not a closure (one object fewer per timer: a
        # server may hold one per connected user).
        handle = asyncio.get_running_loop().call_later(max(0.0, delay), self._fire, key, fn)
        self._handles[key] = handle

    def _fire(self, key: str, fn: Callable[[], Awaitable[Any]]) -> None:
        # The key's handle is the one firing: `schedule` cancels a replaced one.
        self._handles.pop(key, None)
        self._tasks.spawn(fn(), name=f"timer {key}")

    def cancel(self, key: str) -> bool:
        """Drop the key's timer; False when none was pending."""
        handle = self._handles.pop(key, None)
        if handle is None:
            return False
        handle.cancel()
        return True

    def pending(self, key: str) -> bool:
        return key in self._handles

    def cancel_all(self) -> None:
        for handle in self._handles.values():
            handle.cancel()
        self._handles.clear()

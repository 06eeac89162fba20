"""Idle asyncio Events and Queues without their 760-byte deques (per-connection state)."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any


class _Waiters(list):  # type: ignore[type-arg]
    """A list asyncio's Event and Queue can use where they make a deque: 56 bytes empty,
    not 760. What they hold is short (waiters; a socket's unsent packets, bounded by
    `QUEUE_LIMIT`), so `popleft` copying the rest is cheap."""

    __slots__ = ()

    def popleft(self) -> Any:
        return self.pop(0)


def slim(obj: Any) -> None:
    """Give an asyncio Event or Queue lists instead of its deques (see `_Waiters`)."""
    if isinstance(obj, asyncio.Event):
        if type(obj._waiters) is deque:
            obj._waiters = _Waiters(obj._waiters)  # type: ignore[assignment]
    elif type(obj) is asyncio.Queue:
        for name in ("_getters", "_putters", "_queue"):
            held = getattr(obj, name)
            if type(held) is deque:
                setattr(obj, name, _Waiters(held))
        slim(obj._finished)  # type: ignore[attr-defined]

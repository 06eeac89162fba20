"""Every Engine.IO session's next ping on one timer per server (per-connection state)."""

from __future__ import annotations

import asyncio
import math
from typing import Any


class Pings:
    """Every session's next ping on one timer: sessions are kept in one list per second
    they are due (a ping is at most a second late; Engine.IO's clients wait ping interval
    plus ping timeout). A timer handle per session is ~500 bytes, a list slot 8."""

    def __init__(self) -> None:
        self._due: dict[int, list[Any]] = {}
        self._handle: asyncio.Handle | None = None
        self._when = 0  # the second the handle is for (uvloop's near handles have no when())

    def add(self, socket: Any, delay: float) -> None:
        loop = asyncio.get_running_loop()
        second = math.ceil(loop.time() + delay)
        sockets = self._due.get(second)
        if sockets is None:
            self._due[second] = [socket]
        else:
            sockets.append(socket)
        if self._handle is None or self._when > second:
            if self._handle is not None:
                self._handle.cancel()
            self._handle, self._when = loop.call_at(second, self._tick), second

    def _tick(self) -> None:
        self._handle = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        for second in sorted(s for s in self._due if s <= now + 0.005):
            for socket in self._due.pop(second):
                socket._ping_due()
        if self._due:
            self._when = min(self._due)
            self._handle = loop.call_at(self._when, self._tick)

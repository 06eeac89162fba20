"""Per-socket sliding-window rate limit (contract section 3)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    retry_after_ms: int = 0
    disconnect: bool = False


class SlidingWindow:
    """At most `limit` accepted events in any `window` seconds.

    Rejected attempts are remembered too: a socket that keeps sending until it has tried
    three times the limit within one window is told to disconnect.

    The two deques are made on the first event: an empty deque is 760 bytes, and most
    sockets of a large server are idle (issue 16, per-connection memory).
    """

    __slots__ = ("limit", "window", "_accepted", "_attempts", "_clock")

    def __init__(
        self, limit: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self._accepted: deque[float] | tuple[()] = ()
        self._attempts: deque[float] | tuple[()] = ()
        self._clock = clock

    def idle(self) -> bool:
        """True when no accepted event is within the window any more."""
        return not self._accepted or self._accepted[-1] <= self._clock() - self.window

    def hit(self) -> Verdict:
        now = self._clock()
        horizon = now - self.window
        accepted, attempts = self._accepted, self._attempts
        if not isinstance(accepted, deque) or not isinstance(attempts, deque):
            accepted, attempts = self._accepted, self._attempts = deque(), deque()
        for queue in (accepted, attempts):
            while queue and queue[0] <= horizon:
                queue.popleft()
        attempts.append(now)
        if len(accepted) < self.limit:
            accepted.append(now)
            return Verdict(True)
        retry_after_ms = max(1, int((accepted[0] + self.window - now) * 1000) + 1)
        return Verdict(False, retry_after_ms, disconnect=len(attempts) >= 3 * self.limit)

"""Sliding-window rate limits: per socket (contract section 3), and per user over its
sockets and HTTP writes together (`UserWindows`, contract section 13)."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.errors import ErrorCode, LvngError

if TYPE_CHECKING:
    from core.identity import Identity

log = logging.getLogger("lvng.ratelimit")

# `hit_window(key, limit, window)`: 0, or the milliseconds until the window has room.
SharedWindow = Callable[[str, int, float], Awaitable[int]]


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


class UserWindows:
    """One sliding window per user (organization, user id) on this node, shared by all of
    the user's sockets and its HTTP writes (contract section 13): `LVNG_RATE_LIMIT_USER_EVENTS`
    per window, or `LVNG_RATE_LIMIT_SERVICE_EVENTS` for a `service` token.

    A window is made at a user's first event and outlives its sockets, so reconnecting
    does not refill it; once idle (no accepted event within the window) it holds nothing
    worth keeping, and idle windows are swept whenever the table has doubled since the
    last sweep (amortized: memory follows the users active within one window).

    **Across nodes** (issue 26, with Redis: `shared`): a user with sockets on more than one
    node (`spread`, marked by `core.slots`) and every HTTP write count in a sliding window
    in Redis that every node shares (`charge_shared`); everyone else keeps this node's
    window, which costs 0.8 µs an event where Redis's costs ~560 µs. Redis failing, the
    charge falls back to this node's window (logged once per outage; `per_node` True).
    """

    SWEEP_AT_LEAST = 1024

    def __init__(
        self,
        limit: int,
        service_limit: int,
        window: float,
        clock: Callable[[], float] = time.monotonic,
        on_refused: Callable[[], None] | None = None,
    ) -> None:
        self.limit = limit
        self.service_limit = service_limit
        self.on_refused = on_refused
        self.window = window
        self._clock = clock
        self._windows: dict[tuple[str, str], SlidingWindow] = {}
        self._sweep_at = self.SWEEP_AT_LEAST
        self.shared: SharedWindow | None = None
        self.spread: set[tuple[str, str]] = set()
        self.per_node = False  # Redis's window failed last time: counting on this node

    def is_shared(self, organization_id: str, user_id: str) -> bool:
        """Whether the user's events count in the window every node shares."""
        return self.shared is not None and (organization_id, user_id) in self.spread

    async def charge_shared(self, identity: Identity) -> None:
        """`charge`, in the window every node shares (Redis); this node's when Redis fails."""
        if self.shared is None:
            self.charge(identity)
            return
        service = identity.is_service
        limit = self.service_limit if service else self.limit
        key = f"{identity.organization_id}\t{identity.user_id}"
        try:
            retry_after_ms = await self.shared(key, limit, self.window)
        except Exception as exc:  # noqa: BLE001 - Redis away: count on this node
            if not self.per_node:
                self.per_node = True
                log.warning("per-user event limits count per node while Redis is away: %r", exc)
            self.charge(identity)
            return
        if self.per_node:
            self.per_node = False
            log.warning("per-user event limits count across nodes again")
        if retry_after_ms:
            self._refuse(service, retry_after_ms)

    def __len__(self) -> int:
        return len(self._windows)

    def hit(self, organization_id: str, user_id: str, *, service: bool = False) -> Verdict:
        """Count one event (or HTTP write) of the user against its window."""
        key = (organization_id, user_id)
        window = self._windows.get(key)
        if window is None:
            if len(self._windows) >= self._sweep_at:
                self.sweep()
            limit = self.service_limit if service else self.limit
            window = self._windows[key] = SlidingWindow(limit, self.window, self._clock)
        return window.hit()

    def charge(self, identity: Identity) -> None:
        """Count one event or HTTP write of `identity`; LvngError(RATE_LIMITED) with
        `retryAfterMs` when its window is full (`on_refused` is called first)."""
        service = identity.is_service
        verdict = self.hit(identity.organization_id, identity.user_id, service=service)
        if not verdict.allowed:
            self._refuse(service, verdict.retry_after_ms)

    def _refuse(self, service: bool, retry_after_ms: int) -> None:
        if self.on_refused is not None:
            self.on_refused()
        limit = self.service_limit if service else self.limit
        whose = "a service's" if service else "a user's"
        raise LvngError(
            ErrorCode.RATE_LIMITED,
            f"rate limit of {limit} events per {self.window:g} s "
            f"for all of {whose} connections exceeded",
            retryAfterMs=retry_after_ms,
        )

    def sweep(self) -> int:
        """Forget every idle window; how many were forgotten."""
        idle = [key for key, window in self._windows.items() if window.idle()]
        for key in idle:
            del self._windows[key]
        self._sweep_at = max(self.SWEEP_AT_LEAST, 2 * len(self._windows))
        return len(idle)

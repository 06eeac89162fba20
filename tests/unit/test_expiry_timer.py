"""The token-expiry timer of the gateway, driven by hand (no server, no waiting for `exp`).

The loop's timers run on the monotonic clock, `exp` is on the wall clock: a timer may wake
a fraction of a millisecond before `exp`. These tests make it wake early on purpose.
"""

from __future__ import annotations

import asyncio
from typing import Any

import socketio
from prometheus_client import CollectorRegistry

from core.data import Session
from core.gateway import Gateway
from core.identity import Identity
from core.metrics import CoreMetrics
from core.platform import Platform
from core.ratelimit import SlidingWindow
from core.registry import EventRegistry

EXP = 1_000_000.0  # the token's exp on the fake wall clock


class NoPlugins:
    def implements(self, hook_name: str) -> bool:
        return False

    async def fan_out(self, hook_name: str, **kwargs: Any) -> list:
        return []


class Harness:
    """A real Gateway on a real (unattached) AsyncServer whose outputs are recorded, with a
    wall clock the test sets each time the expiry timer fires."""

    def __init__(self, readings: list[float]) -> None:
        self.sio = socketio.AsyncServer(async_mode="asgi")
        self.metrics = CoreMetrics(CollectorRegistry())
        platform = Platform(
            settings=None,
            sio=self.sio,
            plugins=NoPlugins(),
            registry=EventRegistry(),
            verifier=None,
            metrics=self.metrics,
            metrics_registry=self.metrics.registry,
        )
        self.platform = platform
        self.gateway = Gateway(platform)
        self.now = EXP - 0.02
        self.gateway.clock = lambda: self.now
        self.readings = list(readings)  # the wall clock at each firing of the timer
        self.fired: list[float] = []
        self.emitted: list[tuple[str, Any, str]] = []
        self.disconnected = asyncio.Event()
        self.sio.emit = self._emit
        self.sio.disconnect = self._disconnect
        self._spawn = platform.tasks.spawn
        platform.tasks.spawn = self._fire

    def _fire(self, coro: Any, **kwargs: Any) -> asyncio.Task:
        # Only the expiry timer spawns tasks in these tests: this is the timer firing.
        self.now = self.readings.pop(0) if self.readings else EXP
        self.fired.append(self.now)
        return self._spawn(coro, **kwargs)

    async def _emit(
        self, event: str, data: Any = None, to: str | None = None, **kwargs: Any
    ) -> None:
        self.emitted.append((event, data, to))

    async def _disconnect(self, sid: str, **kwargs: Any) -> None:
        self.disconnected.set()

    def expiries(self) -> float:
        return self.metrics.registry.get_sample_value("lvng_token_expiry_disconnects_total")

    def session(self, expires_at: float = EXP) -> Session:
        identity = Identity("u1", "acme", "u1", frozenset(), frozenset(), expires_at)
        session = Session(sid="sid-1", identity=identity, limiter=SlidingWindow(100, 60))
        self.platform.sessions[session.sid] = session
        return session


EXPIRED = (
    "error",
    {
        "code": "TOKEN_EXPIRED",
        "message": "the token has expired; reconnect with a new one",
        "event": None,
    },
    "sid-1",
)


async def test_a_timer_that_fires_early_is_rescheduled_and_still_expires():
    harness = Harness(readings=[EXP - 0.00023, EXP])  # 0.23 ms early, then on time
    session = harness.session()
    harness.gateway._schedule_expiry(session)
    await asyncio.wait_for(harness.disconnected.wait(), 2)
    assert harness.fired == [EXP - 0.00023, EXP]
    assert harness.emitted == [EXPIRED]
    assert harness.expiries() == 1


async def test_several_early_wake_ups_never_strand_the_socket():
    harness = Harness(readings=[EXP - 0.001, EXP - 0.0001, EXP - 0.000001, EXP + 0.5])
    harness.gateway._schedule_expiry(harness.session())
    await asyncio.wait_for(harness.disconnected.wait(), 2)
    assert len(harness.fired) == 4
    assert harness.emitted == [EXPIRED]


async def test_a_timer_on_time_expires_at_once():
    harness = Harness(readings=[EXP])
    harness.gateway._schedule_expiry(harness.session())
    await asyncio.wait_for(harness.disconnected.wait(), 2)
    assert harness.fired == [EXP]
    assert harness.emitted == [EXPIRED]
    assert harness.expiries() == 1


async def test_a_timer_of_a_socket_already_gone_does_nothing():
    harness = Harness(readings=[EXP - 0.0001])
    session = harness.session()
    del harness.platform.sessions[session.sid]
    await harness.gateway._expire(session.sid)
    assert harness.emitted == [] and not harness.disconnected.is_set()
    assert harness.expiries() == 0

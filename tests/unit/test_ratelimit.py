"""The per-socket sliding window (core/ratelimit.py), verdict by verdict."""

from __future__ import annotations

from core.ratelimit import SlidingWindow, Verdict


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_sliding_window_unit():
    """Every verdict of a sequence pinned: allowed, retryAfterMs and disconnect."""
    clock = Clock()
    window = SlidingWindow(3, 10, clock=clock)
    assert [window.hit() for _ in range(3)] == [Verdict(True)] * 3
    clock.now = 4.0
    # Refused: the oldest accepted event (t=0) leaves the window at t=10, in 6 s.
    assert window.hit() == Verdict(False, 6001, False)
    clock.now = 10.0  # exactly one window later: the three accepted at t=0 are out
    assert [window.hit() for _ in range(3)] == [Verdict(True)] * 3
    clock.now = 11.0
    # Attempts in the window: t=4 (1), t=10 (3), then these. The one that makes nine
    # (3 x the limit) disconnects, and so does every one after it.
    verdicts = [window.hit() for _ in range(7)]
    assert verdicts == [Verdict(False, 9001, False)] * 4 + [Verdict(False, 9001, True)] * 3


def test_refused_attempts_leave_the_window_too():
    clock = Clock()
    window = SlidingWindow(2, 10, clock=clock)
    assert [window.hit().allowed for _ in range(2)] == [True, True]
    clock.now = 1.0
    assert [window.hit() for _ in range(3)] == [Verdict(False, 9001, False)] * 3
    clock.now = 10.5  # the two accepted (t=0) are out, the three refused (t=1) are not
    assert window.hit() == Verdict(True)
    assert window.hit() == Verdict(True)
    # attempts now: 3 refused at t=1 + 2 accepted; the sixth attempt disconnects
    assert window.hit() == Verdict(False, 10001, True)
    clock.now = 11.0  # the refused ones left the window: 3 attempts remain
    assert window.hit() == Verdict(False, 9501, False)


def test_retry_after_counts_from_the_oldest_accepted_event():
    clock = Clock()
    window = SlidingWindow(2, 1.5, clock=clock)
    window.hit()
    clock.now = 0.5
    window.hit()
    clock.now = 1.0
    assert window.hit() == Verdict(False, 501, False)  # t=0 leaves at 1.5
    clock.now = 1.4995
    assert window.hit() == Verdict(False, 1, False)  # half a millisecond: rounded up to 1
    clock.now = 1.5
    assert window.hit() == Verdict(True)  # t=0 left; t=0.5 stays until 2.0
    assert window.hit() == Verdict(False, 501, False)


def test_the_limit_and_window_are_kept():
    window = SlidingWindow(100, 60)
    assert (window.limit, window.window) == (100, 60)
    assert window.hit() == Verdict(True)  # the real monotonic clock by default


def test_a_verdict_defaults_to_no_wait_and_no_disconnect():
    assert Verdict(True) == Verdict(True, 0, False)


def test_a_window_is_idle_once_its_last_accepted_event_has_left():
    clock = Clock()
    window = SlidingWindow(3, 10, clock=clock)
    assert window.idle()  # nothing accepted yet
    for moment in (0.0, 1.0, 5.0):
        clock.now = moment
        window.hit()
    window.hit()  # refused: refusals do not keep a window busy
    assert not window.idle()
    clock.now = 14.999
    assert not window.idle()  # the one at t=5 is still in (those at t=0 and 1 are not)
    clock.now = 15.0
    assert window.idle()


# --- the per-user windows (UserWindows), shared by a user's sockets and HTTP writes ------


def test_a_user_has_one_window_and_a_service_its_own_size():
    from core.ratelimit import UserWindows

    clock = Clock()
    windows = UserWindows(2, 3, 10, clock=clock)
    assert [windows.hit("acme", "u").allowed for _ in range(3)] == [True, True, False]
    assert windows.hit("acme", "u") == Verdict(False, 10001, False)
    # The same user id in another organization, and another user, have their own.
    assert windows.hit("globex", "u").allowed and windows.hit("acme", "v").allowed
    allowed = [windows.hit("acme", "bot", service=True).allowed for _ in range(4)]
    assert allowed == [True, True, True, False]
    assert len(windows) == 4


def test_idle_windows_are_swept_once_the_table_doubles():
    from core.ratelimit import UserWindows

    clock = Clock()
    windows = UserWindows(5, 5, 10, clock=clock)
    windows.SWEEP_AT_LEAST = 2
    windows._sweep_at = 2
    windows.hit("o", "a")
    windows.hit("o", "b")
    clock.now = 5.0
    windows.hit("o", "c")  # two windows: a sweep (nothing idle); the next at 2 x 2
    assert len(windows) == 3
    clock.now = 10.5  # a and b are idle now (their event left the window); c is not
    windows.hit("o", "d")  # three windows: under four, no sweep
    assert len(windows) == 4
    windows.hit("o", "e")  # four: a sweep takes a and b
    assert len(windows) == 3
    assert windows.sweep() == 0
    windows.hit("o", "f")  # a new user after a sweep
    # A window kept across a sweep still counts what it had: c's event is in it.
    assert [windows.hit("o", "c").allowed for _ in range(5)] == [True] * 4 + [False]


def test_charge_raises_rate_limited_with_retry_after_and_says_whose_window():
    import pytest

    from core.errors import ErrorCode, LvngError
    from core.identity import Identity
    from core.ratelimit import UserWindows

    refused: list[int] = []
    clock = Clock()
    windows = UserWindows(1, 2, 60, clock=clock, on_refused=lambda: refused.append(1))
    user = Identity("u", "o", "U", frozenset(), frozenset(), 1e12)
    service = Identity("s", "o", "S", frozenset(), frozenset({"service"}), 1e12)
    windows.charge(user)
    windows.charge(Identity("u", "elsewhere", "U", frozenset(), frozenset(), 1e12))
    clock.now = 1.5
    with pytest.raises(LvngError) as raised:
        windows.charge(user)
    assert raised.value.code is ErrorCode.RATE_LIMITED
    assert raised.value.to_dict() == {
        "code": "RATE_LIMITED",
        "message": "rate limit of 1 events per 60 s for all of a user's connections exceeded",
        "retryAfterMs": 58501,
    }
    windows.charge(service)
    windows.charge(service)
    with pytest.raises(LvngError) as raised:
        windows.charge(service)
    assert raised.value.message == (
        "rate limit of 2 events per 60 s for all of a service's connections exceeded"
    )
    assert refused == [1, 1]


def test_a_window_that_never_saw_an_event_holds_no_deque():
    """Most sockets of a large server are idle: their windows allocate nothing until the
    first event (issue 16, per-connection memory)."""
    from collections import deque

    window = SlidingWindow(3, 10, clock=Clock())
    assert (window._accepted, window._attempts) == ((), ())
    assert window.idle()
    window.hit()
    assert isinstance(window._accepted, deque) and isinstance(window._attempts, deque)


async def test_the_window_every_node_shares_and_its_fallback_when_redis_fails(caplog):
    """`UserWindows.charge_shared` (issue 26): the user's events count in the shared
    (Redis) window, driven here by a stand-in; when it fails, this node's window counts,
    with one warning per outage."""
    import logging

    import pytest

    from core.errors import LvngError
    from core.identity import Identity
    from core.ratelimit import UserWindows

    clock = Clock()
    refused: list[int] = []
    windows = UserWindows(1, 2, 60, clock=clock, on_refused=lambda: refused.append(1))
    user = Identity("u", "o", "U", frozenset(), frozenset(), 1e12)
    service = Identity("s", "o", "S", frozenset(), frozenset({"service"}), 1e12)
    assert windows.shared is None and windows.per_node is False
    windows.spread.add(("o", "u"))
    assert not windows.is_shared("o", "u")  # no shared window: never shared
    with caplog.at_level(logging.WARNING, logger="lvng.ratelimit"):
        await windows.charge_shared(user)  # without Redis: this node's window
        with pytest.raises(LvngError):
            await windows.charge_shared(user)
    assert caplog.records == [] and windows.per_node is False and refused == [1]

    calls: list[tuple[str, int, float]] = []
    answers: list[int | Exception] = []

    async def shared(key: str, limit: int, window: float) -> int:
        calls.append((key, limit, window))
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    windows = UserWindows(1, 2, 60, clock=clock, on_refused=lambda: refused.append(2))
    windows.shared = shared
    windows.spread.add(("o", "u"))
    assert windows.is_shared("o", "u")
    assert not windows.is_shared("o", "v") and not windows.is_shared("p", "u")
    answers[:] = [0, 0, 1234]
    with caplog.at_level(logging.WARNING, logger="lvng.ratelimit"):
        await windows.charge_shared(user)
        await windows.charge_shared(service)
        with pytest.raises(LvngError) as raised:
            await windows.charge_shared(service)
    assert caplog.records == []  # no outage, nothing to say
    assert calls == [("o\tu", 1, 60), ("o\ts", 2, 60), ("o\ts", 2, 60)]
    assert raised.value.to_dict() == {
        "code": "RATE_LIMITED",
        "message": "rate limit of 2 events per 60 s for all of a service's connections exceeded",
        "retryAfterMs": 1234,
    }
    assert refused == [1, 2] and len(windows) == 0  # nothing counted on this node

    answers[:] = [ConnectionError("redis away"), ConnectionError("still away"), 0]
    with caplog.at_level(logging.WARNING, logger="lvng.ratelimit"):
        await windows.charge_shared(user)  # counted on this node instead
        assert windows.per_node is True
        with pytest.raises(LvngError) as raised:
            await windows.charge_shared(user)  # this node's window is full
        assert raised.value.extra == {"retryAfterMs": 60001}
        await windows.charge_shared(service)  # Redis back
    assert windows.per_node is False
    assert [r.getMessage() for r in caplog.records] == [
        "per-user event limits count per node while Redis is away: ConnectionError('redis away')",
        "per-user event limits count across nodes again",
    ]

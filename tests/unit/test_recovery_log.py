"""core/recovery.py on its own: logs bounded by size and window, what a claim answers,
which rooms are logged, and the state a graceful stop keeps."""

from __future__ import annotations

from pathlib import Path

from core.recovery import Recovery


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def emit(recovery: Recovery, room: str, event: str = "e", local: set[str] | None = None) -> int:
    offset = recovery.next_offset()
    recovery.record(event, room, f'2["{event}",{{}},"{offset}"]', None, local)
    return int(offset)


def made(window: float = 60, size: int = 1000) -> tuple[Recovery, Clock, list[str]]:
    clock = Clock()
    recovery = Recovery(window, size, clock=clock)
    results: list[str] = []
    recovery.on_result = results.append
    return recovery, clock, results


def test_a_claim_within_the_window_replays_each_missed_packet_once_in_order() -> None:
    recovery, _, results = made()
    emit(recovery, "o/r")
    last = emit(recovery, "o/r")
    recovery.save("s1", "p1", "o", "u", {"o/r": 0})
    emit(recovery, "o/r")
    emit(recovery, "o/other")
    emit(recovery, "o/r", event="typing:start")
    saved = recovery.claim({"pid": "p1", "offset": str(last), "token": "t"})
    assert saved is not None and saved.sid == "s1"
    recovery.plan("s1", {"o/r": 0})
    entered: list[str] = []
    sent: list[str] = []
    assert recovery.finish("s1", entered.append, sent.append)
    assert entered == ["o/r"]
    assert sent == ['2["e",{},"3"]', '2["typing:start",{},"5"]']  # not ephemeral here
    assert results == ["recovered"]
    assert recovery.watched == {}


def test_ephemeral_events_are_not_logged() -> None:
    recovery, _, _ = made()
    recovery.ephemeral = frozenset({"typing:start"})
    emit(recovery, "o/r", event="typing:start")
    assert "o/r" not in recovery.logs


def test_a_trimmed_log_or_a_passed_window_is_a_fresh_connection() -> None:
    recovery, clock, results = made(window=60, size=2)
    recovery.save("s1", "p1", "o", "u", {"o/r": 0})
    for _ in range(3):
        emit(recovery, "o/r")
    assert recovery.claim({"pid": "p1", "offset": "0"}) is None
    recovery.save("s2", "p2", "o", "u", {"o/q": 0})
    clock.now += 61
    assert recovery.claim({"pid": "p2", "offset": "3"}) is None
    recovery.save("s3", "p3", "o", "u", {})
    clock.now += 61
    recovery.sweep()
    assert recovery.claim({"pid": "p3", "offset": "3"}) is None
    assert recovery.claim({"pid": "nobody", "offset": "3"}) is None
    recovery.save("s4", "p4", "o", "u", {})
    assert recovery.claim({"pid": "p4", "offset": "99"}) is None  # from the future
    assert results == ["expired", "expired", "expired", "unknown", "unknown"]


def test_only_rooms_with_a_socket_here_or_a_saved_one_are_logged() -> None:
    recovery, _, _ = made()
    emit(recovery, "o/nobody", local={"o/here"})
    emit(recovery, "o/here", local={"o/here"})
    recovery.save("s1", "p1", "o", "u", {"o/gone": 0})
    emit(recovery, "o/gone", local={"o/here"})
    assert sorted(recovery.logs) == ["o/gone", "o/here"]


def test_a_refused_claim_stays_saved() -> None:
    recovery, _, results = made()
    recovery.save("s1", "p1", "o", "u", {"o/r": 0})
    assert recovery.claim({"pid": "p1", "offset": "0"}) is not None
    recovery.refuse("s1")
    assert "p1" in recovery.saved and recovery.watched == {"o/r": 1, "s1": 1}
    assert results == ["refused"]


def test_the_state_survives_a_restart_once(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3.recovery.json"
    recovery = Recovery(60, 1000, path)
    emit(recovery, "o/r")
    recovery.save("s1", "p1", "o", "u", {"o/r": 0})
    recovery.dump()
    assert path.stat().st_mode & 0o777 == 0o600
    again = Recovery(60, 1000, path)
    again.load()
    assert not path.exists()
    assert again.seq == 1 and "p1" in again.saved and len(again.logs["o/r"]) == 1
    assert again.next_offset() == "2"


def test_a_gap_past_the_slow_consumer_bounds_is_a_fresh_connection() -> None:
    from core.recovery import MAX_REPLAY

    recovery, _, results = made()
    recovery.save("s1", "p1", "o", "u", {"o/r": 0})
    for _ in range(MAX_REPLAY + 1):
        emit(recovery, "o/r")
    assert recovery.claim({"pid": "p1", "offset": "0"}) is None
    assert results == ["expired"]

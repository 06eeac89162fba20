"""What a recovery on another node sends (core/recovery_store.py `merge`, through
`Recovery.finish`): what Redis had and what this node's listener logged since the claim
began, merged by offset, each once; nothing past what the listener heard (it reaches the
socket live once it is in its rooms); nothing an emit skipped the socket for; of the
socket's own log, only what went to the old socket (up to the claim)."""

from __future__ import annotations

from core.recovery import Plan, Recovery
from core.recovery_store import RecoveryStore


def test_finish_merges_redis_and_the_local_log_once_in_order_up_to_what_was_heard() -> None:
    recovery = Recovery(120)
    # Never connects: merge needs no Redis.
    recovery.store = RecoveryStore("redis://127.0.0.1:1", "t", "t", 120, 1000, "node")
    recovery.watched = {"room": 1, "S": 1}
    for n, packet in ((8, "p8"), (10, "p10")):  # heard here since the claim began
        recovery.seq = n
        recovery.record("e", "room", packet, None, local={})
    recovery.seq = 10
    recovery.remote["S"] = {
        "room": [(4, "p4", ()), (8, "p8", ()), (9, "p9", ("S",)), (11, "p11", ())],
        "other": [(6, "p6", ())],  # a room no longer allowed: not in the plan
        "S": [(5, "p5", ()), (7, "p7", ()), (12, "p12", ())],
    }
    recovery.plans["S"] = Plan(offset=5, until=10, rooms={"room": 5})
    entered: list[str] = []
    sent: list[str] = []
    assert recovery.finish("S", entered.append, sent.append) is True
    assert entered == ["room"]
    # p4/p5: at or before the offset; p9: skipped the socket; p11: not heard here yet
    # (it comes live); p12: after the claim; p6: its room is not set back; p8 once.
    assert sent == ["p7", "p8", "p10"]
    assert recovery.remote == {}

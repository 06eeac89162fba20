"""The Redis side of recovery (core/recovery_store.py) against a real Redis: an emit that
was logged twice (its script run again after its answer was lost, or owed since an
outage: core/transport/emit_ids.py) is read back once, at its first offset, and not at
all by a socket that had the first copy."""

from __future__ import annotations

import json

from core.recovery_store import RecoveryStore
from tests.messages.support import uid
from tests.services import require_redis


async def test_an_emit_logged_twice_is_read_once_at_its_first_offset() -> None:
    store = RecoveryStore(require_redis(), uid("recovery-test"), uid("channel"), 120, 1000, "n1")
    try:
        room, other = uid("room"), uid("room")

        async def log(emit_id: str, text: str, rooms: list[str]) -> int:
            head = '42["message:new",' + json.dumps({"content": text}) + ',"'
            return await store.broadcast(rooms, head, "[]", '{"m":1,"lvng_n":', True, emit_id)

        first = await log("a.1", "once", [room, other])
        second = await log("a.2", "two", [room])
        again = await log("a.1", "once", [room, other])  # owed: the same emit, again
        assert first < second < again
        found = await store.missed({room: 0, other: 0}, 100)
        assert found is not None
        assert [n for n, _, _ in found[room]] == [first, second]
        assert [n for n, _, _ in found[other]] == [first]
        assert found[room][0][1] == f'42["message:new",{{"content": "once"}},"{first}"]'
        # A socket that had the first copy (its floor at or past it) reads neither copy.
        found = await store.missed({room: first, other: first}, 100)
        assert found is not None
        assert [n for n, _, _ in found[room]] == [second] and found[other] == []
    finally:
        await store.redis.delete(store.counter, store.stream(room), store.stream(other))
        await store.redis.aclose()

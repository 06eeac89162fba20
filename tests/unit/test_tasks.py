"""`core.tasks`: tracked background tasks and keyed timers (the realtime kit), in-process."""

from __future__ import annotations

import asyncio
import logging

from core.tasks import Tasks, Timers


async def test_a_failing_task_is_logged_and_cancel_all_ends_the_rest(caplog):
    tasks = Tasks()

    async def fail() -> None:
        raise RuntimeError("boom")

    forever = tasks.spawn(asyncio.Event().wait(), name="forever")
    with caplog.at_level(logging.ERROR, logger="lvng.tasks"):
        failed = tasks.spawn(fail(), name="failing")
        await asyncio.gather(failed, return_exceptions=True)
        await asyncio.sleep(0)
    assert [r.getMessage() for r in caplog.records] == ["background task failing failed"]
    assert len(tasks) == 1
    await tasks.cancel_all()
    assert forever.cancelled() and len(tasks) == 0
    late = tasks.spawn(asyncio.Event().wait())  # after shutdown nothing new runs
    await asyncio.gather(late, return_exceptions=True)
    assert late.cancelled()


async def test_keyed_timers_replace_and_cancel():
    timers = Timers(Tasks())
    fired: list[str] = []
    done = asyncio.Event()

    async def fire(what: str) -> None:
        fired.append(what)
        done.set()

    timers.schedule("k", 10, lambda: fire("old"))
    timers.schedule("k", 0.01, lambda: fire("new"))  # replaces the 10 s one
    timers.schedule("gone", 0.01, lambda: fire("cancelled"))
    assert timers.cancel("gone") is True and timers.cancel("gone") is False
    await done.wait()
    await asyncio.sleep(0.05)
    assert fired == ["new"] and not timers.pending("k")

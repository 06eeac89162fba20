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


async def test_a_replaced_timer_never_fires_even_when_it_was_due_first():
    timers = Timers(Tasks())
    fired: list[str] = []
    done = asyncio.Event()

    async def fire(what: str) -> None:
        fired.append(what)
        if what == "last":
            done.set()

    timers.schedule("k", 0.01, lambda: fire("old"))
    timers.schedule("k", 0.02, lambda: fire("new"))  # replaces the sooner one
    timers.schedule("end", 0.04, lambda: fire("last"))  # loop timers fire in time order
    await done.wait()
    assert fired == ["new", "last"]


async def test_a_timer_is_due_after_its_delay_and_a_negative_delay_at_once():
    timers = Timers(Tasks())
    loop = asyncio.get_running_loop()

    async def nothing() -> None:
        return None

    before = loop.time()
    timers.schedule("soon", 0.25, nothing)
    timers.schedule("past", -5, nothing)
    after = loop.time()
    soon, past = timers._handles["soon"].when(), timers._handles["past"].when()
    assert before + 0.25 <= soon <= after + 0.25
    assert before <= past <= after  # clamped to now, not 5 s ago nor a second later
    timers.cancel_all()
    assert not timers.pending("soon") and not timers.pending("past")


async def test_a_failing_timer_is_logged_with_its_key(caplog):
    tasks = Tasks()
    timers = Timers(tasks)
    done = asyncio.Event()

    async def fail() -> None:
        done.set()
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, logger="lvng.tasks"):
        timers.schedule("typing:acme/r", 0, fail)
        await done.wait()
        while len(tasks):  # the task's done callback logs it
            await asyncio.sleep(0)
    assert [r.getMessage() for r in caplog.records] == [
        "background task timer typing:acme/r failed"
    ]

"""An outage (a store that cannot be reached) logs one line, not a traceback: the soak's
faults (issue 26) made asyncpg's pool, a plugin's hook and a background task print one per
retry."""

from __future__ import annotations

import asyncio
import logging

import redis.exceptions

from core.database import OneLineOutages
from core.tasks import Tasks


def _record(exc: BaseException) -> logging.LogRecord:
    try:
        raise exc
    except BaseException as caught:  # noqa: BLE001
        info = (type(caught), caught, caught.__traceback__)
    return logging.LogRecord(
        "asyncpg.pool", logging.WARNING, __file__, 1, "retrying %s", ("x",), info
    )


def test_an_outage_record_keeps_one_line():
    record = _record(ConnectionRefusedError(111, "Connection refused"))
    assert OneLineOutages().filter(record) is True
    assert record.exc_info is None
    assert (
        record.getMessage() == "retrying x: ConnectionRefusedError: [Errno 111] Connection refused"
    )


def test_a_bug_keeps_its_traceback():
    record = _record(KeyError("k"))
    assert OneLineOutages().filter(record) is True
    assert record.exc_info is not None and record.getMessage() == "retrying x"


async def test_a_background_task_failing_in_an_outage_logs_one_line(caplog):
    async def outage() -> None:
        raise redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:1.")

    async def bug() -> None:
        raise KeyError("k")

    tasks = Tasks()
    with caplog.at_level(logging.WARNING, logger="lvng"):
        for coro, name in ((outage(), "outage"), (bug(), "bug")):
            task = tasks.spawn(coro, name=name)
            await asyncio.gather(task, return_exceptions=True)
            await asyncio.sleep(0)
    [one, two] = [r for r in caplog.records if "background task" in r.getMessage()]
    assert one.levelno == logging.WARNING and one.exc_info is None
    assert one.getMessage() == (
        "background task outage failed, a backing store is unavailable: "
        "ConnectionError: Error 111 connecting to 127.0.0.1:1."
    )
    assert two.levelno == logging.ERROR and two.exc_info is not None


def test_a_connection_postgres_broke_under_asyncpg_is_an_outage():
    from asyncpg.exceptions import InternalClientError

    from core.database import store_unavailable

    broken = InternalClientError("cannot switch to state 12; another operation (2) is in progress")
    assert store_unavailable(broken) is True
    assert store_unavailable(InternalClientError("something else")) is False

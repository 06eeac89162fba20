"""Timestamps and server-made ids in the contract's formats (section 3)."""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime


def iso(moment: datetime) -> str:
    """ISO 8601 UTC with milliseconds and `Z`: `2026-03-19T12:00:00.000Z`."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def now_utc() -> datetime:
    """Now in UTC at millisecond precision, so what is stored equals what is sent (`iso`
    keeps milliseconds)."""
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def now_iso() -> str:
    return iso(datetime.now(UTC))


def iso_from_epoch(seconds: float) -> str:
    return iso(datetime.fromtimestamp(seconds, UTC))


_last_ms = 0
_counter = 0


def uuid7() -> uuid.UUID:
    """A time-ordered UUID version 7 (RFC 9562, method 1: 12-bit counter in `rand_a`).

    Ids made by one process sort in the order they were made, even within one millisecond.
    """
    global _last_ms, _counter
    ms = time.time_ns() // 1_000_000
    if ms > _last_ms:
        _last_ms, _counter = ms, int.from_bytes(os.urandom(1), "big")
    else:
        _counter += 1
        if _counter > 0xFFF:  # counter exhausted: borrow the next millisecond
            _last_ms, _counter = _last_ms + 1, 0
    value = (_last_ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= _counter << 64
    value |= 0b10 << 62
    value |= int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    return uuid.UUID(int=value)


def new_id(prefix: str) -> str:
    """A server-made id: prefix + UUIDv7, e.g. `msg_0193…`."""
    return f"{prefix}_{uuid7()}"

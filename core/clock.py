"""Timestamps and server-made ids in the contract's formats (section 3)."""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime
from functools import lru_cache


def iso(moment: datetime) -> str:
    """ISO 8601 UTC with milliseconds and `Z`: `2026-03-19T12:00:00.000Z`."""
    # isoformat truncates to milliseconds as `microsecond // 1000` did, at a third of
    # strftime's cost; an aware UTC time always ends in "+00:00".
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def now_utc() -> datetime:
    """Now in UTC at millisecond precision, so what is stored equals what is sent (`iso`
    keeps milliseconds)."""
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def now_iso() -> str:
    return iso(datetime.now(UTC))


@lru_cache(maxsize=4096)
def iso_from_epoch(seconds: float) -> str:
    # Cached: a large organization's presence lists and subscriptions format the same
    # `lastSeen` of each user many times over (issue 25).
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

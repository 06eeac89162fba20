"""What a client may send: strict JSON, and the checks every payload passes (contract 3).

Socket.IO packets and HTTP bodies are parsed by `loads`, which differs from `json.loads`:

- `NaN`, `Infinity`, `-Infinity` and numbers too large for a float parse to the marker
  `NON_FINITE` instead of a float, so they can never be stored or sent on; `check_value`
  refuses them. (Refusing them inside the parser would lose the packet's event name and
  ack id.)
- JSON nested deeper than the parser's recursion allows parses to a `Refused` object,
  likewise so that the packet around it still decodes.

`check_value` is the generic check of every payload, whatever the plugin: nesting at most
`MAX_DEPTH` levels, no non-finite numbers, integers within 64 bits (`INT64_MIN` to
`INT64_MAX`: what a BIGINT column and the ORM's JSON encoder take; a larger one failed
the write with INTERNAL_ERROR), text of valid Unicode without NUL (no lone surrogates) in
values and keys, and no binary attachments or their placeholders.

`dumps` writes strict JSON: the server never emits `NaN` (nor, as orjson would, a `null`
in its place); a non-finite number raises ValueError.

Both use orjson where it gives the same answer as the standard library, and the standard
library otherwise: `loads` leaves to it what orjson refuses (NaN, lone surrogates, depth)
and integers of 19 digits or more (which orjson turns into floats); `dumps` leaves to it
what orjson cannot write (integers beyond 64 bits, non-string keys).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import orjson

from core.errors import ErrorCode, LvngError

MAX_DEPTH = 32
# The integers a payload may hold: signed 64 bits, as a BIGINT column and orjson (the
# JSON encoder of Tortoise's JSON fields) take them. Schemas bound their own integer
# fields (an id counter, a cursor) by the column's range, which is never wider.
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
INT32_MAX = 2**31 - 1  # an IntField column (INTEGER on PostgreSQL)

_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")


class _NonFinite:
    """Where the client's JSON had NaN, Infinity or an overflowing number."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NON_FINITE"


NON_FINITE = _NonFinite()


class Refused:
    """A JSON text that cannot be taken at all; `reason` says why (for VALIDATION_ERROR)."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"Refused({self.reason!r})"


def _parse_float(text: str) -> Any:
    value = float(text)
    return value if math.isfinite(value) else NON_FINITE


def _parse_constant(text: str) -> Any:
    return NON_FINITE


_LONG_NUMBER = re.compile("[0-9]{19}")
_LONG_NUMBER_BYTES = re.compile(b"[0-9]{19}")


def loads(text: str | bytes, **_: Any) -> Any:
    """Parse a client's JSON; raises ValueError only when it is not JSON at all."""
    if isinstance(text, bytes | bytearray):
        long = _LONG_NUMBER_BYTES.search(text) is not None
    else:
        long = _LONG_NUMBER.search(text) is not None
    if not long:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass  # the standard library decides, with its markers and its messages
    try:
        return json.loads(text, parse_float=_parse_float, parse_constant=_parse_constant)
    except RecursionError:
        return Refused(f"JSON nested more than {MAX_DEPTH} levels")
    except json.JSONDecodeError:
        raise
    except ValueError:  # an integer of more digits than Python converts
        return Refused("a number in the JSON is too long")


def dumps(value: Any, **kwargs: Any) -> str:
    """JSON for clients: `NaN` and `Infinity` raise ValueError instead of going out.

    Compact (python-socketio asks for `separators=(",", ":")` anyway) and UTF-8 rather
    than `\\u` escapes, unless `kwargs` ask for something else."""
    if not kwargs or kwargs == _COMPACT:
        try:
            out = orjson.dumps(value)
        except TypeError:
            pass
        else:
            # orjson writes a non-finite float as null: look for one only when a null is
            # there at all.
            if b"null" in out and _has_non_finite(value):
                raise ValueError("Out of range float values are not JSON compliant")
            return out.decode()
    kwargs["allow_nan"] = False
    return json.dumps(value, **kwargs)


_COMPACT = {"separators": (",", ":")}


def _has_non_finite(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        # Exact types first (the payloads' own, a fraction of isinstance's cost), then
        # subclasses as before.
        kind = type(item)
        if kind is str or kind is int or kind is bool or item is None:
            continue
        if kind is dict:
            stack.extend(item.values())
        elif kind is float:
            if not math.isfinite(item):
                return True
        elif kind is list or kind is tuple:
            stack.extend(item)
        elif isinstance(item, float):
            if not math.isfinite(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return False


def check_value(value: Any, where: str = "") -> None:
    """Raise LvngError(VALIDATION_ERROR) unless `value` is JSON a client may send.

    `where` names the value in the message (`metadata.score: ...`); the top-level value
    is nesting level 1.
    """
    stack: list[tuple[Any, int, str]] = [(value, 1, where)]
    while stack:
        item, depth, path = stack.pop()
        if isinstance(item, str):
            if _BAD_TEXT.search(item):
                _refuse(path, "text must be valid Unicode without NUL characters")
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if not INT64_MIN <= item <= INT64_MAX:
                _refuse(path, "integers must fit in 64 bits (-2**63 to 2**63-1)")
        elif isinstance(item, float):
            if not math.isfinite(item):
                _refuse(path, "NaN and Infinity are not accepted")
        elif isinstance(item, dict | list | tuple):
            if depth > MAX_DEPTH:
                _refuse(path, f"JSON nested more than {MAX_DEPTH} levels")
            if isinstance(item, dict):
                if "_placeholder" in item:
                    _refuse(path, "binary attachments are not accepted")
                for key, child in item.items():
                    if not isinstance(key, str):
                        _refuse(path, "object keys must be strings")
                    child_path = f"{path}.{key}" if path else key
                    if _BAD_TEXT.search(key):
                        _refuse(path, "text must be valid Unicode without NUL characters")
                    stack.append((child, depth + 1, child_path))
            else:
                for index, child in enumerate(item):
                    stack.append((child, depth + 1, f"{path}.{index}" if path else str(index)))
        elif item is NON_FINITE:
            _refuse(path, "NaN and Infinity are not accepted")
        elif isinstance(item, Refused):
            _refuse(path, item.reason)
        elif isinstance(item, bytes | bytearray | memoryview):
            _refuse(path, "binary attachments are not accepted")
        else:
            _refuse(path, "not a JSON value")


def _refuse(path: str, message: str) -> None:
    shown = _BAD_TEXT.sub("?", path)[:200]
    raise LvngError(ErrorCode.VALIDATION_ERROR, f"{shown}: {message}" if shown else message)


class StrictJSON:
    """The `json` module interface python-socketio's packets call (`loads`, `dumps`)."""

    loads = staticmethod(loads)
    dumps = staticmethod(dumps)

"""The rows of the product's event reference (`../shared/spec/websocket-events.md`): every
table's `| event | direction | payload |` row as (event, direction, keys)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.services import IN_CI

REFERENCE = (
    Path(__file__).resolve().parent.parent.parent / "shared" / "spec" / "websocket-events.md"
)
ROW = re.compile(
    r"^\|\s*([a-z_]+(?::[a-z_]+)*)\s*\|\s*(Client -> Server|Server -> Client)\s*"
    r"\|\s*(.*?)\s*\|\s*$"
)


@dataclass(frozen=True)
class Row:
    event: str
    direction: str  # "in" (client → server) or "out" (server → client)
    keys: tuple[str, ...]  # required keys
    optional: tuple[str, ...]


def _top_level_keys(payload: str) -> tuple[list[str], list[str]]:
    if "{" not in payload:
        return [], []
    inner = payload[payload.index("{") + 1 : payload.rindex("}")]
    while True:  # drop nested objects and arrays
        flat = re.sub(r"\{[^{}]*\}|\[[^\[\]]*\]", "", inner)
        if flat == inner:
            break
        inner = flat
    required, optional = [], []
    for part in inner.split(","):
        match = re.match(r"\s*([A-Za-z_]+)(\?)?", part)
        if match:
            (optional if match.group(2) else required).append(match.group(1))
    return required, optional


def rows() -> list[Row]:
    """Every row of the reference; skipped (failed under CI) when shared/ is absent."""
    if not REFERENCE.exists():
        message = f"the event reference is not at {REFERENCE}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    found = []
    for line in REFERENCE.read_text().splitlines():
        match = ROW.match(line)
        if match:
            event, direction, payload = match.groups()
            required, optional = _top_level_keys(payload)
            found.append(
                Row(
                    event,
                    "in" if direction.startswith("Client") else "out",
                    tuple(required),
                    tuple(optional),
                )
            )
    assert len(found) > 40, "the reference's tables were not found"
    return found

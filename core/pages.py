"""Pages of history under the contract's size budget (section 3: a history page stays
under 1 MB; fewer items, `hasMore`). Every plugin that sends a page of stored things
(messages, swarm updates) cuts it here, so the rule is one rule."""

from __future__ import annotations

import json
from typing import Any

MAX_PAGE_JSON = 1_000_000  # bytes of JSON in one page (contract section 3)


def json_size(value: Any) -> int:
    """The size in bytes of `value` as compact UTF-8 JSON."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def within_budget(page: list[Any], *, keep_newest: bool, budget: int = MAX_PAGE_JSON) -> list[Any]:
    """The longest run of `page` (oldest first) whose JSON stays under `budget`, from its
    newest end (paging back) or its oldest end (paging forward, catching up); at least
    one item, so a reader always moves on. `len(result) < len(page)` means it was cut."""
    ordered = list(reversed(page)) if keep_newest else page
    kept: list[Any] = []
    used = 1  # the array's `[` and `]`, less the comma the first item does not have
    for item in ordered:
        used += json_size(item) + 1  # the item and its comma (or the closing bracket)
        if kept and used > budget:
            break
        kept.append(item)
    return list(reversed(kept)) if keep_newest else kept

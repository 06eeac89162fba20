"""What presence keeps in the cluster state (`platform.cluster`), and nothing else.

Per user of an organization (an org's user is its own person: the same id in two
organizations is two users):

- `presence/user/{org}/{user}`: the record (JSON), written under the user's turn: the name,
  the chosen status, `customStatus`, `statusText`, the announced `status`, whether the
  user is idle, when its last socket left (`leftAt`, while in the grace period) and
  `lastSeen` as others may see it.
- `presence/active/{org}/{user}`: when the user was last active (epoch seconds), written
  without a lock on each activity report, so a busy user costs one write per interval.
- `presence/roster/{org}/{shard}`: the ids with a record, so `presence:list` can name
  users that are offline (with their `lastSeen`), in `ROSTER_SHARDS` lists by a hash of
  the id; each written under its own turn, only when a user is first seen (or
  forgotten). One list per organization (`presence/roster/{org}`, still read and pruned)
  made each first connect rewrite every id under one lock: quadratic, and serial across
  nodes, in a large organization's connect storm.

Records and activity keep for `REMEMBER_SECONDS` after their last write (30 days), so
`lastSeen` outlives a restart with Redis, and users who never come back are forgotten; the
roster drops them the next time it is listed.
"""

from __future__ import annotations

import asyncio
import json
import zlib
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.api import Platform

REMEMBER_SECONDS = 30 * 24 * 3600.0
ROSTER_SHARDS = 64


def roster_shard(org: str, user: str) -> str:
    return f"presence/roster/{org}/{zlib.crc32(user.encode()) % ROSTER_SHARDS}"


@dataclass
class PresenceRecord:
    user_name: str
    chosen: str = "online"  # what the user asked for; `offline` is invisible
    custom_status: str | None = None
    status_text: str | None = None
    status: str = "offline"  # what the organization was last told
    idle: bool = False  # no activity for away_after_seconds (turns `online` into `away`)
    left_at: float | None = None  # the last socket left then; None while connected
    last_seen: float = 0.0  # the last activity others may know of (frozen while invisible)

    @property
    def invisible(self) -> bool:
        return self.chosen == "offline"

    def effective(self) -> str:
        """The status of a connected user: what it chose, `away` when idle and `online`."""
        return "away" if self.idle and self.chosen == "online" else self.chosen

    def seen(self, at: float) -> None:
        """The user was active at `at`; others may know unless it is invisible."""
        if not self.invisible:
            self.last_seen = max(self.last_seen, at)

    def shown(self, connected: bool, now: float, grace: float) -> str:
        """The status others see: `offline` once the last socket is gone for the grace
        period, even if the timer that should have said so died with its node."""
        if not connected and (self.left_at is None or now >= self.left_at + grace):
            return "offline"
        return self.status

    def visible_last_seen(self, active_at: float | None) -> float:
        if self.invisible or active_at is None:
            return self.last_seen
        return max(self.last_seen, active_at)


@lru_cache(maxsize=8192)
def _fields(raw: str) -> dict[str, Any]:
    # A large organization's subscriptions and lists read the same records thousands of
    # times (issue 25): each distinct JSON text is decoded once. Never handed out as is:
    # `decode` builds a new record from it each time (callers change their record).
    fields: dict[str, Any] = json.loads(raw)
    return fields


def decode(raw: str) -> PresenceRecord:
    """The record stored as `raw` (JSON), a new object each call."""
    return PresenceRecord(**_fields(raw))


def encode(record: PresenceRecord) -> str:
    # vars() is the fields in their order, as asdict() gives them without its deep copy
    # (every field is a str, bool, float or None).
    return json.dumps(vars(record))


class Store:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.cluster = platform.cluster

    async def load(self, org: str, user: str) -> PresenceRecord | None:
        raw = await self.cluster.get(f"presence/user/{org}/{user}")
        return None if raw is None else decode(raw)

    async def save(self, org: str, user: str, record: PresenceRecord) -> None:
        await self.cluster.put(f"presence/user/{org}/{user}", encode(record), ttl=REMEMBER_SECONDS)

    async def active_at(self, org: str, user: str) -> float | None:
        raw = await self.cluster.get(f"presence/active/{org}/{user}")
        return None if raw is None else float(raw)

    async def set_active(self, org: str, user: str, at: float) -> None:
        await self.cluster.put(f"presence/active/{org}/{user}", repr(at), ttl=REMEMBER_SECONDS)

    async def roster(self, org: str) -> list[str]:
        """Every id of the organization with a record (unordered)."""
        keys = [f"presence/roster/{org}"]  # the one list of before the shards
        keys += [f"presence/roster/{org}/{n}" for n in range(ROSTER_SHARDS)]
        found = await asyncio.gather(*(self.cluster.get(key) for key in keys))
        ids: set[str] = set()
        for raw in found:
            if raw is not None:
                ids.update(json.loads(raw))
        return list(ids)

    async def enroll(self, org: str, user: str) -> None:
        """Add the user to the organization's roster (a new record was made)."""
        await self._change_roster(roster_shard(org, user), add=user)

    async def forget(self, org: str, users: set[str]) -> None:
        """Drop users whose records expired from the roster."""
        gone = {i for i in users if await self.load(org, i) is None}
        by_shard: dict[str, set[str]] = {}
        for user in gone:
            by_shard.setdefault(roster_shard(org, user), set()).add(user)
        for key, drop in by_shard.items():
            await self._change_roster(key, org=org, drop=drop)
        await self._change_roster(f"presence/roster/{org}", org=org, drop=gone)

    async def _change_roster(
        self, key: str, add: str | None = None, org: str = "", drop: set[str] | None = None
    ) -> None:
        after = self.platform.after_ack()
        async with self.platform.turn(key, after):
            raw = await self.cluster.get(key)
            ids: list[str] = [] if raw is None else json.loads(raw)
            if add is not None and add not in ids:
                ids.append(add)
            elif drop and raw is not None:
                # Only those still without a record: one may have come back meanwhile.
                gone = {i for i in drop if await self.load(org, i) is None}
                ids = [i for i in ids if i not in gone]
            else:
                return
            await self.cluster.put(key, json.dumps(ids))
        await after.run()

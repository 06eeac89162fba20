"""Reading presence: `presence:list` and `GET /api/v1/presence` by pages, the current
presence of chosen users (`presence:subscribe`'s ack), the inspection page's whole list.

**Pages.** The users of an organization presence knows (its roster, and whoever has a
socket in `org:` right now) in the order of their ids (code points), `limit` at a time
(at most `MAX_PAGE`, the default). `nextCursor` is the last id of the page (pass it back
as is; it is null on the last page): the next page starts after it, so a user who comes
or goes between two pages does not shift the others, and each user is listed once.
"""

from __future__ import annotations

import asyncio
import time
from bisect import bisect_right
from typing import TYPE_CHECKING, Any

from plugins.presence import payloads
from plugins.presence.audience import org_room

if TYPE_CHECKING:
    from core.api import Platform
    from plugins.presence.records import PresenceRecord, Store

MAX_PAGE = 500


class Listing:
    def __init__(self, platform: Platform, store: Store, grace: float) -> None:
        self.platform = platform
        self.store = store
        self.grace = grace

    async def page(
        self, org: str, limit: int = MAX_PAGE, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the organization's users, and the cursor of the next (or None)."""
        connected = await self.platform.rooms.users(org_room(org))
        ids = sorted(set(await self.store.roster(org)) | set(connected))
        start = 0 if cursor is None else bisect_right(ids, cursor)
        chosen = ids[start : start + limit]
        more = start + limit < len(ids)
        listed = await self._listed(org, chosen, connected)
        return listed, (chosen[-1] if more and chosen else None)

    async def everyone(self, org: str) -> list[dict[str, Any]]:
        """Every user of the organization presence knows (the inspection page)."""
        connected = await self.platform.rooms.users(org_room(org))
        ids = sorted(set(await self.store.roster(org)) | set(connected))
        return await self._listed(org, ids, connected)

    async def of_users(self, org: str, user_ids: list[str]) -> list[dict[str, Any]]:
        """The presence of each of `user_ids` in the organization, in that order; an id
        with no record here reads as unknown and offline (`subscriptions.py`)."""
        room = org_room(org).key
        cluster = self.platform.cluster
        if cluster.cross_node:  # round trips: in parallel
            counts = await asyncio.gather(*(cluster.sockets(room, u) for u in user_ids))
            found = await asyncio.gather(*(self._read(org, user) for user in user_ids))
        else:
            # In-process reads never wait: one after the other, without a task each (two
            # tasks per id were a fifth of a `presence:subscribe` of 20 ids, issue 25).
            counts = [await cluster.sockets(room, u) for u in user_ids]
            found = [await self._read(org, user) for user in user_ids]
        now = time.time()
        out = []
        for user, sockets, (record, active_at) in zip(user_ids, counts, found, strict=True):
            if record is None:
                out.append(payloads.unknown(user))
                continue
            out.append(self._one(user, record, active_at, sockets > 0, now))
        return out

    async def _listed(
        self, org: str, ids: list[str], connected: dict[str, str]
    ) -> list[dict[str, Any]]:
        found = await asyncio.gather(*(self._read(org, user) for user in ids))
        now = time.time()
        listed, expired = [], set()
        for user, (record, active_at) in zip(ids, found, strict=True):
            if record is None:
                if user in connected:  # its connect is being handled right now
                    listed.append(
                        payloads.listed(
                            user, connected[user], "online", None, None, active_at or now
                        )
                    )
                else:
                    expired.add(user)
                continue
            listed.append(self._one(user, record, active_at, user in connected, now))
        if expired:
            await self.store.forget(org, expired)
        return listed

    def _one(
        self,
        user: str,
        record: PresenceRecord,
        active_at: float | None,
        connected: bool,
        now: float,
    ) -> dict[str, Any]:
        return payloads.listed(
            user,
            record.user_name,
            record.shown(connected, now, self.grace),
            record.custom_status,
            record.status_text,
            record.visible_last_seen(active_at),
        )

    async def _read(self, org: str, user: str) -> tuple[PresenceRecord | None, float | None]:
        return await self.store.load(org, user), await self.store.active_at(org, user)

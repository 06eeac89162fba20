"""Who is online: the rules of contract section 6 on the realtime kit.

Whether a user has a socket is the membership of `org:{org}` in the cluster state (every
node agrees); what it chose, and what the organization was told, is its record
(`records.py`). Every change of a user's record and its announcement happen under the
user's turn (`presence/{org}/{user}`, a cross-node lock with Redis), so one user's
`presence:update`s leave in order and a transition is made once, whichever node's timer
or event finds it first.

Timers are this node's (`platform.timers`; the grace a deadline, `platform.deadlines`, that
a survivor adopts if this node dies) and re-check the cluster state when they fire:

- **Grace**: the last socket of a user gone (on any node) sets `leftAt` and starts
  `offline_grace_seconds`; when it ends with no socket back, the user is `offline`. A
  reconnect meanwhile, anywhere, clears `leftAt` and is not announced.
- **Idle**: every node with a socket of the user checks it every `away_after_seconds` at
  most. With no activity for that long, `online` turns `away`; activity
  (`lvng_client_active`, any event) brings the chosen status back.

A dead node's users leave `org:` on a survivor (`reason="node_lost"`); they go offline
at once: the reap comes `LVNG_NODE_TTL` (plus a third) after the crash, which is already
longer than a reload, and a user who reconnected elsewhere meanwhile is not reported.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from plugins.presence import payloads
from plugins.presence.audience import Audience, org_room
from plugins.presence.records import PresenceRecord, Store

if TYPE_CHECKING:
    from core.api import AfterAck, Caller, Member, Platform, Session
    from plugins.presence.metrics import PresenceMetrics
    from plugins.presence.schemas import UpdatePresence
    from plugins.presence.settings import PresenceSettings

UserKey = tuple[str, str]  # (organizationId, userId)
EARLY = 0.005  # a timer may fire this much before its deadline and still count
GRACE = "presence.grace"  # the kind of the offline grace's deadline (core.deadlines)


class Presence:
    def __init__(
        self, platform: Platform, settings: PresenceSettings, metrics: PresenceMetrics
    ) -> None:
        self.platform = platform
        self.away_after = settings.away_after_seconds
        self.grace = settings.offline_grace_seconds
        self.metrics = metrics
        self.store = Store(platform)
        self.audience = Audience(platform, settings, metrics)
        self._local: dict[UserKey, set[str]] = {}  # this node's sockets of each user
        self._status: dict[UserKey, str] = {}  # their status as this node last knew it
        metrics.watch(self._local_statuses)
        # The grace is a deadline: a survivor runs it if this node dies meanwhile.
        platform.deadlines.handle(GRACE, self._grace_due)

    def _local_statuses(self) -> Iterator[str]:
        return (self._status.get(key, "online") for key in list(self._local))

    @asynccontextmanager
    async def _turn(
        self, org: str, user: str, after: AfterAck | None = None
    ) -> AsyncIterator[AfterAck]:
        """The user's turn; announcements queued on the yielded `after` leave before it
        ends. Given an `after` (a handler's), that one runs it."""
        own = after is None
        after = after or self.platform.after_ack()
        try:
            async with self.platform.turn(f"presence/{org}/{user}", after):
                yield after
        finally:
            if own:
                await after.run()

    async def _announce(
        self, after: AfterAck, org: str, user: str, record: PresenceRecord
    ) -> dict[str, Any]:
        """Queue the change for those who hear it (`audience.py`: the organization, or
        the user's subscribers and own devices)."""
        self._status[(org, user)] = record.status
        data = payloads.update(user, record)
        await self.audience.tell(after, org, user, data)
        self.metrics.updates.labels(status=record.status).inc()
        return data

    async def _connected(self, org: str, user: str) -> bool:
        return await self.platform.cluster.sockets(org_room(org).key, user) > 0

    # --- sockets come and go ------------------------------------------------------------

    async def connected(self, session: Session) -> None:
        """A socket joined `org:` (the core did, at connect): online unless invisible."""
        org, user, sid = session.organization_id, session.user_id, session.sid
        if sid not in self.platform.sessions:
            return  # gone already; its leave is on the way
        self._local.setdefault((org, user), set()).add(sid)
        if not self.platform.timers.pending(self._idle_key(org, user)):
            self._schedule_idle(org, user, self.away_after)
        now = time.time()
        async with self._turn(org, user) as after:
            if sid not in self.platform.sessions:
                return
            record = await self.store.load(org, user)
            created = record is None
            if record is None:
                record = PresenceRecord(session.identity.user_name)
            before = record.status
            if record.left_at is not None and now >= record.left_at + self.grace:
                before = "offline"  # the grace ran out, and no node said so
            record.user_name = session.identity.user_name
            record.left_at, record.idle = None, False
            record.seen(now)
            record.status = record.effective()
            await self.store.set_active(org, user, now)
            await self.store.save(org, user, record)
            if created:
                await self.store.enroll(org, user)
            if record.status != before:
                await self._announce(after, org, user, record)
            self._status[(org, user)] = record.status

    async def left(self, member: Member, last: bool, reason: str) -> None:
        """A socket left `org:`; the user's last one anywhere starts the grace period
        (or, for a dead node's user, ends it at once)."""
        org, user = member.organization_id, member.user_id
        sids = self._local.get((org, user))
        if sids is not None:
            sids.discard(member.sid)
            if not sids:
                del self._local[(org, user)]
                self._status.pop((org, user), None)
                self.platform.timers.cancel(self._idle_key(org, user))
        if not last:
            return
        if self.platform.stopping and not self.platform.cluster.cross_node:
            # A stopping node whose presence lives in its own process: what a leave
            # would write (leftAt, the grace deadline) ends with the process anyway.
            return
        if reason == "node_lost":
            await self._offline(org, user)
            return
        now = time.time()
        async with self._turn(org, user):
            if await self._connected(org, user):
                return  # back already, on some node
            record = await self.store.load(org, user)
            if record is None:
                return
            record.left_at = now
            record.seen(now)
            await self.store.save(org, user, record)
        await self._schedule_grace(org, user, self.grace)

    # --- activity -----------------------------------------------------------------------

    async def active(self, session: Session) -> None:
        """An event of the user (reported at most once per interval per socket)."""
        org, user = session.organization_id, session.user_id
        await self.store.set_active(org, user, time.time())
        record = await self.store.load(org, user)
        if record is None or not record.idle:
            return
        async with self._turn(org, user) as after:
            record = await self.store.load(org, user)
            if record is None or not record.idle:
                return
            record.idle = False
            await self._change(after, org, user, record)

    async def _change(self, after: AfterAck, org: str, user: str, record: PresenceRecord) -> None:
        """Store the record of a connected user, announcing a change of its status."""
        before, record.status = record.status, record.effective()
        await self.store.save(org, user, record)
        if record.status != before:
            await self._announce(after, org, user, record)
        self._status[(org, user)] = record.status

    async def update(self, caller: Caller, choice: UpdatePresence) -> dict[str, Any]:
        """`presence:update`: the user's choice; announced when what others see changed."""
        org, user, user_name, after = caller.org, caller.user_id, caller.user_name, caller.after
        now = time.time()
        async with self._turn(org, user, after):
            record = await self.store.load(org, user)
            created = record is None
            if record is None:
                record = PresenceRecord(user_name)
            shown = (record.status, record.custom_status, record.status_text)
            record.seen(now)  # going invisible: seen until now, then no more
            record.user_name = user_name
            if "status" in choice.model_fields_set:
                record.chosen = choice.status
            if "customStatus" in choice.model_fields_set:
                record.custom_status = choice.customStatus
            if "statusText" in choice.model_fields_set:
                record.status_text = choice.statusText
            record.idle, record.left_at = False, None
            record.status = record.effective()
            await self.store.set_active(org, user, now)
            await self.store.save(org, user, record)
            if created:
                await self.store.enroll(org, user)
            self._status[(org, user)] = record.status
            if (record.status, record.custom_status, record.status_text) != shown:
                return await self._announce(after, org, user, record)
            return payloads.update(user, record)

    # --- timers -------------------------------------------------------------------------

    @staticmethod
    def _idle_key(org: str, user: str) -> str:
        return f"presence/idle/{org}/{user}"

    def _schedule_idle(self, org: str, user: str, delay: float) -> None:
        self.platform.timers.schedule(
            self._idle_key(org, user), max(delay, 0.01), lambda: self._idle_check(org, user)
        )

    async def _schedule_grace(self, org: str, user: str, delay: float) -> None:
        await self.platform.deadlines.schedule(
            GRACE, f"{org}/{user}", max(delay, 0.0), {"org": org, "user": user}
        )

    async def _grace_due(self, args: dict[str, Any]) -> None:
        await self._grace_over(args["org"], args["user"])

    def _local_activity(self, key: UserKey) -> float:
        """The newest event of the user's sockets on this node (epoch seconds), even one
        not reported yet."""
        sessions = self.platform.sessions
        newest = max(
            (sessions[sid].last_event_at for sid in self._local.get(key, ()) if sid in sessions),
            default=None,
        )
        return 0.0 if newest is None else time.time() - (time.monotonic() - newest)

    async def _idle_check(self, org: str, user: str) -> None:
        """This node's idle timer of a user with a socket here; runs again while it has."""
        key = (org, user)
        if key not in self._local:
            return
        next_check = self.away_after
        try:
            record = await self.store.load(org, user)
            if record is None:
                return
            self._status[key] = record.status
            if record.idle or record.chosen != "online":
                return  # nothing to turn away; look again later (another node may change it)
            stored = await self.store.active_at(org, user) or 0.0
            local = self._local_activity(key)
            if local > stored:
                await self.store.set_active(org, user, local)
            quiet_since = max(stored, local)
            now = time.time()
            if now < quiet_since + self.away_after - EARLY:
                next_check = quiet_since + self.away_after - now
                return
            async with self._turn(org, user) as after:
                record = await self.store.load(org, user)
                active = await self.store.active_at(org, user) or 0.0
                if record is None or record.idle or now < active + self.away_after - EARLY:
                    return
                record.idle = True
                await self.store.save(org, user, record)
                # An activity report writes its time without the turn, then reads the
                # record: if it read it before this save, this read sees its time.
                if (await self.store.active_at(org, user) or 0.0) > active:
                    record.idle = False
                    await self.store.save(org, user, record)
                    return
                await self._change(after, org, user, record)
        finally:
            if key in self._local:
                self._schedule_idle(org, user, next_check)

    async def _grace_over(self, org: str, user: str) -> None:
        async with self._turn(org, user) as after:
            record = await self.store.load(org, user)
            if record is None:
                return
            if await self._connected(org, user):
                if record.left_at is not None:  # came back: the grace is over
                    record.left_at = None
                    await self.store.save(org, user, record)
                return
            now = time.time()
            if record.left_at is not None and now < record.left_at + self.grace - EARLY:
                # Left again since this timer was set: wait for that grace to end.
                await self._schedule_grace(org, user, record.left_at + self.grace - now)
                return
            await self._went_offline(after, org, user, record)

    async def _offline(self, org: str, user: str) -> None:
        """The user is gone without a grace period (its node died), unless back."""
        async with self._turn(org, user) as after:
            record = await self.store.load(org, user)
            if record is None or await self._connected(org, user):
                return
            await self._went_offline(after, org, user, record)

    async def _went_offline(
        self, after: AfterAck, org: str, user: str, record: PresenceRecord
    ) -> None:
        record.seen(max(record.left_at or 0.0, await self.store.active_at(org, user) or 0.0))
        before = record.status
        record.status, record.idle, record.left_at = "offline", False, None
        await self.store.save(org, user, record)
        if before != "offline":
            await self._announce(after, org, user, record)

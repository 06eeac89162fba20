"""Who hears a presence change: the organization, or, above `org_broadcast_limit` online
users, the user's subscribers and own devices only (contract section 13).

**Size.** An organization's size is how many users have a socket in `org:{org}` on any
node (`platform.rooms.count`, one step in the cluster state). It becomes *large* when that
count passes the limit, and stays large until it falls under `BACK_UNDER` of the limit
(hysteresis: an organization at the limit does not flap). Whether it is large is a flag
in the cluster state (`presence/large/{org}`), so every node decides alike in between.

**Subscribers.** A socket subscribed to a user listens to `presence:{userId}` of its
organization (`platform.rooms.listen`: delivery only, through the Socket.IO adapter, so a
subscriber on another node hears it too). Subscriptions are kept per socket on its node
(`subscriptions.py`).

**Coalescing.** In a large organization, a change waits `coalesce_ms` (default 50 ms) in
this node's window; a later change of the same user in the same window replaces it (the
superseded one is never sent, and counted), and the window's changes leave together,
one `presence:update` per user. Changes of one user are made under its turn and every
node waits the same window, so they keep their order. Small organizations are told at
once, as the reference does, with one exception under load: a change that comes
within `coalesce_ms` of the organization's last one on this node (a burst: a restart's
reconnects) waits for the rest of the window, and the window's changes leave together, all
of them, in order (nothing is dropped: a small organization sees exactly the events it
saw). One emit per change still, but the transport writes each socket's frames of one
window in one system call instead of one each, which is most of a burst's cost: the
first `org_broadcast_limit` connects of a storm are quadratic in frames. The change
waits under its user's turn, so the user's next change (on any node) comes after it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from core.api import Room

if TYPE_CHECKING:
    from core.api import AfterAck, Platform
    from plugins.presence.metrics import PresenceMetrics
    from plugins.presence.settings import PresenceSettings

BACK_UNDER = 0.9  # a large organization is told as a whole again under this share
LARGE_FLAG_TTL = 24 * 3600.0


def org_room(org: str) -> Room:
    return Room.of(org, "org", org)


def subscribers_room(org: str, user: str) -> Room:
    """The sockets subscribed to `user` of `org` (never one of another organization)."""
    return Room.of(org, "presence", user)


def own_devices(org: str, user: str) -> Room:
    return Room.of(org, "user", user)


class Audience:
    def __init__(
        self, platform: Platform, settings: PresenceSettings, metrics: PresenceMetrics
    ) -> None:
        self.platform = platform
        self.limit = settings.org_broadcast_limit
        self.window = settings.coalesce_ms / 1000.0
        self.metrics = metrics
        self.large_here: set[str] = set()  # organizations this node last found large
        self._pending: dict[str, dict[str, dict[str, Any]]] = {}  # org → user → payload
        # Small organizations in a burst: org → (changes in order, done when they left).
        self._bursts: dict[str, tuple[list[dict[str, Any]], asyncio.Future[None]]] = {}
        self._last_told: dict[str, float] = {}  # org → loop time of its last change here
        metrics.large_organizations.set_function(lambda: len(self.large_here))

    async def is_large(self, org: str) -> bool:
        """Whether `org` is past its broadcast limit (with hysteresis), as every node
        sees it."""
        flag = f"presence/large/{org}"
        count = await self.platform.rooms.count(org_room(org))
        if count > self.limit:
            if org not in self.large_here:
                await self.platform.cluster.put(flag, "1", ttl=LARGE_FLAG_TTL)
            self.large_here.add(org)
            return True
        if count < self.limit * BACK_UNDER:
            if org in self.large_here or await self.platform.cluster.get(flag) is not None:
                await self.platform.cluster.delete(flag)
            self.large_here.discard(org)
            return False
        large = await self.platform.cluster.get(flag) is not None
        if large:
            self.large_here.add(org)
        else:
            self.large_here.discard(org)
        return large

    async def tell(self, after: AfterAck, org: str, user: str, data: dict[str, Any]) -> None:
        """Queue the `presence:update` `data` of `user` for those who hear it."""
        if not await self.is_large(org):
            if self.window <= 0:
                after.emit("presence:update", data, room=org_room(org))
            else:
                after.then(lambda: self._tell_org(org, data))
            return
        self.metrics.targeted.inc()
        if self.window <= 0:
            after.then(lambda: self._send(org, user, data))
            return
        after.then(lambda: self._hold(org, user, data))

    async def _tell_org(self, org: str, data: dict[str, Any]) -> None:
        """To the whole organization: at once after a quiet spell, else with the burst's
        window (waited for here, under the user's turn)."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        burst = self._bursts.get(org)
        if burst is None:
            if now - self._last_told.get(org, float("-inf")) >= self.window:
                self._last_told[org] = now
                await self.platform.emit("presence:update", data, room=org_room(org))
                return
            burst = self._bursts[org] = ([], loop.create_future())
            self.platform.timers.schedule(
                f"presence/burst/{org}", self.window, lambda: self._burst_over(org)
            )
        burst[0].append(data)
        await asyncio.shield(burst[1])

    async def _burst_over(self, org: str) -> None:
        changes, done = self._bursts.pop(org)
        try:
            for data in changes:
                await self.platform.emit("presence:update", data, room=org_room(org))
        finally:
            self._last_told[org] = asyncio.get_running_loop().time()
            if not done.done():
                done.set_result(None)

    async def _send(self, org: str, user: str, data: dict[str, Any]) -> None:
        rooms = [subscribers_room(org, user), own_devices(org, user)]
        await self.platform.emit("presence:update", data, room=rooms)

    async def _hold(self, org: str, user: str, data: dict[str, Any]) -> None:
        pending = self._pending.get(org)
        if pending is None:
            pending = self._pending[org] = {}
            self.platform.timers.schedule(
                f"presence/window/{org}", self.window, lambda: self._flush(org)
            )
        if user in pending:
            self.metrics.superseded.inc()
        pending[user] = data

    async def _flush(self, org: str) -> None:
        pending = self._pending.pop(org, {})
        for user, data in pending.items():
            await self._send(org, user, data)

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
once, as the reference does.
"""

from __future__ import annotations

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
            after.emit("presence:update", data, room=org_room(org))
            return
        self.metrics.targeted.inc()
        if self.window <= 0:
            after.then(lambda: self._send(org, user, data))
            return
        after.then(lambda: self._hold(org, user, data))

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

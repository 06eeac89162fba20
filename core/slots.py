"""`ConnectionSlots`: `LVNG_MAX_CONNECTIONS_PER_USER` counted over every node (issue 26).

With Redis, a handshake claims a slot in a hash per user (sid → node) with one Lua script
(`HLEN < cap`, then `HSET`), before the socket joins its organization and user rooms; the
disconnect releases it (owed to the cluster while Redis is away, `core.cluster.owed`), and
a dead or stopped node's slots go with its memberships. Redis failing at a handshake, the
socket is counted on this node alone (logged once per outage, `per_node` True): nobody is
refused because Redis is away.

A claim that finds another node's socket in the hash marks the user `spread`: its events
count in the window every node shares (`core.ratelimit.UserWindows`), and the other nodes
are told (node message `spread`) so they count its events there too; a node forgets the
mark when the user's last socket on it goes.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from core.errors import ErrorCode, LvngError

if TYPE_CHECKING:
    from core.cluster.owed import OwedWrites
    from core.cluster.redis_cluster import RedisCluster
    from core.cluster.state import ClusterState
    from core.identity import Identity
    from core.ratelimit import UserWindows

log = logging.getLogger("lvng.gateway")

UserKey = tuple[str, str]  # (organization id, user id)


class ConnectionSlots:
    """This node's sockets per user, and their slots in the cluster (with Redis)."""

    def __init__(
        self,
        cap: int,
        cluster: ClusterState,
        windows: UserWindows,
        owed: OwedWrites,
        shared: RedisCluster | None = None,
        spread_gauge: Any = None,
    ) -> None:
        self.cap = cap
        self._cluster = cluster
        self._windows = windows
        self._owed = owed
        self._shared = shared
        self._local: dict[UserKey, set[str]] = {}
        self._in_redis: set[str] = set()  # sids whose slot is in Redis
        self.per_node = False
        self._gauge = spread_gauge  # a Gauge: how many users are spread (None in tests)

    def local(self, organization_id: str, user_id: str) -> int:
        """The user's sockets on this node."""
        return len(self._local.get((organization_id, user_id), ()))

    async def claim(self, identity: Identity, sid: str) -> None:
        """A slot for the socket `sid`, or LvngError(RATE_LIMITED) when the user holds
        `cap` sockets already (on every node, with Redis)."""
        user = (identity.organization_id, identity.user_id)
        if self._shared is not None:
            try:
                got = await self._shared.claim_slot(*user, sid, self.cap)
            except Exception as exc:  # noqa: BLE001 - Redis away: count on this node
                if not self.per_node:
                    self.per_node = True
                    log.warning("connection caps count per node while Redis is away: %r", exc)
            else:
                if self.per_node:
                    self.per_node = False
                    log.warning("connection caps count across nodes again")
                if got == 0:
                    self._refuse()
                self._local.setdefault(user, set()).add(sid)
                self._in_redis.add(sid)
                if got == 2 and user not in self._windows.spread:
                    self._mark(user)
                    await self._tell_spread(user)
                return
        sockets = self._local.setdefault(user, set())
        if len(sockets) >= self.cap:
            if not sockets:
                del self._local[user]
            self._refuse()
        sockets.add(sid)  # no await since the count: concurrent handshakes cannot overshoot

    def _refuse(self) -> None:
        raise LvngError(ErrorCode.RATE_LIMITED, f"at most {self.cap} connections per user")

    async def _tell_spread(self, user: UserKey) -> None:
        try:
            await self._cluster.tell_nodes(
                {"op": "spread", "organization": user[0], "user": user[1]}
            )
        except Exception as exc:  # noqa: BLE001 - the others learn at their next claim
            log.info("could not tell the nodes that %s is spread: %r", user, exc)

    def spread_told(self, organization_id: str, user_id: str) -> None:
        """Another node holds sockets of the user too (node message `spread`)."""
        user = (organization_id, user_id)
        if user in self._local:
            self._mark(user)

    def _mark(self, user: UserKey) -> None:
        self._windows.spread.add(user)
        self._count()

    def _count(self) -> None:
        if self._gauge is not None:
            self._gauge.set(len(self._windows.spread))

    async def release(self, organization_id: str, user_id: str, sid: str) -> None:
        """The socket is gone: its slot is free (owed to the cluster if Redis is away)."""
        user = (organization_id, user_id)
        sockets = self._local.get(user)
        if sockets is not None:
            sockets.discard(sid)
            if not sockets:
                del self._local[user]
                if user in self._windows.spread:
                    self._windows.spread.discard(user)
                    self._count()
        if sid not in self._in_redis or self._shared is None:
            return
        self._in_redis.discard(sid)
        shared = self._shared
        try:
            await shared.release_slot(organization_id, user_id, sid)
        except Exception:  # noqa: BLE001 - Redis away: owed until it is back
            self._owed.owe(
                f"the connection slot of {sid}",
                lambda: shared.release_slot(organization_id, user_id, sid),
            )

"""`presence:subscribe` and `presence:unsubscribe`: a socket hears the users it shows,
whatever the size of its organization (contract section 13).

A subscription is a socket listening to `presence:{userId}` of its own organization
(`audience.subscribers_room`; `platform.rooms.listen`, delivery only). This node keeps
each of its sockets' subscribed ids, to bound them (`PER_SOCKET`) and to forget them
when the socket goes; the Socket.IO adapter drops the rooms with the socket itself.
A subscriber on one node hears a change made on another: the adapter carries room emits
to every node.

Ids are those of the caller's organization: the same id in another organization is
another user, whose presence is never read here. An id presence has no record of (a user
never seen, or an id of no one, or of another organization only) is answered
`{userId, userName: null, status: "offline", customStatus: null, statusText: null,
lastSeen: null}`: offline and unknown look alike, so the answer tells nothing of other
organizations; the subscription still holds, and the user's first connect is heard.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.api import ErrorCode, LvngError
from plugins.presence.audience import subscribers_room

if TYPE_CHECKING:
    from core.api import Caller, Platform
    from plugins.presence.listing import Listing
    from plugins.presence.metrics import PresenceMetrics

PER_SOCKET = 2000


class Subscriptions:
    def __init__(self, platform: Platform, listing: Listing, metrics: PresenceMetrics) -> None:
        self.platform = platform
        self.listing = listing
        self._of: dict[str, set[str]] = {}  # sid → subscribed user ids (this node's sockets)
        metrics.subscriptions.set_function(lambda: sum(len(s) for s in self._of.values()))

    async def subscribe(self, caller: Caller, user_ids: list[str]) -> list[dict[str, Any]]:
        """Subscribe the caller's socket to `user_ids` (all or none); each one's presence."""
        session = caller.socket
        wanted = list(dict.fromkeys(user_ids))
        held = self._of.setdefault(session.sid, set())
        new = [u for u in wanted if u not in held]
        if len(held) + len(new) > PER_SOCKET:
            raise LvngError(
                ErrorCode.VALIDATION_ERROR,
                f"at most {PER_SOCKET} subscriptions per socket: this socket has {len(held)},"
                f" {len(new)} more asked (unsubscribe some first)",
            )
        for user in new:
            await self.platform.rooms.listen(session, subscribers_room(caller.org, user))
            held.add(user)
        if session.sid not in self.platform.sessions:  # it went while we subscribed
            self.gone(session.sid)
        return await self.listing.of_users(caller.org, wanted)

    async def unsubscribe(self, caller: Caller, user_ids: list[str]) -> list[str]:
        """End the caller's subscriptions to `user_ids`; the ids it was subscribed to."""
        session = caller.socket
        held = self._of.get(session.sid, set())
        ended = [u for u in dict.fromkeys(user_ids) if u in held]
        for user in ended:
            held.discard(user)
            await self.platform.rooms.unlisten(session, subscribers_room(caller.org, user))
        return ended

    def gone(self, sid: str) -> None:
        """The socket disconnected: its subscriptions ended with it (the adapter dropped
        its rooms)."""
        self._of.pop(sid, None)

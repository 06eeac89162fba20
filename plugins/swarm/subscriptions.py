"""Subscriptions: a socket watches a session live, after a snapshot of what came before.

`subscribe` holds the session room's turn from joining the room to sending `swarm:state`,
and every publish holds it from its commit to its `swarm:update` (publishing.py). So an
update is either in the snapshot (committed before) or arrives live (after), never both,
never neither, on any node.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from plugins.swarm import payloads
from plugins.swarm.schemas import STATE_LIMIT
from plugins.swarm.sessions import Sessions, room_of

if TYPE_CHECKING:
    from core.api import Caller, Member, Platform, Room
    from plugins.swarm.metrics import SwarmMetrics


class Subscriptions:
    """The subscription rules of one platform."""

    def __init__(self, platform: Platform, metrics: SwarmMetrics, sessions: Sessions) -> None:
        self.platform = platform
        self.metrics = metrics
        self.sessions = sessions

    async def subscribe(
        self, caller: Caller, session_id: str, after_seq: int | None
    ) -> dict[str, Any]:
        """Ack, then `swarm:subscribed`, then `swarm:state` (the updates after
        `after_seq`, at most 500), then the live updates. Subscribing again re-sends
        the state (a client resynchronizing)."""
        await self.sessions.owned(caller.identity, session_id)  # fail fast
        room = room_of(caller.identity.organization_id, session_id)
        async with self.platform.turn(room, caller.after):
            # Checked again in the turn: an id claimed by another organization just now
            # is refused here, before the socket joins anything.
            state = await self.sessions.page(
                caller.identity, session_id, after_seq=after_seq or 0, limit=STATE_LIMIT
            )
            joined = await self.platform.rooms.join(caller.socket, room)
            if joined:
                self.metrics.subscribers.inc()
            caller.after.emit("swarm:subscribed", payloads.session_ref(session_id), to=caller.sid)
            caller.after.emit("swarm:state", state, to=caller.sid)
        return {
            "sessionId": session_id,
            "status": state["status"],
            "updates": len(state["updates"]),
            "hasMore": state["hasMore"],
        }

    async def unsubscribe(self, caller: Caller, session_id: str) -> dict[str, Any]:
        """Leave the session's room; `swarm:unsubscribed` either way."""
        room = room_of(caller.identity.organization_id, session_id)
        async with self.platform.turn(room, caller.after):
            left = await self.platform.rooms.leave(caller.socket, room)
            if left:
                self.metrics.subscribers.dec()
            caller.after.emit("swarm:unsubscribed", payloads.session_ref(session_id), to=caller.sid)
        return {"sessionId": session_id, "unsubscribed": bool(left)}

    async def left_room(self, room: Room, member: Member, reason: str) -> None:
        """A socket left a session's room without asking (disconnect, refresh, an admin's
        removal). A dead node's subscriptions were counted on that node, which is gone. A
        removed socket is told it no longer follows the session."""
        if reason != "node_lost":
            self.metrics.subscribers.dec()
        if reason == "removed":
            await self.platform.emit(
                "swarm:unsubscribed", payloads.session_ref(room.parts[1]), to=member.sid
            )

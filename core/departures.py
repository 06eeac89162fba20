"""Sockets leaving rooms without asking: a disconnect, a right taken away (a refresh's
new token, `Platform.recheck_room` on any node), a dead node's users (reaped by one
survivor). Each leaves under the room's turn and is told to plugins through
`lvng_client_left_room`, whose emits then run in order."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.data import Member, Session
from core.rooms import Room

if TYPE_CHECKING:
    from core.platform import Platform


class Departures:
    """One per gateway; the cluster state calls `member_lost` and `on_node_message`."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    async def leave_room(self, session: Session, room: Room, reason: str) -> bool:
        """Take the socket out of `room` without its asking and let plugins tell the room
        (`lvng_client_left_room`). True if it was in it."""
        return await self._left_room(room, Member.of(session), reason, session)

    async def _left_room(
        self, room: Room, member: Member, reason: str, session: Session | None = None
    ) -> bool:
        """Under the room's turn: leave (when the socket is still here; a dead node's is
        not) and fan `lvng_client_left_room` out, then run what the plugins queued."""
        after = self.platform.after_ack()
        async with self.platform.turn(room, after):
            last = True
            if session is not None:
                left = await self.platform.rooms.leave(session, room)
                if not left:
                    return False
                last = left.last
            await self.platform.plugins.fan_out(
                "lvng_client_left_room",
                room=room,
                member=member,
                last=last,
                reason=reason,
                platform=self.platform,
            )
        await after.run()
        return True

    async def on_node_message(self, message: dict[str, Any]) -> None:
        """A message of `cluster.tell_nodes`, on every node (see `Platform.recheck_room`)."""
        if message.get("op") != "recheck":
            return
        room, user_id = Room.from_key(message["room"]), message["user"]
        for session in list(self.platform.sessions.values()):
            if (
                session.user_id == user_id
                and room in session.rooms
                and not await self.platform.rooms.may_join(session.identity, room)
            ):
                await self.leave_room(session, room, message.get("reason", "revoked"))

    async def member_lost(self, room_key: str, user_id: str, user_name: str) -> None:
        """A dead node's user had its last socket in `room_key` there (core/cluster/state.py)."""
        room = Room.from_key(room_key)
        await self._left_room(
            room, Member("", user_id, user_name, room.organization_id), "node_lost"
        )

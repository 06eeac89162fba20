"""Sockets leaving rooms without asking: a disconnect, a right taken away (a refresh's
new token, `Platform.recheck_room` on any node), an admin's removal
(`Platform.remove_from_room`, on every node), a dead node's users (reaped by one
survivor). Each leaves under the room's turn and is told to plugins through
`lvng_client_left_room`, whose emits then run in order. An admin's disconnect
(`Platform.disconnect_user`) comes as a node message too."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from core.data import Member, Session
from core.rooms import Room

if TYPE_CHECKING:
    from core.platform import Platform

log = logging.getLogger("lvng.gateway")  # the gateway's log, as before the move


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

    def owe_leave(self, session: Session, room: Room, reason: str) -> None:
        """A gone socket's leave of `room` failed (Redis away): owe it to the cluster, so
        the room is told once Redis is back (core/cluster/owed.py)."""
        member = Member.of(session)
        session.rooms.discard(room)
        self.platform.owed.owe(
            f"{session.sid} leaving {room.name}",
            lambda: self._owed_leave(room, member, reason),
        )

    async def _owed_leave(self, room: Room, member: Member, reason: str) -> None:
        after = self.platform.after_ack()
        async with self.platform.turn(room, after):
            last = await self.platform.cluster.exit(room.key, member.user_id, member.sid)
            await self.platform.plugins.fan_out(
                "lvng_client_left_room",
                room=room,
                member=member,
                last=last,
                reason=reason,
                platform=self.platform,
            )
        await after.run()

    async def on_node_message(self, message: dict[str, Any]) -> None:
        """A message of `cluster.tell_nodes`, on every node (see `Platform.recheck_room`,
        `Platform.remove_from_room`, `Platform.disconnect_user`)."""
        op = message.get("op")
        if op == "remove":
            await self._remove(
                Room.from_key(message["room"]), message["user"], message["reason"], message["by"]
            )
            return
        if op == "spread":
            self.platform.slots.spread_told(message["organization"], message["user"])
            return
        if op == "disconnect":
            await self._disconnect_user(message["organization"], message["user"], message["by"])
            return
        if op != "recheck":
            return
        room, user_id = Room.from_key(message["room"]), message["user"]
        for session in list(self.platform.sessions.values()):
            if (
                session.user_id == user_id
                and room in session.rooms
                and not await self.platform.rooms.may_join(session.identity, room)
            ):
                await self.leave_room(session, room, message.get("reason", "revoked"))

    async def _remove(self, room: Room, user_id: str, reason: str, by: str) -> None:
        """This node's sockets of the user leave `room`, told as `reason`."""
        sessions = [
            session
            for session in self.platform.sessions.values()
            if session.user_id == user_id and room in session.rooms
        ]
        if sessions:
            log.info(
                "removing %d socket(s) of user %s (organization %s) from %s, asked by %s",
                len(sessions),
                user_id,
                room.organization_id,
                room.name,
                by,
            )
        for session in sessions:
            await self.leave_room(session, room, reason)

    async def _disconnect_user(self, organization_id: str, user_id: str, by: str) -> None:
        """Disconnect this node's sockets of the user."""
        sids = [
            session.sid
            for session in self.platform.sessions.values()
            if (session.organization_id, session.user_id) == (organization_id, user_id)
        ]
        if sids:
            log.info(
                "disconnecting %d socket(s) of user %s (organization %s), asked by %s",
                len(sids),
                user_id,
                organization_id,
                by,
            )
        for sid in sids:
            await self.platform.sio.disconnect(sid)

    async def member_lost(self, room_key: str, user_id: str, user_name: str) -> None:
        """A dead node's user had its last socket in `room_key` there (core/cluster/state.py)."""
        room = Room.from_key(room_key)
        await self._left_room(
            room, Member("", user_id, user_name, room.organization_id), "node_lost"
        )

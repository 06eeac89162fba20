"""The one room service (contract section 4): sockets join and leave rooms (`core.rooms`),
with the core's and the plugins' authorization, recorded in the cluster state so that
`first` and `last` are about the user on every node."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from core.errors import ErrorCode, LvngError
from core.rooms import Joined, Left, Room

if TYPE_CHECKING:
    import socketio

    from core.cluster.state import ClusterState
    from core.data import Session
    from core.identity import Identity

Authorizer = Callable[["Identity", Room], Awaitable[None]]


class RoomService:
    """Join, leave and membership of sockets in rooms, with an authorization veto.

    Membership is recorded in the cluster state too, so `first` and `last` are about the
    user on every node. Callers that announce them hold the room's turn around the call.
    """

    def __init__(
        self, sio: socketio.AsyncServer, authorize: Authorizer, cluster: ClusterState
    ) -> None:
        self._sio = sio
        self._authorize = authorize
        self._cluster = cluster

    async def join(
        self, session: Session, room: Room, *, authorize: bool = True, enter: bool = True
    ) -> Joined:
        """Put the socket in the room (`enter=False`: in every record but the Socket.IO
        room, which a recovery enters itself once the missed events are out).

        Raises LvngError(FORBIDDEN) when the room belongs to another organization or a
        plugin's `lvng_authorize_join` vetoes it.
        """
        if room.organization_id != session.identity.organization_id:
            raise LvngError(ErrorCode.FORBIDDEN, "that room belongs to another organization")
        if room in session.rooms:
            return Joined(False)
        if authorize:
            await self._authorize(session.identity, room)
        if enter:
            await self._sio.enter_room(session.sid, room.key)
        recovery = getattr(self._sio, "recovery", None)
        if recovery is not None and recovery.enabled:
            if session.since is None:
                session.since = {}
            session.since[room.key] = recovery.seq
        session.rooms.add(room)
        first = await self._cluster.enter(
            room.key, session.user_id, session.sid, session.identity.user_name
        )
        await self._keep(session)
        return Joined(True, first)

    async def _keep(self, session: Session) -> None:
        """With Redis, the socket's rooms as a recovery on any node reads them."""
        recovery = getattr(self._sio, "recovery", None)
        if (
            recovery is not None
            and recovery.store is not None
            and session.pid is not None
            and recovery.live.get(session.pid) == session.sid  # not once it dropped
        ):
            await recovery.keep(
                session.pid,
                session.sid,
                session.organization_id,
                session.user_id,
                [r.key for r in session.rooms],
                session.since,
            )

    async def may_join(self, identity: Identity, room: Room) -> bool:
        """Whether `identity` passes the checks of `join` for `room` (as after a refresh)."""
        if room.organization_id != identity.organization_id:
            return False
        try:
            await self._authorize(identity, room)
        except LvngError:
            return False
        return True

    async def leave(self, session: Session, room: Room) -> Left:
        """Take the socket out of the room."""
        if room not in session.rooms:
            return Left(False)
        session.rooms.discard(room)
        if session.since is not None:
            session.since.pop(room.key, None)
        await self._sio.leave_room(session.sid, room.key)
        last = await self._cluster.exit(room.key, session.user_id, session.sid)
        await self._keep(session)
        return Left(True, last)

    async def users(self, room: Room) -> dict[str, str]:
        """Every user with a socket in the room, on any node: `{userId: userName}`."""
        return await self._cluster.users(room.key)

    async def count(self, room: Room) -> int:
        """How many users have a socket in the room, on any node (one step, any size)."""
        return await self._cluster.count(room.key)

    async def listen(self, session: Session, room: Room) -> bool:
        """Put the socket in the room for delivery only: what is emitted to the room
        reaches it (on any node, through the Socket.IO adapter), but it is no member (no
        `first`/`last`, not in `users`, not in `session.rooms`) and no plugin is asked:
        the caller decided it may hear the room (a presence subscription). It ends with
        the socket. False when the room belongs to another organization."""
        if room.organization_id != session.identity.organization_id:
            return False
        await self._sio.enter_room(session.sid, room.key)
        return True

    async def unlisten(self, session: Session, room: Room) -> None:
        """Undo `listen` (nothing if the socket was not listening)."""
        await self._sio.leave_room(session.sid, room.key)

    def require_member(self, session: Session, room: Room) -> None:
        """Raise NOT_IN_ROOM unless the socket has joined the room."""
        if room not in session.rooms:
            raise LvngError(ErrorCode.NOT_IN_ROOM, f"join {room.name} first")

    def local_members(self, room: Room) -> list[str]:
        """Socket ids in the room on this node."""
        return [sid for sid, _ in self._sio.manager.get_participants("/", room.key)]

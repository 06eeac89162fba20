"""The one room service (contract section 4).

A room has a logical scope, the reference's room name (`channel:general`), and belongs to
one organization. Its internal Socket.IO key is `{organizationId}/{scope}`; ids may not
contain `/`, so two organizations using the same channel id never share a room.

Ids may contain `:`, the separator of a room name's parts, so `Room.of` escapes it inside
each part: customer `a:conversation:b` with conversation `c` and customer `a` with
conversation `b:conversation:c` are two rooms. Ids may not contain `%`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.errors import ErrorCode, LvngError

if TYPE_CHECKING:
    import socketio

    from core.cluster.state import ClusterState
    from core.identity import Identity
    from core.platform import Session


_ESCAPED_COLON = "%3A"


@dataclass(frozen=True, slots=True)
class Room:
    organization_id: str
    scope: str

    @classmethod
    def of(cls, organization_id: str, *parts: str) -> Room:
        """`Room.of(org, "channel", cid)` is the room `channel:{cid}` of that org."""
        return cls(organization_id, ":".join(p.replace(":", _ESCAPED_COLON) for p in parts))

    @classmethod
    def from_key(cls, key: str) -> Room:
        """The room of an internal key (`acme/channel:general`)."""
        organization_id, _, scope = key.partition("/")
        return cls(organization_id, scope)

    @property
    def key(self) -> str:
        return f"{self.organization_id}/{self.scope}"

    @property
    def parts(self) -> tuple[str, ...]:
        """The parts `of` was given: `("customer", cid, "conversation", vid)`."""
        return tuple(p.replace(_ESCAPED_COLON, ":") for p in self.scope.split(":"))

    @property
    def name(self) -> str:
        """The reference's room name, as clients know it (unescaped)."""
        return ":".join(self.parts)

    @property
    def kind(self) -> str:
        return self.parts[0]


Authorizer = Callable[["Identity", Room], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Joined:
    """What a join did: `joined` (the socket was not in the room before) and `first` (no
    other socket of the user was in it, on any node). True when the socket joined."""

    joined: bool
    first: bool = False

    def __bool__(self) -> bool:
        return self.joined


@dataclass(frozen=True, slots=True)
class Left:
    """What a leave did: `left` (the socket was in the room) and `last` (no socket of the
    user is in it any more, on any node). True when the socket left."""

    left: bool
    last: bool = False

    def __bool__(self) -> bool:
        return self.left


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

    async def join(self, session: Session, room: Room, *, authorize: bool = True) -> Joined:
        """Put the socket in the room.

        Raises LvngError(FORBIDDEN) when the room belongs to another organization or a
        plugin's `lvng_authorize_join` vetoes it.
        """
        if room.organization_id != session.identity.organization_id:
            raise LvngError(ErrorCode.FORBIDDEN, "that room belongs to another organization")
        if room in session.rooms:
            return Joined(False)
        if authorize:
            await self._authorize(session.identity, room)
        await self._sio.enter_room(session.sid, room.key)
        session.rooms.add(room)
        first = await self._cluster.enter(
            room.key, session.user_id, session.sid, session.identity.user_name
        )
        return Joined(True, first)

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
        await self._sio.leave_room(session.sid, room.key)
        last = await self._cluster.exit(room.key, session.user_id, session.sid)
        return Left(True, last)

    async def users(self, room: Room) -> dict[str, str]:
        """Every user with a socket in the room, on any node: `{userId: userName}`."""
        return await self._cluster.users(room.key)

    def require_member(self, session: Session, room: Room) -> None:
        """Raise NOT_IN_ROOM unless the socket has joined the room."""
        if room not in session.rooms:
            raise LvngError(ErrorCode.NOT_IN_ROOM, f"join {room.name} first")

    def local_members(self, room: Room) -> list[str]:
        """Socket ids in the room on this node."""
        return [sid for sid, _ in self._sio.manager.get_participants("/", room.key)]

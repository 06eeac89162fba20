"""Rooms, as values (contract section 4); the service that joins and leaves them is
`core.room_service`.

A room has a logical scope, the reference's room name (`channel:general`), and belongs to
one organization. Its internal Socket.IO key is `{organizationId}/{scope}`; ids may not
contain `/`, so two organizations using the same channel id never share a room.

Ids may contain `:`, the separator of a room name's parts, so `Room.of` escapes it inside
each part: customer `a:conversation:b` with conversation `c` and customer `a` with
conversation `b:conversation:c` are two rooms. Ids may not contain `%`.
"""

from __future__ import annotations

from dataclasses import dataclass

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

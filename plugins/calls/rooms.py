"""Call rooms: a call's `roomName` and the core's room of it, both ways."""

from __future__ import annotations

from core.api import Room


def call_room(organization_id: str, room_name: str) -> Room:
    """The room of the organization's call `roomName`."""
    return Room.of(organization_id, "call", room_name)


def room_name_of(room: Room) -> str | None:
    """The roomName of a call room (None for any other room)."""
    parts = room.parts
    return parts[1] if len(parts) == 2 and parts[0] == "call" else None

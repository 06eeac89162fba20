"""Where messages live: a channel, or a customer's conversation, of one organization."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.api import Room

if TYPE_CHECKING:
    from plugins.messages.schemas import TargetRef


@dataclass(frozen=True, slots=True)
class Target:
    """A channel or a customer conversation, and its room."""

    organization_id: str
    channel_id: str | None = None
    customer_id: str | None = None
    conversation_id: str | None = None

    @classmethod
    def of(cls, organization_id: str, ref: TargetRef) -> Target:
        if ref.conversationId is not None:
            return cls(organization_id, None, ref.customerId, ref.conversationId)
        return cls(organization_id, ref.channelId)

    @classmethod
    def channel(cls, organization_id: str, channel_id: str) -> Target:
        return cls(organization_id, channel_id)

    @classmethod
    def conversation(cls, organization_id: str, customer_id: str, conversation_id: str) -> Target:
        return cls(organization_id, None, customer_id, conversation_id)

    @classmethod
    def from_room(cls, room: Room) -> Target | None:
        """The channel or conversation a room stands for (None for other rooms)."""
        parts = room.parts
        if len(parts) == 2 and parts[0] == "channel":
            return cls.channel(room.organization_id, parts[1])
        if len(parts) == 4 and parts[0] == "customer" and parts[2] == "conversation":
            return cls.conversation(room.organization_id, parts[1], parts[3])
        return None

    @property
    def kind(self) -> str:
        return "conversation" if self.conversation_id is not None else "channel"

    @property
    def scope(self) -> str:
        """The reference's room name: `channel:{id}` or `customer:{c}:conversation:{v}`."""
        return self.room.name

    @property
    def room(self) -> Room:
        if self.conversation_id is not None:
            return Room.of(
                self.organization_id,
                "customer",
                self.customer_id or "",
                "conversation",
                self.conversation_id,
            )
        return Room.of(self.organization_id, "channel", self.channel_id or "")

    def ids(self) -> dict[str, str | None]:
        """The target's keys as every payload carries them (`channelId` null for a
        conversation, `conversationId` null for a channel)."""
        return {
            "channelId": self.channel_id,
            "conversationId": self.conversation_id,
            "customerId": self.customer_id,
        }

    def rows(self) -> dict[str, Any]:
        """The columns that select this target's rows."""
        return {"organization_id": self.organization_id, "room": self.room.scope}

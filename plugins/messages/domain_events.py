"""The domain events the messages plugin publishes, with their data schemas.

Declared through `lvng_register_domain_events`; `platform.publish` checks every event
against its model, and `lvng plugins` lists them. Every event carries the target's keys
(`channelId` null for a conversation; `conversationId` and `customerId` null for a channel)
and who did it. Extra keys are refused, so the models are the whole contract.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from core.api import DomainEventRegistrar


class TargetEvent(BaseModel):
    """Where it happened and who did it."""

    model_config = ConfigDict(extra="forbid")

    channelId: str | None
    conversationId: str | None
    customerId: str | None
    userId: str
    userName: str


class MessageDeleted(TargetEvent):
    messageId: str


class MessageWritten(MessageDeleted):
    message: dict[str, Any]  # the message as `message:new` carries it


class MemberChanged(TargetEvent):
    pass


EVENTS: dict[str, tuple[type[BaseModel], str]] = {
    "message.created": (MessageWritten, "a message was stored in a channel or conversation"),
    "message.updated": (MessageWritten, "a message's content or metadata was edited"),
    "message.deleted": (MessageDeleted, "a message was deleted (soft: kept, marked deleted)"),
    "conversation.member_joined": (
        MemberChanged,
        "a user's first socket joined a customer conversation",
    ),
    "conversation.member_left": (
        MemberChanged,
        "a user's last socket left a customer conversation",
    ),
}


def register(events: DomainEventRegistrar) -> None:
    for name, (schema, description) in EVENTS.items():
        events.add(name, schema, description)

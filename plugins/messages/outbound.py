"""The schemas of the messages plugin's server→client events (the reference's keys, and
the ones the server adds), declared with `events.emits` for the AsyncAPI document.
`payloads.py` builds them; the e2e suite checks what it builds against these."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from core.api import EventRegistrar, Outbound, Timestamp


class Target(Outbound):
    channelId: str | None
    conversationId: str | None


class Person(Outbound):
    userId: str
    userName: str


class Channel(Outbound):
    """A channel as acks, `channel:update` and HTTP carry it."""

    id: str
    organizationId: str
    name: str
    topic: str | None
    description: str | None
    private: bool
    createdBy: str | None
    createdAt: Timestamp
    updatedAt: Timestamp


class Message(Outbound):
    """A new message to the room (the sender included), after it is committed."""

    id: str
    channelId: str | None
    conversationId: str | None
    customerId: str | None
    userId: str
    userName: str
    content: str
    contentType: str
    threadId: str | None
    attachments: list[dict[str, Any]]
    createdAt: Timestamp
    updatedAt: Timestamp
    metadata: dict[str, Any]
    mentions: list[str]
    optimisticId: str | None
    workspaceId: str | None
    reactions: list[dict[str, Any]]


class UserRef(BaseModel):
    id: str
    name: str


class ChannelJoined(Person):
    """A user joined the channel: to the room, the joiner included."""

    channelId: str
    user: UserRef
    timestamp: Timestamp


class ChannelHistory(Outbound):
    """The last 50 messages of a channel, oldest first, to the joiner."""

    channelId: str
    messages: list[Message]
    hasMore: bool
    total: int


class ChannelLeft(Person):
    """A user left the channel (`reason` when the user did not ask: `removed`,
    `revoked`). Not sent for a disconnect."""

    channelId: str
    timestamp: Timestamp
    reason: str | None = None


class ChannelUpdated(Outbound):
    """A channel's name, topic, description or privacy changed: to the room."""

    channelId: str
    updates: dict[str, Any]
    channel: Channel
    updatedBy: str
    updatedByName: str
    timestamp: Timestamp


class Sent(Outbound):
    """The sender's confirmation of `message:send` (again, with the first id, for a
    repeated optimisticId)."""

    id: str
    optimisticId: str | None
    channelId: str | None
    conversationId: str | None
    customerId: str | None
    timestamp: Timestamp


class MessageUpdated(Target):
    """A message was edited: to the room."""

    messageId: str
    content: str
    metadata: dict[str, Any] | None
    updatedBy: str
    updatedByName: str
    timestamp: Timestamp


class MessageDeleted(Target):
    """A message was deleted (soft): to the room."""

    messageId: str
    deletedBy: str
    deletedByName: str
    timestamp: Timestamp


class Reaction(Target, Person):
    """A reaction was added or removed: to the room."""

    messageId: str
    emoji: str
    action: Literal["add", "remove"]
    timestamp: Timestamp


class Read(Target, Person):
    """One read of a user in a room (reads within 500 ms are coalesced): to the room."""

    messageId: str
    timestamp: Timestamp


class ChannelUnread(Outbound):
    """A channel's counts for one user, to that user's sockets (`user:{userId}`, any
    node): when the user's read position moved (not to the reading socket), and when a
    new message mentions a user who has the channel on the list but no socket in it."""

    channelId: str
    unreadCount: int
    mentionCount: int
    lastReadMessageId: str | None


class ReadBatch(Target, Person):
    """Several reads of a user in a room within 500 ms, as one event: to the room."""

    messageIds: list[str]
    timestamp: Timestamp


class Typing(Target, Person):
    """Typing started or stopped: to the room without the typist (`reason` `timeout` or
    `left` on a stop the server made)."""

    timestamp: Timestamp
    reason: str | None = None


class RoomJoined(Outbound):
    """To the socket that joined a customer conversation."""

    room: str
    conversationId: str
    customerId: str
    timestamp: Timestamp


class Member(Person):
    """A user joined or left a customer conversation: to the others in it."""

    conversationId: str
    customerId: str
    timestamp: Timestamp


class Rejoined(Outbound):
    """What the client missed after `lastMessageId` (or `lastMessageTimestamp`), oldest
    first; `hasMore` when more than 500 were missed."""

    conversationId: str
    customerId: str
    missed_messages: list[Message]
    hasMore: bool
    room: str
    timestamp: Timestamp


def register(events: EventRegistrar) -> None:
    events.emits("channel:join", ChannelJoined)
    events.emits("channel:history", ChannelHistory)
    events.emits("channel:leave", ChannelLeft)
    events.emits("channel:update", ChannelUpdated)
    events.emits("message:new", Message)
    events.emits("message:sent", Sent)
    events.emits("message:update", MessageUpdated)
    events.emits("message:delete", MessageDeleted)
    events.emits("message:reaction", Reaction)
    events.emits("message:read", Read)
    events.emits("message:read:batch", ReadBatch)
    events.emits("channel:unread", ChannelUnread)
    # Typing is ephemeral: a recovered socket does not get it again (contract section 12).
    events.emits("typing:start", Typing, ephemeral=True)
    events.emits(
        "typing:stop",
        Typing,
        "Typing stopped: to the room without the typist, "
        "also when the server ends a typing:start not stopped within 10 s "
        "(`reason` `timeout`, or `left`).",
        ephemeral=True,
    )
    events.emits("room:joined", RoomJoined)
    events.emits(
        "member:joined", Member, "A user joined a customer conversation: to the others in it."
    )
    events.emits(
        "member:left",
        Member,
        "A user left a customer conversation (the last device): to the others in it.",
    )
    events.emits("conversation:rejoined", Rejoined)

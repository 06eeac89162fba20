"""Payload models of the messages plugin's client events and HTTP bodies.

Limits are the contract's (section 3). Extra keys are ignored, and so is everything a
client says about who it is (`userId`, `userName`): the identity comes from the token.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from core.api import ID_PATTERN

MAX_CONTENT = 10_000
MAX_MENTIONS = 50
MAX_EMOJI = 64
MAX_ATTACHMENTS = 20
MAX_JSON_BYTES = 16_384  # metadata, and each attachment
HISTORY_PAGE = 50
MAX_HISTORY_PAGE = 100
CHANNEL_LIST_PAGE = 100
MAX_CHANNEL_LIST_PAGE = 200

Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
# A target key a client may leave out, send as null, or send as "" (not used).
OptionalId = Annotated[Id | None, BeforeValidator(lambda v: None if v == "" else v)]


def _trimmed(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _not_blank(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        raise PydanticCustomError("blank", "content must not be empty")
    return value


Content = Annotated[
    str,
    BeforeValidator(_trimmed),
    BeforeValidator(_not_blank),
    StringConstraints(min_length=1, max_length=MAX_CONTENT),
]
Emoji = Annotated[
    str, BeforeValidator(_trimmed), StringConstraints(min_length=1, max_length=MAX_EMOJI)
]


J = TypeVar("J")


def _small_json(value: J, what: str) -> J:
    if len(json.dumps(value, separators=(",", ":"))) > MAX_JSON_BYTES:
        raise ValueError(f"{what} is larger than {MAX_JSON_BYTES} bytes as JSON")
    return value


class Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)


class TargetRef(Payload):
    """Where an event goes: a channel, or a customer's conversation.

    A conversation needs both `conversationId` and `customerId`; when they are given the
    event is for the conversation and `channelId` is not used.
    """

    channelId: OptionalId = None
    conversationId: OptionalId = None
    customerId: OptionalId = None

    @model_validator(mode="after")
    def _one_target(self) -> TargetRef:
        if self.conversationId is not None or self.customerId is not None:
            if self.conversationId is None or self.customerId is None:
                raise ValueError("a conversation needs both conversationId and customerId")
        elif self.channelId is None:
            raise ValueError("channelId is required (or conversationId and customerId)")
        return self

    @property
    def is_conversation(self) -> bool:
        return self.conversationId is not None


class MessageBody(Payload):
    """What a new message says; shared by `message:send` and the HTTP POST."""

    content: Content
    contentType: Literal["text", "markdown"] = "text"
    threadId: Id | None = None
    mentions: list[Id] = Field(default_factory=list, max_length=MAX_MENTIONS)
    optimisticId: Id | None = None
    workspaceId: Id | None = None
    attachments: list[dict[str, Any]] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("mentions")
    @classmethod
    def _distinct_mentions(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    @field_validator("attachments")
    @classmethod
    def _small_attachments(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for item in value:
            _small_json(item, "an attachment")
        return value

    @field_validator("metadata")
    @classmethod
    def _small_metadata(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _small_json(value, "metadata")


class SendMessage(MessageBody, TargetRef):
    """`message:send`."""


class UpdateMessage(TargetRef):
    """`message:update`: new content, and metadata if given (replacing the old)."""

    messageId: Id
    content: Content
    metadata: dict[str, Any] | None = None
    mentions: list[Id] | None = Field(None, max_length=MAX_MENTIONS)

    @field_validator("metadata")
    @classmethod
    def _small_metadata(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return value if value is None else _small_json(value, "metadata")

    @field_validator("mentions")
    @classmethod
    def _distinct_mentions(cls, value: list[str] | None) -> list[str] | None:
        return value if value is None else list(dict.fromkeys(value))


class MessageRef(TargetRef):
    """`message:delete`, `message:read`."""

    messageId: Id


class React(TargetRef):
    """`message:react`."""

    messageId: Id
    emoji: Emoji
    action: Literal["add", "remove"] = "add"


class Typing(TargetRef):
    """`typing:start`, `typing:stop` (the client's userId and userName are ignored)."""


class ChannelRef(Payload):
    """`channel:join`, `channel:leave`."""

    channelId: Id


class LeaveChannel(ChannelRef):
    """`channel:leave`; `forget: true` also takes the channel off the user's list."""

    forget: bool = False


class ChannelListPage(Payload):
    """`channel:list` and `GET /api/v1/channels?limit=&cursor=`: a page of the user's
    channels, newest activity first; `cursor` is the `nextCursor` of the page before."""

    limit: int = Field(CHANNEL_LIST_PAGE, ge=1, le=MAX_CHANNEL_LIST_PAGE)
    cursor: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None


class Page(Payload):
    """A page of history: back from `before` (the newest when neither is given) or
    forward from `after`, at most `limit` messages."""

    before: Id | None = None
    after: Id | None = None
    limit: int = Field(HISTORY_PAGE, ge=1, le=MAX_HISTORY_PAGE)

    @model_validator(mode="after")
    def _one_direction(self) -> Page:
        if self.before is not None and self.after is not None:
            raise ValueError("give before or after, not both")
        return self


class ChannelHistory(Page):
    """`channel:history`."""

    channelId: Id


class ChannelChanges(Payload):
    """The `updates` of `channel:update`; only the keys sent are changed."""

    name: (
        Annotated[str, BeforeValidator(_trimmed), StringConstraints(min_length=1, max_length=80)]
        | None
    ) = None
    topic: Annotated[str, BeforeValidator(_trimmed), StringConstraints(max_length=250)] | None = (
        None
    )
    description: (
        Annotated[str, BeforeValidator(_trimmed), StringConstraints(max_length=1000)] | None
    ) = None
    private: bool | None = None

    @model_validator(mode="after")
    def _something(self) -> ChannelChanges:
        if not self.changes():
            raise ValueError("updates must set name, topic, description or private")
        if "name" in self.model_fields_set and self.name is None:
            raise ValueError("name cannot be removed")
        if "private" in self.model_fields_set and self.private is None:
            raise ValueError("private must be true or false")
        return self

    def changes(self) -> dict[str, Any]:
        """The keys the client sent, with `null` topic or description meaning empty."""
        sent = self.model_dump(include=self.model_fields_set)
        for key in ("topic", "description"):
            if key in sent and sent[key] is None:
                sent[key] = ""
        return sent


class UpdateChannel(Payload):
    """`channel:update`."""

    channelId: Id
    updates: ChannelChanges


class ConversationRef(Payload):
    """`conversation:join`, `conversation:leave`."""

    conversationId: Id
    customerId: Id


def _moment(value: Any) -> Any:
    """An ISO 8601 timestamp (`2026-03-19T12:00Z`, say); a zone-less one is UTC."""
    if value is None or isinstance(value, datetime):
        return value
    if not isinstance(value, str) or len(value) > 64:
        raise ValueError("must be an ISO 8601 timestamp")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError("must be an ISO 8601 timestamp") from None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


class Rejoin(ConversationRef):
    """`conversation:rejoin`: recover what came after the last message the client has."""

    lastMessageId: Id | None = None
    lastMessageTimestamp: Annotated[datetime | None, BeforeValidator(_moment)] = None


class HistoryQuery(Page):
    """`?before=|after=&limit=` of the HTTP history reads."""

"""The messages plugin's tables (Tortoise app label `messages`).

Rooms are kept apart by organization: every row carries its `organization_id`. A channel
id belongs to the first organization that used it (a unique index, migration 0002); a
customer id to the organization the core's owner registry says (`platform.customers`,
since migration 0003, which moved this plugin's own record of owners there).
Messages are ordered by `seq`, an autoincrement integer assigned at insert while the
room's turn is held, so within a room `seq` order is commit order and broadcast order;
timestamps and ids never order anything.
"""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model

ID_LENGTH = 128  # contract section 3: ids are 1 to 128 characters
ROOM_LENGTH = 400  # "customer:{id}:conversation:{id}" with escaped ids


class Channel(Model):
    """A channel of one organization, created on first join."""

    id = fields.IntField(primary_key=True)
    organization_id = fields.CharField(max_length=ID_LENGTH)
    channel_id = fields.CharField(max_length=ID_LENGTH)
    name = fields.CharField(max_length=80)
    topic = fields.CharField(max_length=250, default="")
    description = fields.TextField(default="")
    private = fields.BooleanField(default=False)
    created_by = fields.CharField(max_length=ID_LENGTH)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "messages_channel"
        unique_together = (("organization_id", "channel_id"),)


class ChannelMember(Model):
    """A user admitted to a (private) channel by its creator or an org admin."""

    id = fields.IntField(primary_key=True)
    organization_id = fields.CharField(max_length=ID_LENGTH)
    channel_id = fields.CharField(max_length=ID_LENGTH)
    user_id = fields.CharField(max_length=ID_LENGTH)
    added_by = fields.CharField(max_length=ID_LENGTH)
    created_at = fields.DatetimeField()

    class Meta:
        table = "messages_channel_member"
        unique_together = (("organization_id", "channel_id", "user_id"),)


class Conversation(Model):
    """A conversation of one customer (and so of that customer's organization)."""

    id = fields.IntField(primary_key=True)
    organization_id = fields.CharField(max_length=ID_LENGTH)
    customer_id = fields.CharField(max_length=ID_LENGTH)
    conversation_id = fields.CharField(max_length=ID_LENGTH)
    created_by = fields.CharField(max_length=ID_LENGTH)
    created_at = fields.DatetimeField()

    class Meta:
        table = "messages_conversation"
        unique_together = (("customer_id", "conversation_id"),)


class Message(Model):
    """One message in a channel or a customer conversation."""

    seq = fields.BigIntField(primary_key=True)  # commit order within a room
    message_id = fields.CharField(max_length=64, unique=True)  # "msg_<uuid7>"
    organization_id = fields.CharField(max_length=ID_LENGTH)
    room = fields.CharField(max_length=ROOM_LENGTH)  # the room's internal scope
    channel_id = fields.CharField(max_length=ID_LENGTH, null=True)
    customer_id = fields.CharField(max_length=ID_LENGTH, null=True)
    conversation_id = fields.CharField(max_length=ID_LENGTH, null=True)
    user_id = fields.CharField(max_length=ID_LENGTH)
    user_name = fields.CharField(max_length=128)
    content = fields.TextField()
    content_type = fields.CharField(max_length=32, default="text")
    thread_id = fields.CharField(max_length=64, null=True)
    mentions: fields.JSONField[list[Any]] = fields.JSONField(default=list)
    attachments: fields.JSONField[list[Any]] = fields.JSONField(default=list)
    metadata: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    optimistic_id = fields.CharField(max_length=ID_LENGTH, null=True)
    workspace_id = fields.CharField(max_length=ID_LENGTH, null=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()
    deleted_at = fields.DatetimeField(null=True)
    deleted_by = fields.CharField(max_length=ID_LENGTH, null=True)

    class Meta:
        table = "messages_message"
        indexes = (
            ("organization_id", "room", "seq"),
            ("organization_id", "user_id", "optimistic_id"),
        )


class Reaction(Model):
    """One user's emoji on one message, at most one per (message, user, emoji)."""

    id = fields.IntField(primary_key=True)
    message_seq = fields.BigIntField()  # Message.seq
    user_id = fields.CharField(max_length=ID_LENGTH)
    user_name = fields.CharField(max_length=128)
    emoji = fields.CharField(max_length=64)
    created_at = fields.DatetimeField()

    class Meta:
        table = "messages_reaction"
        unique_together = (("message_seq", "user_id", "emoji"),)


class ReadPosition(Model):
    """The newest message a user has read in a room."""

    id = fields.IntField(primary_key=True)
    organization_id = fields.CharField(max_length=ID_LENGTH)
    room = fields.CharField(max_length=ROOM_LENGTH)
    user_id = fields.CharField(max_length=ID_LENGTH)
    message_seq = fields.BigIntField()
    message_id = fields.CharField(max_length=64)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "messages_read_position"
        unique_together = (("organization_id", "room", "user_id"),)


class ChannelTally(Model):
    """A channel's kept counts (issue 28): its live (not deleted) messages and the newest
    of them, updated in the transaction of each send and delete under the room's turn."""

    id = fields.IntField(primary_key=True)
    organization_id = fields.CharField(max_length=ID_LENGTH)
    channel_id = fields.CharField(max_length=ID_LENGTH)
    live = fields.IntField(default=0)
    last_seq = fields.BigIntField(default=0)  # the newest live message's seq, 0 for none

    class Meta:
        table = "messages_channel_tally"
        unique_together = (("organization_id", "channel_id"),)


class ChannelEntry(Model):
    """A channel on a user's list (issue 28), with the user's read position and the counts
    that make its badge without a scan: `unread = tally.live - read_live - own_after`.

    `read_live`: live messages at or before the read position (anyone's); `own_after`: the
    user's own live messages after it; `mentions`: live messages of others after it whose
    mentions hold the user."""

    id = fields.IntField(primary_key=True)
    organization_id = fields.CharField(max_length=ID_LENGTH)
    channel_id = fields.CharField(max_length=ID_LENGTH)
    user_id = fields.CharField(max_length=ID_LENGTH)
    read_seq = fields.BigIntField(default=0)
    read_message_id = fields.CharField(max_length=64, null=True)
    read_live = fields.IntField(default=0)
    own_after = fields.IntField(default=0)
    mentions = fields.IntField(default=0)
    created_at = fields.DatetimeField()

    class Meta:
        table = "messages_channel_entry"
        unique_together = (("organization_id", "channel_id", "user_id"),)
        indexes = (("organization_id", "user_id"),)


class Mention(Model):
    """A live channel message mentioning a user who is not its author (issue 28)."""

    id = fields.IntField(primary_key=True)
    message_seq = fields.BigIntField()  # Message.seq
    organization_id = fields.CharField(max_length=ID_LENGTH)
    channel_id = fields.CharField(max_length=ID_LENGTH)
    user_id = fields.CharField(max_length=ID_LENGTH)

    class Meta:
        table = "messages_mention"
        unique_together = (("message_seq", "user_id"),)
        indexes = (("organization_id", "channel_id", "user_id", "message_seq"),)

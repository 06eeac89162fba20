"""Every payload the messages plugin sends, built in one place (the reference's keys,
contract section 5). Services decide what to send and when; this module only says how
each payload looks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.api import iso, now_iso

if TYPE_CHECKING:
    from datetime import datetime

    from plugins.messages.models import Channel, Message
    from plugins.messages.target import Target


def person(user_id: str, user_name: str) -> dict[str, str]:
    return {"userId": user_id, "userName": user_name}


# --- channels ------------------------------------------------------------------------------


def channel(row: Channel) -> dict[str, Any]:
    """A channel as acks, `channel:update` and HTTP carry it."""
    return {
        "id": row.channel_id,
        "organizationId": row.organization_id,
        "name": row.name,
        "topic": row.topic,
        "description": row.description,
        "private": row.private,
        "createdBy": row.created_by,
        "createdAt": iso(row.created_at),
        "updatedAt": iso(row.updated_at),
    }


def channel_joined(channel_id: str, user_id: str, user_name: str) -> dict[str, Any]:
    """`channel:join` to the room."""
    return {
        "channelId": channel_id,
        **person(user_id, user_name),
        "user": {"id": user_id, "name": user_name},
        "timestamp": now_iso(),
    }


def channel_left(
    channel_id: str, user_id: str, user_name: str, reason: str | None = None
) -> dict[str, Any]:
    """`channel:leave` to the room; `reason` when the user did not ask (`removed`,
    `revoked`)."""
    data: dict[str, Any] = {
        "channelId": channel_id,
        **person(user_id, user_name),
        "timestamp": now_iso(),
    }
    if reason is not None:
        data["reason"] = reason
    return data


def channel_history(channel_id: str, page: dict[str, Any]) -> dict[str, Any]:
    """`channel:history` to a joiner: `{channelId, messages, hasMore, total}`."""
    return {"channelId": channel_id, **page}


def channel_updated(
    row: Channel, updates: dict[str, Any], user_id: str, user_name: str
) -> dict[str, Any]:
    described = channel(row)
    return {
        "channelId": row.channel_id,
        "updates": updates,
        "channel": described,
        "updatedBy": user_id,
        "updatedByName": user_name,
        "timestamp": described["updatedAt"],
    }


# --- messages ------------------------------------------------------------------------------


def message(row: Message, reactions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A message as `message:new`, history and recovery carry it."""
    return {
        "id": row.message_id,
        "channelId": row.channel_id,
        "conversationId": row.conversation_id,
        "customerId": row.customer_id,
        "userId": row.user_id,
        "userName": row.user_name,
        "content": row.content,
        "contentType": row.content_type,
        "threadId": row.thread_id,
        "attachments": row.attachments,
        "createdAt": iso(row.created_at),
        "updatedAt": iso(row.updated_at),
        "metadata": row.metadata,
        "mentions": row.mentions,
        "optimisticId": row.optimistic_id,
        "workspaceId": row.workspace_id,
        "reactions": reactions or [],
    }


def sent(row: Message) -> dict[str, Any]:
    """`message:sent`: the sender's confirmation."""
    return {
        "id": row.message_id,
        "optimisticId": row.optimistic_id,
        "channelId": row.channel_id,
        "conversationId": row.conversation_id,
        "customerId": row.customer_id,
        "timestamp": iso(row.created_at),
    }


def message_updated(row: Message, target: Target, user_id: str, user_name: str) -> dict[str, Any]:
    return {
        "messageId": row.message_id,
        "content": row.content,
        "metadata": row.metadata,
        **target.ids(),
        "updatedBy": user_id,
        "updatedByName": user_name,
        "timestamp": iso(row.updated_at),
    }


def message_deleted(row: Message, target: Target, user_id: str, user_name: str) -> dict[str, Any]:
    return {
        "messageId": row.message_id,
        **target.ids(),
        "deletedBy": user_id,
        "deletedByName": user_name,
        "timestamp": iso(_deleted_at(row)),
    }


def reaction(
    message_id: str, target: Target, emoji: str, user_id: str, user_name: str, action: str
) -> dict[str, Any]:
    return {
        "messageId": message_id,
        **target.ids(),
        "emoji": emoji,
        **person(user_id, user_name),
        "action": action,
        "timestamp": now_iso(),
    }


def reads(
    message_ids: list[str], target: Target, user_id: str, user_name: str
) -> tuple[str, dict[str, Any]]:
    """One read as `message:read`, several as one `message:read:batch`."""
    who = {**target.ids(), **person(user_id, user_name), "timestamp": now_iso()}
    if len(message_ids) == 1:
        return "message:read", {"messageId": message_ids[0], **who}
    return "message:read:batch", {"messageIds": message_ids, **who}


def message_event(row: Message, target: Target, user_id: str, user_name: str) -> dict[str, Any]:
    """The data of the `message.*` domain events."""
    return {
        **target.ids(),
        "messageId": row.message_id,
        **person(user_id, user_name),
        "message": message(row),
    }


# --- typing --------------------------------------------------------------------------------


def typing(
    target: Target, user_id: str, user_name: str, reason: str | None = None
) -> dict[str, Any]:
    """`typing:start` / `typing:stop`; `reason` (`timeout`, `left`) on a stop the
    server made."""
    data: dict[str, Any] = {**target.ids(), **person(user_id, user_name), "timestamp": now_iso()}
    if reason is not None:
        data["reason"] = reason
    return data


# --- conversations -------------------------------------------------------------------------


def member(target: Target, user_id: str, user_name: str) -> dict[str, Any]:
    """`member:joined` / `member:left`."""
    return {
        "conversationId": target.conversation_id,
        "customerId": target.customer_id,
        **person(user_id, user_name),
        "timestamp": now_iso(),
    }


def member_event(target: Target, user_id: str, user_name: str) -> dict[str, Any]:
    """The data of the `conversation.member_*` domain events."""
    return {**target.ids(), **person(user_id, user_name)}


def room_joined(target: Target) -> dict[str, Any]:
    """`room:joined` to the joiner (the keys of the ack, and a timestamp)."""
    return {**conversation_ref(target), "timestamp": now_iso()}


def conversation_ref(target: Target) -> dict[str, Any]:
    return {
        "room": target.scope,
        "conversationId": target.conversation_id,
        "customerId": target.customer_id,
    }


def rejoined(target: Target, missed: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    """`conversation:rejoined`: what the client missed, oldest first."""
    return {
        "conversationId": target.conversation_id,
        "customerId": target.customer_id,
        "missed_messages": missed,
        "hasMore": has_more,
        "room": target.scope,
        "timestamp": now_iso(),
    }


def _deleted_at(row: Message) -> datetime:
    if row.deleted_at is None:
        raise ValueError(f"message {row.message_id} is not deleted")
    return row.deleted_at


def channel_unread(
    channel_id: str, unread: int, mentions: int, last_read: str | None
) -> dict[str, Any]:
    """`channel:unread`, and the counts of a `channel:list` item."""
    return {
        "channelId": channel_id,
        "unreadCount": unread,
        "mentionCount": mentions,
        "lastReadMessageId": last_read,
    }

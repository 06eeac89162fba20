"""Socket.IO handlers of the messages plugin: each takes the validated payload, calls the
service, and returns its ack's keys (the gateway adds `ok: true`). What the room hears is
queued by the service on the event's after-ack work."""

from __future__ import annotations

from typing import Any

from core.api import Caller, EventContext, EventRegistrar, iso
from plugins.messages import outbound, payloads, schemas
from plugins.messages.state import MessagesState
from plugins.messages.target import Target


def _joined(ctx: EventContext, ref: schemas.TargetRef) -> tuple[MessagesState, Caller, Target]:
    """The event's room, which the socket must have joined (else NOT_IN_ROOM). Joining
    checked the user's right to the room, so being in it is the right to use it."""
    target = Target.of(ctx.identity.organization_id, ref)
    ctx.require_member(target.room)
    return ctx.state_as(MessagesState), ctx.caller, target


# --- channels ------------------------------------------------------------------------------


async def join_channel(ctx: EventContext, payload: schemas.ChannelRef) -> dict[str, Any]:
    return await ctx.state_as(MessagesState).channels.join(ctx.caller, payload.channelId)


async def leave_channel(ctx: EventContext, payload: schemas.LeaveChannel) -> dict[str, Any]:
    """Leave the channel's room; `forget: true` also takes it off the user's list
    (the ack's `forgotten` says whether it was on it)."""
    return await ctx.state_as(MessagesState).channels.leave(
        ctx.caller, payload.channelId, forget=payload.forget
    )


async def list_channels(ctx: EventContext, payload: schemas.ChannelListPage) -> dict[str, Any]:
    """The user's channels, newest activity first, with unread and mention counts:
    `{channels: [{channelId, name, private, unreadCount, mentionCount, lastMessage,
    lastReadMessageId}], nextCursor}`."""
    return await ctx.state_as(MessagesState).lists.page(ctx.identity, payload.limit, payload.cursor)


async def channel_history(ctx: EventContext, payload: schemas.ChannelHistory) -> dict[str, Any]:
    """A page back (`before`) or forward (`after`): `{messages, hasMore, total}`."""
    target = Target.channel(ctx.identity.organization_id, payload.channelId)
    ctx.require_member(target.room)
    page = await ctx.state_as(MessagesState).messages.history(
        target, before=payload.before, after=payload.after, limit=payload.limit
    )
    return {"channelId": payload.channelId, **page}


async def update_channel(ctx: EventContext, payload: schemas.UpdateChannel) -> dict[str, Any]:
    return await ctx.state_as(MessagesState).channels.update(
        ctx.caller, payload.channelId, payload.updates
    )


# --- messages ------------------------------------------------------------------------------


async def send_message(ctx: EventContext, payload: schemas.SendMessage) -> dict[str, Any]:
    m, caller, target = _joined(ctx, payload)
    row, duplicate = await m.messages.post(caller, target, payload)
    return {**payloads.sent(row), "duplicate": duplicate}


async def update_message(ctx: EventContext, payload: schemas.UpdateMessage) -> dict[str, Any]:
    m, caller, target = _joined(ctx, payload)
    row = await m.messages.update(
        caller, target, payload.messageId, payload.content, payload.metadata, payload.mentions
    )
    return {"messageId": row.message_id, "updatedAt": iso(row.updated_at)}


async def delete_message(ctx: EventContext, payload: schemas.MessageRef) -> dict[str, Any]:
    m, caller, target = _joined(ctx, payload)
    row = await m.messages.delete(caller, target, payload.messageId)
    return {"messageId": row.message_id, "deleted": True}


async def react(ctx: EventContext, payload: schemas.React) -> dict[str, Any]:
    m, caller, target = _joined(ctx, payload)
    changed = await m.messages.react(
        caller, target, payload.messageId, payload.emoji, payload.action
    )
    return {
        "messageId": payload.messageId,
        "emoji": payload.emoji,
        "action": payload.action,
        "changed": changed,
    }


async def read(ctx: EventContext, payload: schemas.MessageRef) -> dict[str, Any]:
    m, caller, target = _joined(ctx, payload)
    newest = await m.messages.mark_read(caller, target, payload.messageId)
    return {"messageId": payload.messageId, "lastReadMessageId": newest}


# --- typing --------------------------------------------------------------------------------


async def start_typing(ctx: EventContext, payload: schemas.Typing) -> dict[str, Any]:
    m, caller, target = _joined(ctx, payload)
    await m.typing.start(caller, target)
    return {"typing": True}


async def stop_typing(ctx: EventContext, payload: schemas.Typing) -> dict[str, Any]:
    m, caller, target = _joined(ctx, payload)
    await m.typing.stop(caller, target)
    return {"typing": False}


# --- conversations -------------------------------------------------------------------------


async def join_conversation(ctx: EventContext, payload: schemas.ConversationRef) -> dict[str, Any]:
    return await ctx.state_as(MessagesState).conversations.join(
        ctx.caller, payload.customerId, payload.conversationId
    )


async def leave_conversation(ctx: EventContext, payload: schemas.ConversationRef) -> dict[str, Any]:
    return await ctx.state_as(MessagesState).conversations.leave(
        ctx.caller, payload.customerId, payload.conversationId
    )


async def rejoin_conversation(ctx: EventContext, payload: schemas.Rejoin) -> dict[str, Any]:
    return await ctx.state_as(MessagesState).conversations.rejoin(ctx.caller, payload)


def register(events: EventRegistrar) -> None:
    events.add("channel:join", schemas.ChannelRef, join_channel)
    events.add("channel:leave", schemas.LeaveChannel, leave_channel)
    events.add("channel:list", schemas.ChannelListPage, list_channels)
    events.add("channel:history", schemas.ChannelHistory, channel_history)
    events.add("channel:update", schemas.UpdateChannel, update_channel)
    events.add("message:send", schemas.SendMessage, send_message)
    events.add("message:update", schemas.UpdateMessage, update_message)
    events.add("message:delete", schemas.MessageRef, delete_message)
    events.add("message:react", schemas.React, react)
    events.add("message:read", schemas.MessageRef, read)
    events.add("typing:start", schemas.Typing, start_typing)
    events.add("typing:stop", schemas.Typing, stop_typing)
    events.add("conversation:join", schemas.ConversationRef, join_conversation)
    events.add("conversation:leave", schemas.ConversationRef, leave_conversation)
    events.add("conversation:rejoin", schemas.Rejoin, rejoin_conversation)
    outbound.register(events)

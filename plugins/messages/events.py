"""Socket.IO handlers of the messages plugin: channels, conversations, messages, typing.

Each handler gets the validated payload and returns its ack's keys (the gateway adds
`ok: true`); failures are `LvngError`s with the contract's codes.
"""

from __future__ import annotations

from typing import Any

from core.clock import iso, now_iso
from core.platform import EventContext, Platform, Session
from core.registry import EventRegistrar
from plugins.messages import schemas
from plugins.messages.live import RoomTurn
from plugins.messages.service import (
    Messaging,
    Target,
    channel_payload,
    messaging,
    sent_payload,
)


def _joined(ctx: EventContext, ref: schemas.TargetRef) -> tuple[Messaging, Target]:
    """The event's room, which the socket must have joined (else NOT_IN_ROOM). Joining
    checked the user's right to the room, so being in it is the right to use it."""
    target = Target.of(ctx.identity.organization_id, ref)
    ctx.require_member(target.room)
    return messaging(ctx.platform), target


def _person(ctx: EventContext) -> dict[str, str]:
    return {"userId": ctx.identity.user_id, "userName": ctx.identity.user_name}


# --- channels ----------------------------------------------------------------------------


async def join_channel(ctx: EventContext, payload: schemas.ChannelRef) -> dict[str, Any]:
    """Ack `{channelId, channel}`; then `channel:join` to the room (the joiner included)
    and the last 50 messages as `channel:history` to the joiner."""
    m = messaging(ctx.platform)
    channel = await m.open_channel(ctx.identity, payload.channelId)
    target = Target.channel(ctx.identity.organization_id, payload.channelId)
    async with m.turn(target) as turn:
        joined = await ctx.join(target.room)
        page = await m.history(target)
        announcement = {"channelId": payload.channelId, **_person(ctx),
                        "user": {"id": ctx.identity.user_id, "name": ctx.identity.user_name},
                        "timestamp": now_iso()}
        # A repeated join tells only the joiner again; the room heard it the first time.
        if joined:
            turn.then("channel:join", announcement, room=target.room)
        else:
            turn.then("channel:join", announcement, to=ctx.sid)
        turn.then("channel:history", {"channelId": payload.channelId, **page}, to=ctx.sid)
        last_read = await m.last_read(ctx.identity, target)
    return {"channelId": payload.channelId, "channel": channel_payload(channel),
            "lastReadMessageId": last_read}


async def leave_channel(ctx: EventContext, payload: schemas.ChannelRef) -> dict[str, Any]:
    m = messaging(ctx.platform)
    target = Target.channel(ctx.identity.organization_id, payload.channelId)
    room = target.room
    if room not in ctx.session.rooms:
        return {"channelId": payload.channelId, "left": False}
    await m.typing.socket_gone(ctx.sid, {room})
    async with m.lock(target):
        await ctx.broadcast("channel:leave", {"channelId": payload.channelId, **_person(ctx),
                                              "timestamp": now_iso()}, room)
        await ctx.leave(room)
    return {"channelId": payload.channelId, "left": True}


async def channel_history(ctx: EventContext, payload: schemas.ChannelHistory) -> dict[str, Any]:
    """Older pages: `{messages, hasMore, total}` in the ack."""
    m = messaging(ctx.platform)
    target = Target.channel(ctx.identity.organization_id, payload.channelId)
    ctx.require_member(target.room)
    page = await m.history(target, before=payload.before, limit=payload.limit)
    return {"channelId": payload.channelId, **page}


async def update_channel(ctx: EventContext, payload: schemas.UpdateChannel) -> dict[str, Any]:
    m = messaging(ctx.platform)
    channel = await m.find_channel(ctx.identity.organization_id, payload.channelId)
    await m.check_channel_access(ctx.identity, channel)
    target = Target.channel(ctx.identity.organization_id, payload.channelId)
    async with m.lock(target):
        updates = await m.update_channel(ctx.identity, channel, payload.updates)
        described = channel_payload(channel)
        await ctx.broadcast("channel:update", {
            "channelId": payload.channelId, "updates": updates, "channel": described,
            "updatedBy": ctx.identity.user_id, "updatedByName": ctx.identity.user_name,
            "timestamp": described["updatedAt"]}, target.room)
    return {"channelId": payload.channelId, "channel": described, "updates": updates}


# --- messages ----------------------------------------------------------------------------


async def send_message(ctx: EventContext, payload: schemas.SendMessage) -> dict[str, Any]:
    m, target = _joined(ctx, payload)
    message, duplicate = await m.post_message(ctx.identity, target, payload,
                                              sender_sid=ctx.sid)
    return {**sent_payload(message), "duplicate": duplicate}


async def update_message(ctx: EventContext, payload: schemas.UpdateMessage) -> dict[str, Any]:
    m, target = _joined(ctx, payload)
    message = await m.update_message(ctx.identity, target, payload.messageId, payload.content,
                                     payload.metadata)
    return {"messageId": message.message_id, "updatedAt": iso(message.updated_at)}


async def delete_message(ctx: EventContext, payload: schemas.MessageRef) -> dict[str, Any]:
    m, target = _joined(ctx, payload)
    message = await m.delete_message(ctx.identity, target, payload.messageId)
    return {"messageId": message.message_id, "deleted": True}


async def react(ctx: EventContext, payload: schemas.React) -> dict[str, Any]:
    m, target = _joined(ctx, payload)
    changed = await m.react(ctx.identity, target, payload.messageId, payload.emoji,
                            payload.action)
    return {"messageId": payload.messageId, "emoji": payload.emoji, "action": payload.action,
            "changed": changed}


async def read(ctx: EventContext, payload: schemas.MessageRef) -> dict[str, Any]:
    m, target = _joined(ctx, payload)
    newest = await m.mark_read(ctx.identity, target, payload.messageId)
    return {"messageId": payload.messageId, "lastReadMessageId": newest}


# --- typing ------------------------------------------------------------------------------


async def start_typing(ctx: EventContext, payload: schemas.Typing) -> dict[str, Any]:
    m, target = _joined(ctx, payload)
    await m.typing.start(ctx.sid, target, ctx.identity)
    return {"typing": True}


async def stop_typing(ctx: EventContext, payload: schemas.Typing) -> dict[str, Any]:
    m, target = _joined(ctx, payload)
    await m.typing.stop(ctx.sid, target, ctx.identity)
    return {"typing": False}


# --- conversations -----------------------------------------------------------------------


def _member_event(ctx: EventContext, target: Target) -> dict[str, Any]:
    return {"conversationId": target.conversation_id, "customerId": target.customer_id,
            **_person(ctx), "timestamp": now_iso()}


async def _enter_conversation(ctx: EventContext, m: Messaging, target: Target,
                              turn: RoomTurn) -> None:
    """Join the socket; when this is the user's first socket in the conversation,
    `member:joined` goes to the others (after the ack) and a domain event out."""
    first = m.local_sessions_in(target.room, ctx.identity.user_id, besides=ctx.sid) == 0
    joined = await ctx.join(target.room)
    if joined and first:
        turn.then("member:joined", _member_event(ctx, target), room=target.room,
                  skip_sid=ctx.sid)
        turn.finally_(lambda: m.publish("conversation.member_joined", target.organization_id,
                                        {**target.ids(), **_person(ctx)}))


async def join_conversation(ctx: EventContext,
                            payload: schemas.ConversationRef) -> dict[str, Any]:
    """`room:joined` to the joiner, `member:joined` to the others."""
    m = messaging(ctx.platform)
    await m.open_conversation(ctx.identity, payload.customerId, payload.conversationId)
    target = Target.conversation(ctx.identity.organization_id, payload.customerId,
                                 payload.conversationId)
    joined = {"room": target.scope, "conversationId": payload.conversationId,
              "customerId": payload.customerId}
    async with m.turn(target) as turn:
        await _enter_conversation(ctx, m, target, turn)
        turn.then("room:joined", {**joined, "timestamp": now_iso()}, to=ctx.sid)
        last_read = await m.last_read(ctx.identity, target)
    return {**joined, "lastReadMessageId": last_read}


async def leave_conversation(ctx: EventContext,
                             payload: schemas.ConversationRef) -> dict[str, Any]:
    """`member:left` to the others when the user's last socket leaves."""
    m = messaging(ctx.platform)
    target = Target.conversation(ctx.identity.organization_id, payload.customerId,
                                 payload.conversationId)
    room = target.room
    if room not in ctx.session.rooms:
        return {"conversationId": payload.conversationId, "left": False}
    await m.typing.socket_gone(ctx.sid, {room})
    async with m.lock(target):
        await ctx.leave(room)
        last = m.local_sessions_in(room, ctx.identity.user_id) == 0
        if last:
            await ctx.broadcast("member:left", _member_event(ctx, target), room)
    if last:
        await m.publish("conversation.member_left", target.organization_id,
                        {**target.ids(), **_person(ctx)})
    return {"conversationId": payload.conversationId, "left": True}


async def rejoin_conversation(ctx: EventContext, payload: schemas.Rejoin) -> dict[str, Any]:
    """Join, and get every message after the client's last one in `conversation:rejoined`.

    The room's lock is held from joining to sending the result, and every send holds it
    from commit to broadcast: a message is either in `missed_messages` (committed
    before) or arrives as `message:new` (after), never both, never neither.
    """
    m = messaging(ctx.platform)
    await m.open_conversation(ctx.identity, payload.customerId, payload.conversationId)
    target = Target.conversation(ctx.identity.organization_id, payload.customerId,
                                 payload.conversationId)
    since = await m.recovery_point(target, after_id=payload.lastMessageId,
                                   after_time=payload.lastMessageTimestamp)
    async with m.turn(target) as turn:
        await _enter_conversation(ctx, m, target, turn)
        missed, has_more = await m.missed(target, since)
        turn.then("conversation:rejoined", {
            "conversationId": payload.conversationId, "customerId": payload.customerId,
            "missed_messages": missed, "hasMore": has_more, "room": target.scope,
            "timestamp": now_iso()}, to=ctx.sid)
    return {"conversationId": payload.conversationId, "customerId": payload.customerId,
            "room": target.scope, "missed": len(missed), "hasMore": has_more}


# --- registration ------------------------------------------------------------------------


def register(events: EventRegistrar) -> None:
    events.add("channel:join", schemas.ChannelRef, join_channel)
    events.add("channel:leave", schemas.ChannelRef, leave_channel)
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


async def client_gone(session: Session, platform: Platform) -> None:
    """A disconnect: stop the socket's typing; `member:left` in each conversation it was
    the user's last socket in (channels hear nothing, contract section 4)."""
    m = messaging(platform)
    await m.typing.socket_gone(session.sid)
    for room in list(session.rooms):
        target = Target.from_room(room)
        if target is None or target.kind != "conversation":
            continue
        if m.local_sessions_in(room, session.user_id, besides=session.sid):
            continue
        await platform.emit("member:left", {
            "conversationId": target.conversation_id, "customerId": target.customer_id,
            "userId": session.user_id, "userName": session.identity.user_name,
            "timestamp": now_iso()}, room=room, skip_sid=session.sid)
        await m.publish("conversation.member_left", target.organization_id, {
            **target.ids(), "userId": session.user_id,
            "userName": session.identity.user_name})


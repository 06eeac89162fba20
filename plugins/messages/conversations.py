"""Customer conversations: who may open them, and membership told per user.

A customer belongs to the first organization that used it, in any plugin (the core's owner
registry, `platform.customers`), and only a token whose `customers` claim holds it may
claim it; an admin's wildcard covers only customers its organization already owns
(contract section 4). Membership events are about users on
every node: `member:joined` when a user's first socket joins, `member:left` when its last
one goes (the cluster state answers both, under the room's turn).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tortoise.exceptions import IntegrityError

from core.api import Caller, ErrorCode, LvngError, Member, now_utc
from plugins.messages import payloads
from plugins.messages.models import Conversation
from plugins.messages.target import Target

if TYPE_CHECKING:
    from core.api import Identity, Platform, Session
    from plugins.messages.messages import Messages
    from plugins.messages.schemas import Rejoin
    from plugins.messages.typing_indicators import Typing


class Conversations:
    """The conversation rules of one platform."""

    def __init__(self, platform: Platform, messages: Messages, typing: Typing) -> None:
        self.platform = platform
        self.messages = messages
        self.typing = typing

    async def open(
        self, identity: Identity, customer_id: str, conversation_id: str, *, create: bool = True
    ) -> Conversation:
        """A conversation the user may open, made on first use when `create` (the customer
        claimed for the user's organization then, if no one owns it yet)."""
        org = identity.organization_id
        if not await self.platform.customers.check(identity, customer_id, claim=create):
            raise LvngError(ErrorCode.NOT_FOUND, f"no conversation {conversation_id}")
        conversation = await Conversation.get_or_none(
            customer_id=customer_id, conversation_id=conversation_id
        )
        if conversation is None:
            if not create:
                raise LvngError(ErrorCode.NOT_FOUND, f"no conversation {conversation_id}")
            try:
                conversation = await Conversation.create(
                    organization_id=org,
                    customer_id=customer_id,
                    conversation_id=conversation_id,
                    created_by=identity.user_id,
                    created_at=now_utc(),
                )
            except IntegrityError:
                conversation = await Conversation.get(
                    customer_id=customer_id, conversation_id=conversation_id
                )
        return conversation

    async def _enter(self, caller: Caller, target: Target) -> bool:
        """Join the socket (the room's turn held); the user's first socket in the room,
        on any node, is announced to the others with `member:joined`. True if it was the
        first: the caller publishes the domain event once the turn is released."""
        assert caller.session is not None
        joined = await self.platform.rooms.join(caller.session, target.room)
        if joined.first:
            caller.after.emit(
                "member:joined",
                payloads.member(target, caller.user_id, caller.user_name),
                room=target.room,
                skip_sid=caller.sid,
            )
        return joined.first

    def _publish(self, after: Any, name: str, target: Target, user_id: str, user_name: str) -> None:
        """Queue a `conversation.*` domain event; queued after a turn's block, it goes out
        once the turn is released, so no consumer ever holds the room."""
        event = payloads.member_event(target, user_id, user_name)
        after.then(lambda: self.platform.publish("messages", name, target.organization_id, event))

    async def join(self, caller: Caller, customer_id: str, conversation_id: str) -> dict[str, Any]:
        """`room:joined` to the joiner, `member:joined` to the others."""
        await self.open(caller.identity, customer_id, conversation_id)
        target = Target.conversation(caller.org, customer_id, conversation_id)
        async with self.platform.turn(target.room, caller.after):
            first = await self._enter(caller, target)
            caller.after.emit("room:joined", payloads.room_joined(target), to=caller.sid)
        if first:
            self._publish(
                caller.after, "conversation.member_joined", target, caller.user_id, caller.user_name
            )
        return {
            **payloads.conversation_ref(target),
            "lastReadMessageId": await self.messages.last_read(caller.identity, target),
        }

    async def leave(self, caller: Caller, customer_id: str, conversation_id: str) -> dict[str, Any]:
        """`member:left` to the others when the user's last socket leaves."""
        assert caller.session is not None
        target = Target.conversation(caller.org, customer_id, conversation_id)
        async with self.platform.turn(target.room, caller.after):
            if target.room not in caller.session.rooms:
                return {"conversationId": conversation_id, "left": False}
            await self.typing.socket_left(caller.session.sid, target, caller.after)
            left = await self.platform.rooms.leave(caller.session, target.room)
            if left.last:
                caller.after.emit(
                    "member:left",
                    payloads.member(target, caller.user_id, caller.user_name),
                    room=target.room,
                )
        if left.last:
            self._publish(
                caller.after, "conversation.member_left", target, caller.user_id, caller.user_name
            )
        return {"conversationId": conversation_id, "left": True}

    async def rejoin(self, caller: Caller, payload: Rejoin) -> dict[str, Any]:
        """Join, and get every message after the client's last one in
        `conversation:rejoined`.

        The room's turn is held from joining to sending the result, and every send holds
        it from commit to broadcast: a message is either in `missed_messages` (committed
        before) or arrives as `message:new` (after), never both, never neither.
        """
        await self.open(caller.identity, payload.customerId, payload.conversationId)
        target = Target.conversation(caller.org, payload.customerId, payload.conversationId)
        since = await self.messages.recovery_point(
            target, after_id=payload.lastMessageId, after_time=payload.lastMessageTimestamp
        )
        async with self.platform.turn(target.room, caller.after):
            first = await self._enter(caller, target)
            missed, has_more = await self.messages.missed(target, since)
            caller.after.emit(
                "conversation:rejoined", payloads.rejoined(target, missed, has_more), to=caller.sid
            )
        if first:
            self._publish(
                caller.after, "conversation.member_joined", target, caller.user_id, caller.user_name
            )
        return {
            "conversationId": payload.conversationId,
            "customerId": payload.customerId,
            "room": target.scope,
            "missed": len(missed),
            "hasMore": has_more,
        }

    async def came_back(self, session: Session, target: Target) -> None:
        """A recovered socket, the user's first in the room again: told as a join."""
        after = self.platform.after_ack()
        async with self.platform.turn(target.room, after):
            after.emit(
                "member:joined",
                payloads.member(target, session.user_id, session.identity.user_name),
                room=target.room,
                skip_sid=session.sid,
            )
        self._publish(
            after, "conversation.member_joined", target, session.user_id, session.identity.user_name
        )
        await after.run()

    async def left_room(self, target: Target, member: Member, last: bool, reason: str) -> None:
        """A socket left without asking (disconnect, refresh, an admin's removal, dead
        node); the room's turn is held by the core, so the domain event goes out after it,
        as a tracked task. A removed socket hears its own `member:left`."""
        if reason == "removed":
            await self.platform.emit(
                "member:left",
                payloads.member(target, member.user_id, member.user_name),
                to=member.sid,
            )
        if last:
            await self.platform.emit(
                "member:left",
                payloads.member(target, member.user_id, member.user_name),
                room=target.room,
            )
            event = payloads.member_event(target, member.user_id, member.user_name)
            self.platform.tasks.spawn(
                self.platform.publish(
                    "messages", "conversation.member_left", target.organization_id, event
                ),
                name="conversation.member_left",
            )

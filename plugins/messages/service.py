"""The rules of messaging (contract sections 4 and 5), shared by socket events and HTTP.

One `Messaging` per platform (per app): it holds the plugin's settings, metrics and live
state, and does every read and write of the plugin's tables. Every failure a client can
cause is an `LvngError` with the contract's code.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from core.clock import iso, new_id
from core.errors import ConfigError, ErrorCode, LvngError
from core.rooms import Room
from plugins.messages.live import ReadReceipts, RoomLocks, RoomTurn, Tasks, TypingIndicators
from plugins.messages.models import (
    Channel,
    ChannelMember,
    Conversation,
    Customer,
    Message,
    Reaction,
    ReadPosition,
)

if TYPE_CHECKING:
    from core.identity import Identity
    from core.platform import Platform
    from plugins.messages.schemas import ChannelChanges, MessageBody, TargetRef

PLUGIN = "messages"
REJOIN_LIMIT = 500


class MessagesSettings(BaseModel):
    """The `[plugins.messages]` table of the config."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    auto_create_channels: bool = True
    typing_timeout_seconds: float = Field(10.0, gt=0, le=600)
    read_coalesce_ms: float = Field(500.0, ge=0, le=60_000)
    idempotency_hours: float = Field(24.0, gt=0, le=24 * 30)


def now() -> datetime:
    """Now in UTC at millisecond precision, so what is stored equals what is sent."""
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


@dataclass(frozen=True, slots=True)
class Target:
    """Where messages live: a channel, or a customer's conversation, of one organization."""

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
    def conversation(cls, organization_id: str, customer_id: str,
                     conversation_id: str) -> Target:
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
            return Room.of(self.organization_id, "customer", self.customer_id or "",
                           "conversation", self.conversation_id)
        return Room.of(self.organization_id, "channel", self.channel_id or "")

    def ids(self) -> dict[str, str | None]:
        """The target's keys as every payload carries them (`channelId` null for a
        conversation, `conversationId` null for a channel)."""
        return {"channelId": self.channel_id, "conversationId": self.conversation_id,
                "customerId": self.customer_id}


class MessagesMetrics:
    """The plugin's metrics, all `lvng_messages_…`."""

    def __init__(self, factory: Any) -> None:
        self.sent = factory.counter("sent_total", "Messages stored and broadcast, by target",
                                    ("target",))
        self.persist_seconds = factory.histogram(
            "persist_seconds", "Time to commit one new message",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        self.history_reads = factory.counter(
            "history_reads_total", "History pages read (join, paging, rejoin, HTTP), by target",
            ("target",))
        self.duplicates = factory.counter(
            "duplicates_suppressed_total", "Sends repeating an optimisticId, not stored again")


# --- outgoing payloads ----------------------------------------------------------------


def channel_payload(channel: Channel) -> dict[str, Any]:
    return {
        "id": channel.channel_id,
        "organizationId": channel.organization_id,
        "name": channel.name,
        "topic": channel.topic,
        "description": channel.description,
        "private": channel.private,
        "createdBy": channel.created_by,
        "createdAt": iso(channel.created_at),
        "updatedAt": iso(channel.updated_at),
    }


def message_payload(message: Message,
                    reactions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A message as `message:new`, history and recovery carry it."""
    return {
        "id": message.message_id,
        "channelId": message.channel_id,
        "conversationId": message.conversation_id,
        "customerId": message.customer_id,
        "userId": message.user_id,
        "userName": message.user_name,
        "content": message.content,
        "contentType": message.content_type,
        "threadId": message.thread_id,
        "attachments": message.attachments,
        "createdAt": iso(message.created_at),
        "updatedAt": iso(message.updated_at),
        "metadata": message.metadata,
        "mentions": message.mentions,
        "optimisticId": message.optimistic_id,
        "workspaceId": message.workspace_id,
        "reactions": reactions or [],
    }


def sent_payload(message: Message) -> dict[str, Any]:
    """`message:sent`: the sender's confirmation."""
    return {
        "id": message.message_id,
        "optimisticId": message.optimistic_id,
        "channelId": message.channel_id,
        "conversationId": message.conversation_id,
        "customerId": message.customer_id,
        "timestamp": iso(message.created_at),
    }


async def _reactions_of(messages: list[Message]) -> dict[int, list[dict[str, Any]]]:
    """Reaction summaries `{emoji, count, userIds}` per message seq, first emoji first."""
    if not messages:
        return {}
    rows = await Reaction.filter(message_seq__in=[m.seq for m in messages]).order_by("id")
    summary: dict[int, dict[str, dict[str, Any]]] = {}
    for row in rows:
        per_message = summary.setdefault(row.message_seq, {})
        entry = per_message.setdefault(row.emoji, {"emoji": row.emoji, "count": 0,
                                                   "userIds": []})
        entry["count"] += 1
        entry["userIds"].append(row.user_id)
    return {seq: list(per.values()) for seq, per in summary.items()}


async def payloads(messages: list[Message]) -> list[dict[str, Any]]:
    reactions = await _reactions_of(messages)
    return [message_payload(m, reactions.get(m.seq)) for m in messages]


class Messaging:
    """The messages plugin for one platform."""

    def __init__(self, platform: Platform, settings: MessagesSettings) -> None:
        self.platform = platform
        self.settings = settings
        self.tasks = Tasks()
        self.locks = RoomLocks()
        self.typing = TypingIndicators(platform, self.tasks, settings.typing_timeout_seconds)
        self.reads = ReadReceipts(platform, self.tasks, settings.read_coalesce_ms / 1000)

    @property
    def metrics(self) -> MessagesMetrics:
        return self.platform.metrics_of(PLUGIN)

    def turn(self, target: Target) -> RoomTurn:
        """Hold the target room's lock; emits queued with `then` go out after the ack."""
        return RoomTurn(self.platform, self.locks.of(target.room.key), self.tasks)

    def lock(self, target: Target) -> asyncio.Lock:
        """The target room's lock (see `RoomLocks`)."""
        return self.locks.of(target.room.key)

    async def publish(self, name: str, organization_id: str, data: dict[str, Any]) -> None:
        await self.platform.publish(PLUGIN, name, organization_id, data)

    def local_sessions_in(self, room: Room, user_id: str, *, besides: str | None = None) -> int:
        """How many of the user's sockets on this node are in `room` (less `besides`)."""
        count = 0
        for sid in self.platform.rooms.local_members(room):
            session = self.platform.sessions.get(sid)
            if sid != besides and session is not None and session.user_id == user_id \
                    and room in session.rooms:
                count += 1
        return count

    # --- channels ------------------------------------------------------------------------

    async def find_channel(self, organization_id: str, channel_id: str) -> Channel:
        channel = await Channel.get_or_none(organization_id=organization_id,
                                            channel_id=channel_id)
        if channel is None:
            raise LvngError(ErrorCode.NOT_FOUND, f"no channel {channel_id}")
        return channel

    async def open_channel(self, identity: Identity, channel_id: str) -> Channel:
        """The channel for a join: created in the joiner's organization when unknown (if
        `auto_create_channels`), and only for those allowed in."""
        org = identity.organization_id
        channel = await Channel.get_or_none(organization_id=org, channel_id=channel_id)
        if channel is None:
            if not self.settings.auto_create_channels:
                raise LvngError(ErrorCode.NOT_FOUND, f"no channel {channel_id}")
            moment = now()
            try:
                async with in_transaction():
                    channel = await Channel.create(
                        organization_id=org, channel_id=channel_id, name=channel_id,
                        created_by=identity.user_id, created_at=moment, updated_at=moment)
                    await ChannelMember.create(
                        organization_id=org, channel_id=channel_id, user_id=identity.user_id,
                        added_by=identity.user_id, created_at=moment)
            except IntegrityError:  # someone else created it first
                channel = await self.find_channel(org, channel_id)
        await self.check_channel_access(identity, channel)
        return channel

    async def is_channel_member(self, channel: Channel, user_id: str) -> bool:
        if channel.created_by == user_id:
            return True
        return await ChannelMember.exists(organization_id=channel.organization_id,
                                          channel_id=channel.channel_id, user_id=user_id)

    async def check_channel_access(self, identity: Identity, channel: Channel, *,
                                   service: bool = False) -> None:
        """Anyone of the organization may use a public channel; a private one only its
        members and org admins (and, when `service`, service tokens)."""
        if channel.organization_id != identity.organization_id:
            raise LvngError(ErrorCode.FORBIDDEN, "that channel belongs to another organization")
        if not channel.private or identity.is_admin or (service and identity.is_service):
            return
        if not await self.is_channel_member(channel, identity.user_id):
            raise LvngError(ErrorCode.FORBIDDEN,
                            f"channel {channel.channel_id} is private; ask its creator or an "
                            "admin to add you")

    @staticmethod
    def check_channel_manager(identity: Identity, channel: Channel) -> None:
        if not (identity.is_admin or channel.created_by == identity.user_id):
            raise LvngError(ErrorCode.FORBIDDEN,
                            "only the channel's creator or an org admin may do that")

    async def update_channel(self, identity: Identity, channel: Channel,
                             changes: ChannelChanges) -> dict[str, Any]:
        """Apply `channel:update`; returns the changes made. Turning a channel private
        keeps the users who are in it now, as members."""
        self.check_channel_manager(identity, channel)
        updates = changes.changes()
        becomes_private = updates.get("private") is True and not channel.private
        for key, value in updates.items():
            setattr(channel, key, value)
        channel.updated_at = now()
        await channel.save()
        if becomes_private:
            room = Target.channel(channel.organization_id, channel.channel_id).room
            users = {identity.user_id}
            for sid in self.platform.rooms.local_members(room):
                session = self.platform.sessions.get(sid)
                if session is not None:
                    users.add(session.user_id)
            for user_id in sorted(users):
                await self.add_member(channel, user_id, added_by=identity.user_id)
        return updates

    async def add_member(self, channel: Channel, user_id: str, *, added_by: str) -> bool:
        if await ChannelMember.exists(organization_id=channel.organization_id,
                                      channel_id=channel.channel_id, user_id=user_id):
            return False
        try:
            await ChannelMember.create(organization_id=channel.organization_id,
                                       channel_id=channel.channel_id, user_id=user_id,
                                       added_by=added_by, created_at=now())
        except IntegrityError:
            return False
        return True

    async def remove_member(self, channel: Channel, user_id: str) -> bool:
        removed = await ChannelMember.filter(organization_id=channel.organization_id,
                                             channel_id=channel.channel_id,
                                             user_id=user_id).delete()
        if removed and channel.private:
            await self._evict(channel, user_id)
        return bool(removed)

    async def _evict(self, channel: Channel, user_id: str) -> None:
        """A user taken out of a private channel leaves its room on every socket here,
        unless still allowed in (an admin, or its creator)."""
        target = Target.channel(channel.organization_id, channel.channel_id)
        room = target.room
        async with self.lock(target):
            for sid in self.platform.rooms.local_members(room):
                session = self.platform.sessions.get(sid)
                if session is None or session.user_id != user_id:
                    continue
                if session.identity.is_admin or channel.created_by == user_id:
                    continue
                await self.typing.socket_gone(sid, {room})
                await self.platform.emit("channel:leave", {
                    "channelId": channel.channel_id, "userId": user_id,
                    "userName": session.identity.user_name, "timestamp": iso(now()),
                    "reason": "removed"}, room=room)
                await self.platform.rooms.leave(session, room)

    async def members(self, channel: Channel) -> list[dict[str, Any]]:
        rows = await ChannelMember.filter(organization_id=channel.organization_id,
                                          channel_id=channel.channel_id).order_by("id")
        return [{"userId": r.user_id, "addedBy": r.added_by, "addedAt": iso(r.created_at)}
                for r in rows]

    # --- conversations -------------------------------------------------------------------

    async def open_conversation(self, identity: Identity, customer_id: str,
                                conversation_id: str, *, create: bool = True) -> Conversation:
        """A conversation the user may open: its customer is in the token's `customers`
        (or the user is an org admin) and belongs to the user's organization, claimed by
        the first organization that uses it."""
        if not identity.may_access_customer(customer_id):
            raise LvngError(ErrorCode.FORBIDDEN, f"your token does not grant customer "
                                                 f"{customer_id}")
        org = identity.organization_id
        customer = await Customer.get_or_none(customer_id=customer_id)
        if customer is None:
            if not create:
                raise LvngError(ErrorCode.NOT_FOUND, f"no conversation {conversation_id}")
            try:
                customer = await Customer.create(customer_id=customer_id, organization_id=org,
                                                 created_at=now())
            except IntegrityError:
                customer = await Customer.get(customer_id=customer_id)
        if customer.organization_id != org:
            raise LvngError(ErrorCode.FORBIDDEN,
                            f"customer {customer_id} belongs to another organization")
        conversation = await Conversation.get_or_none(customer_id=customer_id,
                                                      conversation_id=conversation_id)
        if conversation is None:
            if not create:
                raise LvngError(ErrorCode.NOT_FOUND, f"no conversation {conversation_id}")
            try:
                conversation = await Conversation.create(
                    organization_id=org, customer_id=customer_id,
                    conversation_id=conversation_id, created_by=identity.user_id,
                    created_at=now())
            except IntegrityError:
                conversation = await Conversation.get(customer_id=customer_id,
                                                      conversation_id=conversation_id)
        return conversation

    # --- messages ------------------------------------------------------------------------

    def _in(self, target: Target) -> dict[str, Any]:
        return {"organization_id": target.organization_id, "room": target.room.scope}

    async def find_message(self, target: Target, message_id: str, *,
                           deleted_too: bool = False) -> Message:
        """A message of this room, or NOT_FOUND (also when it is in another room)."""
        query = Message.filter(**self._in(target), message_id=message_id)
        if not deleted_too:
            query = query.filter(deleted_at__isnull=True)
        message = await query.first()
        if message is None:
            raise LvngError(ErrorCode.NOT_FOUND, f"no message {message_id} in {target.scope}")
        return message

    async def _earlier_send(self, identity: Identity, optimistic_id: str) -> Message | None:
        since = now() - timedelta(hours=self.settings.idempotency_hours)
        return await Message.filter(
            organization_id=identity.organization_id, user_id=identity.user_id,
            optimistic_id=optimistic_id, created_at__gte=since,
        ).order_by("seq").first()

    async def post_message(self, identity: Identity, target: Target, body: MessageBody, *,
                           sender_sid: str | None = None) -> tuple[Message, bool]:
        """Store a message, then tell the sender (`message:sent`) and the room
        (`message:new`). Returns the message and whether it repeated an optimisticId
        (then nothing is stored and the room hears nothing)."""
        if body.optimisticId is None:
            return await self._post(identity, target, body, sender_sid), False
        # One user's sends with optimisticIds pass one at a time, so a repeat racing
        # the first still finds it.
        async with self.locks.of(f"user/{identity.organization_id}/{identity.user_id}"):
            earlier = await self._earlier_send(identity, body.optimisticId)
            if earlier is not None:
                self.metrics.duplicates.inc()
                if sender_sid is not None:
                    await self.platform.emit("message:sent", sent_payload(earlier),
                                             to=sender_sid)
                return earlier, True
            return await self._post(identity, target, body, sender_sid), False

    async def _post(self, identity: Identity, target: Target, body: MessageBody,
                    sender_sid: str | None) -> Message:
        thread_id = None
        if body.threadId is not None:
            parent = await self.find_message(target, body.threadId)
            thread_id = parent.thread_id or parent.message_id  # replies join the root's thread
        moment = now()
        async with self.lock(target):
            started = time.perf_counter()
            async with in_transaction() as connection:
                if connection.capabilities.dialect == "postgres":
                    # Several workers: seq order must be commit order within a room.
                    await connection.execute_query(
                        "SELECT pg_advisory_xact_lock(hashtext($1))", [target.room.key])
                message = await Message.create(
                    using_db=connection,
                    message_id=new_id("msg"),
                    **self._in(target),
                    channel_id=target.channel_id,
                    customer_id=target.customer_id,
                    conversation_id=target.conversation_id,
                    user_id=identity.user_id,
                    user_name=identity.user_name,
                    content=body.content,
                    content_type=body.contentType,
                    thread_id=thread_id,
                    mentions=body.mentions,
                    attachments=body.attachments,
                    metadata=body.metadata,
                    optimistic_id=body.optimisticId,
                    workspace_id=body.workspaceId,
                    created_at=moment,
                    updated_at=moment,
                )
            self.metrics.persist_seconds.observe(time.perf_counter() - started)
            if sender_sid is not None:
                await self.platform.emit("message:sent", sent_payload(message), to=sender_sid)
            await self.platform.emit("message:new", message_payload(message), room=target.room)
        self.metrics.sent.labels(target=target.kind).inc()
        await self.publish("message.created", target.organization_id, {
            **target.ids(), "messageId": message.message_id, "userId": message.user_id,
            "userName": message.user_name, "message": message_payload(message)})
        return message

    async def update_message(self, identity: Identity, target: Target, message_id: str,
                             content: str, metadata: dict[str, Any] | None) -> Message:
        async with self.lock(target):
            message = await self.find_message(target, message_id)
            self._check_author(identity, message, "edit")
            message.content = content
            if metadata is not None:
                message.metadata = metadata
            message.updated_at = now()
            await message.save(update_fields=["content", "metadata", "updated_at"])
            await self.platform.emit("message:update", {
                "messageId": message.message_id, "content": message.content,
                "metadata": message.metadata, **target.ids(), "updatedBy": identity.user_id,
                "updatedByName": identity.user_name, "timestamp": iso(message.updated_at),
            }, room=target.room)
        await self.publish("message.updated", target.organization_id, {
            **target.ids(), "messageId": message.message_id, "userId": identity.user_id,
            "userName": identity.user_name, "message": message_payload(message)})
        return message

    async def delete_message(self, identity: Identity, target: Target,
                             message_id: str) -> Message:
        async with self.lock(target):
            message = await self.find_message(target, message_id)
            self._check_author(identity, message, "delete")
            message.deleted_at = now()
            message.deleted_by = identity.user_id
            await message.save(update_fields=["deleted_at", "deleted_by"])
            await self.platform.emit("message:delete", {
                "messageId": message.message_id, **target.ids(),
                "deletedBy": identity.user_id, "deletedByName": identity.user_name,
                "timestamp": iso(message.deleted_at),
            }, room=target.room)
        await self.publish("message.deleted", target.organization_id, {
            **target.ids(), "messageId": message.message_id, "userId": identity.user_id,
            "userName": identity.user_name})
        return message

    @staticmethod
    def _check_author(identity: Identity, message: Message, what: str) -> None:
        if message.user_id != identity.user_id and not identity.is_admin:
            raise LvngError(ErrorCode.FORBIDDEN,
                            f"only the author or an org admin may {what} this message")

    async def react(self, identity: Identity, target: Target, message_id: str, emoji: str,
                    action: str) -> bool:
        """Add or remove one reaction; False when that changed nothing (no broadcast)."""
        async with self.lock(target):
            message = await self.find_message(target, message_id)
            mine = Reaction.filter(message_seq=message.seq, user_id=identity.user_id,
                                   emoji=emoji)
            if action == "add":
                if await mine.exists():
                    return False
                try:
                    await Reaction.create(message_seq=message.seq, user_id=identity.user_id,
                                          user_name=identity.user_name, emoji=emoji,
                                          created_at=now())
                except IntegrityError:
                    return False
            elif not await mine.delete():
                return False
            await self.platform.emit("message:reaction", {
                "messageId": message.message_id, **target.ids(), "emoji": emoji,
                "userId": identity.user_id, "userName": identity.user_name, "action": action,
                "timestamp": iso(now()),
            }, room=target.room)
        return True

    async def mark_read(self, identity: Identity, target: Target, message_id: str) -> str:
        """Store the read position (it only moves forward) and queue the read receipt.
        Returns the id of the newest message the user has now read."""
        message = await self.find_message(target, message_id)
        where = {**self._in(target), "user_id": identity.user_id}
        moved = await ReadPosition.filter(**where, message_seq__lt=message.seq).update(
            message_seq=message.seq, message_id=message.message_id, updated_at=now())
        if not moved and not await ReadPosition.exists(**where):
            try:
                await ReadPosition.create(**where, message_seq=message.seq,
                                          message_id=message.message_id, updated_at=now())
            except IntegrityError:  # another device of the user stored one just now
                await ReadPosition.filter(**where, message_seq__lt=message.seq).update(
                    message_seq=message.seq, message_id=message.message_id,
                    updated_at=now())
        self.reads.add(target, identity, message.message_id)
        position = await ReadPosition.get(**where)
        return position.message_id

    async def last_read(self, identity: Identity, target: Target) -> str | None:
        position = await ReadPosition.get_or_none(**self._in(target),
                                                  user_id=identity.user_id)
        return position.message_id if position else None

    # --- reading history -----------------------------------------------------------------

    async def history(self, target: Target, *, before: str | None = None,
                      limit: int = 50) -> dict[str, Any]:
        """`limit` messages before `before` (the newest when None), oldest first, with
        `hasMore` (older ones exist) and `total` (messages in the room)."""
        live = Message.filter(**self._in(target), deleted_at__isnull=True)
        query = live
        if before is not None:
            cursor = await self.find_message(target, before, deleted_too=True)
            query = query.filter(seq__lt=cursor.seq)
        rows = await query.order_by("-seq").limit(limit + 1)
        has_more = len(rows) > limit
        page = list(reversed(rows[:limit]))
        total = await live.count()
        self.metrics.history_reads.labels(target=target.kind).inc()
        return {"messages": await payloads(page), "hasMore": has_more, "total": total}

    async def recovery_point(self, target: Target, *, after_id: str | None,
                             after_time: datetime | None) -> dict[str, Any]:
        """Where a recovery starts: after `after_id` (a message of this room, deleted or
        not), else after `after_time`, else at the beginning. NOT_FOUND for an id that is
        not of this room when no timestamp is given either."""
        if after_id is not None:
            last = await Message.filter(**self._in(target), message_id=after_id).first()
            if last is not None:
                return {"seq__gt": last.seq}
            if after_time is None:
                raise LvngError(ErrorCode.NOT_FOUND,
                                f"no message {after_id} in {target.scope}")
        if after_time is not None:
            return {"created_at__gt": after_time}
        return {}

    async def missed(self, target: Target,
                     since: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
        """Messages after the recovery point, oldest first, at most REJOIN_LIMIT, and
        whether more are missed."""
        rows = await Message.filter(**self._in(target), deleted_at__isnull=True,
                                    **since).order_by("seq").limit(REJOIN_LIMIT + 1)
        self.metrics.history_reads.labels(target=target.kind).inc()
        return await payloads(rows[:REJOIN_LIMIT]), len(rows) > REJOIN_LIMIT

    async def shutdown(self) -> None:
        await self.tasks.cancel_all()


_by_platform: weakref.WeakKeyDictionary[Platform, Messaging] = weakref.WeakKeyDictionary()


def load_settings(raw: dict[str, Any]) -> MessagesSettings:
    try:
        return MessagesSettings.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "?"
        raise ConfigError(f"invalid setting plugins.messages.{where}: {err['msg']}") from None


def messaging(platform: Platform) -> Messaging:
    """The platform's `Messaging`, made on first use."""
    found = _by_platform.get(platform)
    if found is None:
        found = Messaging(platform, load_settings(platform.plugin_settings(PLUGIN)))
        _by_platform[platform] = found
    return found


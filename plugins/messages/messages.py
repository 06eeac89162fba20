"""Messages: sending, editing, deleting, reacting, reading, and reading history.

Every change holds its room's turn from the database write to its last emit, so every
socket hears a room in commit order (`seq` order) on every node.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from tortoise.exceptions import IntegrityError

from core.api import Caller, ErrorCode, LvngError, json_size, new_id, now_utc, within_budget
from plugins.messages import channel_counts, payloads
from plugins.messages.models import Message, Reaction, ReadPosition
from plugins.messages.target import Target

if TYPE_CHECKING:
    from core.api import DomainEvent, Identity, Platform
    from plugins.messages.channel_list import ChannelList
    from plugins.messages.metrics import MessagesMetrics
    from plugins.messages.schemas import MessageBody
    from plugins.messages.settings import MessagesSettings

REJOIN_LIMIT = 500
HISTORY_PAGE = 50
MAX_MESSAGE_JSON = 64 * 1024  # content, attachments and metadata together (contract §3)


def check_size(content: str, attachments: Any, metadata: Any) -> None:
    size = json_size({"content": content, "attachments": attachments, "metadata": metadata})
    if size > MAX_MESSAGE_JSON:
        raise LvngError(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"a message's content, attachments and metadata are {size} bytes "
            f"of JSON; at most {MAX_MESSAGE_JSON} are allowed",
        )


async def _reactions_of(rows: list[Message]) -> dict[int, list[dict[str, Any]]]:
    """Reaction summaries `{emoji, count, userIds}` per message seq, first emoji first."""
    if not rows:
        return {}
    found = await Reaction.filter(message_seq__in=[m.seq for m in rows]).order_by("id")
    summary: dict[int, dict[str, dict[str, Any]]] = {}
    for row in found:
        per_message = summary.setdefault(row.message_seq, {})
        entry = per_message.setdefault(row.emoji, {"emoji": row.emoji, "count": 0, "userIds": []})
        entry["count"] += 1
        entry["userIds"].append(row.user_id)
    return {seq: list(per.values()) for seq, per in summary.items()}


async def described(rows: list[Message]) -> list[dict[str, Any]]:
    reactions = await _reactions_of(rows)
    return [payloads.message(m, reactions.get(m.seq)) for m in rows]


class Messages:
    """The message rules of one platform."""

    def __init__(
        self, platform: Platform, settings: MessagesSettings, metrics: MessagesMetrics
    ) -> None:
        self.platform = platform
        self.settings = settings
        self.metrics = metrics
        self.lists: ChannelList | None = None  # set by MessagesState

    async def find(self, target: Target, message_id: str, *, deleted_too: bool = False) -> Message:
        """A message of this room, or NOT_FOUND (also when it is in another room)."""
        query = Message.filter(**target.rows(), message_id=message_id)
        if not deleted_too:
            query = query.filter(deleted_at__isnull=True)
        found = await query.first()
        if found is None:
            raise LvngError(ErrorCode.NOT_FOUND, f"no message {message_id} in {target.scope}")
        return found

    # --- sending -----------------------------------------------------------------------

    async def post(self, caller: Caller, target: Target, body: MessageBody) -> tuple[Message, bool]:
        """Store a message, then tell the sender (`message:sent`, on a socket) and the room
        (`message:new`). Returns the message and whether it repeated an optimisticId (then
        nothing is stored and the room hears nothing)."""
        check_size(body.content, body.attachments, body.metadata)
        if body.optimisticId is None:
            return await self._post(caller, target, body), False
        # A user's sends of one optimisticId take turns, so a repeat racing the first
        # (from any device, on any node) still finds it: they are never in one batch.
        user_turn = f"messages/user/{caller.org}/{caller.user_id}/{body.optimisticId}"
        async with self.platform.turn(user_turn, caller.after):
            earlier = await self._earlier_send(caller.identity, body.optimisticId)
            if earlier is not None:
                self.metrics.duplicates.inc()
                if caller.sid is not None:
                    caller.after.emit("message:sent", payloads.sent(earlier), to=caller.sid)
                return earlier, True
            return await self._post(caller, target, body), False

    async def _earlier_send(self, identity: Identity, optimistic_id: str) -> Message | None:
        since = now_utc() - timedelta(hours=self.settings.idempotency_hours)
        return (
            await Message.filter(
                organization_id=identity.organization_id,
                user_id=identity.user_id,
                optimistic_id=optimistic_id,
                created_at__gte=since,
            )
            .order_by("seq")
            .first()
        )

    async def _post(self, caller: Caller, target: Target, body: MessageBody) -> Message:
        thread_id = None
        if body.threadId is not None:
            parent = await self.find(target, body.threadId)
            thread_id = parent.thread_id or parent.message_id  # replies join the root's thread
        moment = now_utc()
        row = Message(
            message_id=new_id("msg"),
            **target.rows(),
            channel_id=target.channel_id,
            customer_id=target.customer_id,
            conversation_id=target.conversation_id,
            user_id=caller.user_id,
            user_name=caller.user_name,
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
        counted = target.kind == "channel"
        # The event travels with the write: the rows other plugins derive from it (a feed
        # item, a webhook) are stored in its transaction; delivered at the turn's end.
        event = self._event(
            "message.created",
            target.organization_id,
            payloads.message_event(row, target, row.user_id, row.user_name),
        )
        async with self.platform.turn(target.room, caller.after) as turn:
            started = time.perf_counter()
            # With other rooms' sends, in one transaction; a channel's counts with it.
            await turn.insert(
                row, then=channel_counts.counted_send(row) if counted else None, events=event
            )
            # Committed: only now may anyone hear of it.
            self.metrics.persist_seconds.observe(time.perf_counter() - started)
            if caller.sid is not None:
                caller.after.emit("message:sent", payloads.sent(row), to=caller.sid)
            caller.after.emit("message:new", payloads.message(row), room=target.room)
            if counted and self.lists is not None:
                await self.lists.tell_absent(caller.after, target, channel_counts.mentioned(row))
        self.metrics.sent.labels(target=target.kind).inc()
        return row

    def _event(self, name: str, organization_id: str, data: dict[str, Any]) -> list[DomainEvent]:
        """The domain event a write carries (none when it does not fit its schema)."""
        event = self.platform.domain_event("messages", name, organization_id, data)
        return [] if event is None else [event]

    # --- editing -----------------------------------------------------------------------

    async def update(
        self,
        caller: Caller,
        target: Target,
        message_id: str,
        content: str,
        metadata: dict[str, Any] | None,
        mentions: list[str] | None = None,
    ) -> Message:
        async with self.platform.turn(target.room, caller.after) as turn:
            row = await self.find(target, message_id)
            self._check_author(caller.identity, row, "edit")
            check_size(content, row.attachments, row.metadata if metadata is None else metadata)
            before = channel_counts.mentioned(row)
            row.content = content
            if metadata is not None:
                row.metadata = metadata
            if mentions is not None:
                row.mentions = mentions
            row.updated_at = now_utc()
            added: list[str] = []
            event = self._event(
                "message.updated",
                target.organization_id,
                payloads.message_event(row, target, caller.user_id, caller.user_name),
            )
            async with turn.transaction(events=event) as connection:
                await row.save(
                    using_db=connection,
                    update_fields=["content", "metadata", "mentions", "updated_at"],
                )
                if target.kind == "channel" and mentions is not None:
                    after = channel_counts.mentioned(row)
                    added = await channel_counts.on_edited(connection, row, before, after)
            caller.after.emit(
                "message:update",
                payloads.message_updated(row, target, caller.user_id, caller.user_name),
                room=target.room,
            )
            if added and self.lists is not None:
                await self.lists.tell_absent(caller.after, target, added)
        return row

    async def delete(self, caller: Caller, target: Target, message_id: str) -> Message:
        async with self.platform.turn(target.room, caller.after) as turn:
            row = await self.find(target, message_id)
            self._check_author(caller.identity, row, "delete")
            row.deleted_at = now_utc()
            row.deleted_by = caller.user_id
            event = self._event(
                "message.deleted",
                target.organization_id,
                {
                    **target.ids(),
                    "messageId": row.message_id,
                    **payloads.person(caller.user_id, caller.user_name),
                },
            )
            async with turn.transaction(events=event) as connection:
                await row.save(using_db=connection, update_fields=["deleted_at", "deleted_by"])
                if target.kind == "channel":
                    await channel_counts.on_deleted(connection, row)
            caller.after.emit(
                "message:delete",
                payloads.message_deleted(row, target, caller.user_id, caller.user_name),
                room=target.room,
            )
        return row

    @staticmethod
    def _check_author(identity: Identity, row: Message, what: str) -> None:
        if row.user_id != identity.user_id and not identity.is_admin:
            raise LvngError(
                ErrorCode.FORBIDDEN, f"only the author or an org admin may {what} this message"
            )

    async def react(
        self, caller: Caller, target: Target, message_id: str, emoji: str, action: str
    ) -> bool:
        """Add or remove one reaction; False when that changed nothing (no broadcast)."""
        async with self.platform.turn(target.room, caller.after):
            row = await self.find(target, message_id)
            mine = Reaction.filter(message_seq=row.seq, user_id=caller.user_id, emoji=emoji)
            if action == "add":
                if await mine.exists():
                    return False
                try:
                    await Reaction.create(
                        message_seq=row.seq,
                        user_id=caller.user_id,
                        user_name=caller.user_name,
                        emoji=emoji,
                        created_at=now_utc(),
                    )
                except IntegrityError:
                    return False
            elif not await mine.delete():
                return False
            caller.after.emit(
                "message:reaction",
                payloads.reaction(
                    row.message_id, target, emoji, caller.user_id, caller.user_name, action
                ),
                room=target.room,
            )
        return True

    # --- reading -----------------------------------------------------------------------

    async def mark_read(self, caller: Caller, target: Target, message_id: str) -> str:
        """Store the read position (it only moves forward) and queue the read receipt,
        under the room's turn like a send, so a channel's counts and `channel:unread`
        (to the reader's other sockets) agree with the messages heard before it.
        Returns the id of the newest message the user has now read."""
        where: dict[str, Any] = {**target.rows(), "user_id": caller.user_id}
        async with self.platform.turn(target.room, caller.after) as turn:
            row = await self.find(target, message_id)
            async with turn.transaction() as connection:
                position = await ReadPosition.filter(**where).using_db(connection).first()
                if position is None:
                    position = await ReadPosition.create(
                        **where,
                        message_seq=row.seq,
                        message_id=row.message_id,
                        updated_at=now_utc(),
                        using_db=connection,
                    )
                elif position.message_seq < row.seq:
                    position.message_seq, position.message_id = row.seq, row.message_id
                    position.updated_at = now_utc()
                    await position.save(
                        using_db=connection,
                        update_fields=["message_seq", "message_id", "updated_at"],
                    )
                moved = target.kind == "channel" and await channel_counts.on_read(
                    connection, target, caller.user_id, row
                )
            if moved and self.lists is not None:
                await self.lists.tell(caller.after, target, caller.user_id, skip_sid=caller.sid)
        await self._coalesce_read(target, caller.user_id, caller.user_name, row.message_id)
        return position.message_id

    async def _coalesce_read(
        self, target: Target, user_id: str, user_name: str, message_id: str
    ) -> None:
        """Gather one user's reads in one room, from any device on any node, for
        `read_coalesce_ms`; whoever gathered the first one sends them all."""
        window = self.settings.read_coalesce_ms / 1000
        key = f"messages/reads/{target.room.key}/{user_id}"
        if await self.platform.cluster.push(key, message_id, ttl=2 * window + 5) == 1:
            self.platform.timers.schedule(
                key, window, lambda: self._send_reads(key, target, user_id, user_name)
            )

    async def _send_reads(self, key: str, target: Target, user_id: str, user_name: str) -> None:
        message_ids = list(dict.fromkeys(await self.platform.cluster.take(key)))
        if message_ids:
            event, data = payloads.reads(message_ids, target, user_id, user_name)
            await self.platform.emit(event, data, room=target.room)

    async def last_read(self, identity: Identity, target: Target) -> str | None:
        position = await ReadPosition.get_or_none(**target.rows(), user_id=identity.user_id)
        return position.message_id if position else None

    async def history(
        self,
        target: Target,
        *,
        before: str | None = None,
        after: str | None = None,
        limit: int = HISTORY_PAGE,
    ) -> dict[str, Any]:
        """A page of at most `limit` messages, oldest first: the newest ones before
        `before` (the newest of all when neither is given), or the oldest ones after
        `after`. `hasMore`: more exist beyond the page in its direction (also when the
        page was cut to stay under 1 MB); `total`: messages in the room."""
        live = Message.filter(**target.rows(), deleted_at__isnull=True)
        if after is not None:
            cursor = await self.find(target, after, deleted_too=True)
            rows = await live.filter(seq__gt=cursor.seq).order_by("seq").limit(limit + 1)
            page = await described(rows[:limit])
        else:
            query = live
            if before is not None:
                cursor = await self.find(target, before, deleted_too=True)
                query = query.filter(seq__lt=cursor.seq)
            rows = await query.order_by("-seq").limit(limit + 1)
            page = await described(list(reversed(rows[:limit])))
        kept = within_budget(page, keep_newest=after is None)
        self.metrics.history_reads.labels(target=target.kind).inc()
        return {
            "messages": kept,
            "hasMore": len(rows) > limit or len(kept) < len(page),
            "total": await live.count(),
        }

    async def recovery_point(
        self, target: Target, *, after_id: str | None, after_time: datetime | None
    ) -> dict[str, Any]:
        """Where a recovery starts: after `after_id` (a message of this room, deleted or
        not), else after `after_time`, else at the beginning. NOT_FOUND for an id that is
        not of this room when no timestamp is given either."""
        if after_id is not None:
            last = await Message.filter(**target.rows(), message_id=after_id).first()
            if last is not None:
                return {"seq__gt": last.seq}
            if after_time is None:
                raise LvngError(ErrorCode.NOT_FOUND, f"no message {after_id} in {target.scope}")
        if after_time is not None:
            return {"created_at__gt": after_time}
        return {}

    async def missed(
        self, target: Target, since: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], bool]:
        """Messages after the recovery point, oldest first, at most REJOIN_LIMIT (and
        under 1 MB), and whether more are missed."""
        rows = (
            await Message.filter(**target.rows(), deleted_at__isnull=True, **since)
            .order_by("seq")
            .limit(REJOIN_LIMIT + 1)
        )
        self.metrics.history_reads.labels(target=target.kind).inc()
        page = await described(rows[:REJOIN_LIMIT])
        kept = within_budget(page, keep_newest=False)
        return kept, len(rows) > REJOIN_LIMIT or len(kept) < len(page)

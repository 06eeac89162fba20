"""Kept counts of the channel list (issue 28): what each send, edit, delete and read does to
the tallies, entries and mentions of `models.py`, in the transaction of that change and
under the channel's room turn, so a badge is a sum of a few stored numbers, never a scan
of history:

    unreadCount  = tally.live - entry.read_live - entry.own_after
    mentionCount = entry.mentions

A new message is newer than every read position, so a send adds one to the channel's
`live`, one to its author's `own_after`, and one to `mentions` of each user it mentions
(not its author). A delete takes its message back out of whichever count held it (before
or after each read position). A read moves the position over the range it newly covers,
counting only that range.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F

from core.api import BatchedThen, now_utc
from plugins.messages import payloads
from plugins.messages.models import ChannelEntry, ChannelTally, Mention, Message, ReadPosition

if TYPE_CHECKING:
    from tortoise.backends.base.client import BaseDBAsyncClient

    from plugins.messages.target import Target


# Messages counted per statement: each is a chain of `OR`s, and SQLite refuses an
# expression deeper than 1,000 (SQLITE_MAX_EXPR_DEPTH), and more than 999 parameters
# before 3.32; a group-commit batch holds up to 1,000 sends (core/commits.py MAX_BATCH).
PER_STATEMENT = 200


def _sql(connection: BaseDBAsyncClient, text: str) -> str:
    """`text` with its `?` marks as the connection's dialect wants them."""
    if connection.capabilities.dialect != "postgres":
        return text
    parts = text.split("?")
    return "".join(f"{part}${i}" for i, part in enumerate(parts[:-1], 1)) + parts[-1]


def counted_send(row: Message) -> BatchedThen:
    """The `then` of a channel message's insert: its counts, batched."""
    return BatchedThen(on_sent, row)


def mentioned(row: Message, mentions: list[Any] | None = None) -> list[str]:
    """The users a channel message mentions, its author left out."""
    named = row.mentions if mentions is None else mentions
    return [u for u in dict.fromkeys(named) if isinstance(u, str) and u != row.user_id]


async def ensure_tally(organization_id: str, channel_id: str) -> None:
    try:
        await ChannelTally.get_or_create(organization_id=organization_id, channel_id=channel_id)
    except IntegrityError:  # made by another node just now
        pass


async def on_sent(connection: BaseDBAsyncClient, rows: list[Message]) -> None:
    """The counts of new channel messages, in their inserts' transaction: one statement
    per table for every `PER_STATEMENT` messages of a group-commit batch (`BatchedThen`; a
    batch holds at most one write per room, so each channel at most once: the newest seq
    of its room is the new message's, read back there as the group commit sets keys only
    after the batch)."""
    for start in range(0, len(rows), PER_STATEMENT):
        await _counted(connection, rows[start : start + PER_STATEMENT])
    for row in rows:
        users = mentioned(row)
        if users:
            await _mentions_sent(connection, row, users)


async def _counted(connection: BaseDBAsyncClient, rows: list[Message]) -> None:
    channels = " OR ".join("(organization_id = ? AND channel_id = ?)" for _ in rows)
    await connection.execute_query(
        _sql(
            connection,
            "UPDATE messages_channel_tally SET live = live + 1, last_seq = ("
            "SELECT MAX(m.seq) FROM messages_message m "
            "WHERE m.organization_id = messages_channel_tally.organization_id "
            "AND m.room = 'channel:' || REPLACE(messages_channel_tally.channel_id, ':', '%3A')"
            f") WHERE {channels}",
        ),
        [v for row in rows for v in (row.organization_id, row.channel_id)],
    )
    authors = " OR ".join("(organization_id = ? AND channel_id = ? AND user_id = ?)" for _ in rows)
    await connection.execute_query(
        _sql(
            connection,
            f"UPDATE messages_channel_entry SET own_after = own_after + 1 WHERE {authors}",
        ),
        [v for row in rows for v in (row.organization_id, row.channel_id, row.user_id)],
    )


async def _mentions_sent(connection: BaseDBAsyncClient, row: Message, users: list[str]) -> None:
    org, channel = row.organization_id, row.channel_id
    await connection.execute_many(
        _sql(
            connection,
            "INSERT INTO messages_mention (message_seq, organization_id, channel_id, user_id) "
            "SELECT seq, ?, ?, ? FROM messages_message WHERE message_id = ?",
        ),
        [[org, channel, user, row.message_id] for user in users],
    )
    marks = ", ".join("?" * len(users))
    await connection.execute_query(
        _sql(
            connection,
            "UPDATE messages_channel_entry SET mentions = mentions + 1 "
            f"WHERE organization_id = ? AND channel_id = ? AND user_id IN ({marks})",
        ),
        [org, channel, *users],
    )


async def on_edited(
    connection: BaseDBAsyncClient, row: Message, before: list[str], after: list[str]
) -> list[str]:
    """An edit changed the message's mentions from `before` to `after` (authors left out);
    returns the users newly mentioned."""
    gone = [u for u in before if u not in after]
    added = [u for u in after if u not in before]
    where = {"organization_id": row.organization_id, "channel_id": row.channel_id}
    unread_by = {**where, "read_seq__lt": row.seq}
    if gone:
        await Mention.filter(message_seq=row.seq, user_id__in=gone).using_db(connection).delete()
        await (
            ChannelEntry.filter(**unread_by, user_id__in=gone)
            .using_db(connection)
            .update(mentions=F("mentions") - 1)
        )
    if added:
        await Mention.bulk_create(
            [Mention(message_seq=row.seq, **where, user_id=u) for u in added], using_db=connection
        )
        await (
            ChannelEntry.filter(**unread_by, user_id__in=added)
            .using_db(connection)
            .update(mentions=F("mentions") + 1)
        )
    return added


async def on_deleted(connection: BaseDBAsyncClient, row: Message) -> None:
    """A live channel message was deleted: out of every count that held it."""
    where = {"organization_id": row.organization_id, "channel_id": row.channel_id}
    tally = await ChannelTally.filter(**where).using_db(connection).first()
    if tally is not None:
        tally.live -= 1
        if tally.last_seq == row.seq:
            newest = (
                await Message.filter(
                    organization_id=row.organization_id, room=row.room, deleted_at__isnull=True
                )
                .using_db(connection)
                .order_by("-seq")
                .first()
            )
            tally.last_seq = newest.seq if newest is not None else 0
        await tally.save(using_db=connection, update_fields=["live", "last_seq"])
    entries = ChannelEntry.filter(**where).using_db(connection)
    await entries.filter(read_seq__gte=row.seq).update(read_live=F("read_live") - 1)
    await entries.filter(user_id=row.user_id, read_seq__lt=row.seq).update(
        own_after=F("own_after") - 1
    )
    users = (
        await Mention.filter(message_seq=row.seq)
        .using_db(connection)
        .values_list("user_id", flat=True)
    )
    if users:
        await entries.filter(user_id__in=list(users), read_seq__lt=row.seq).update(
            mentions=F("mentions") - 1
        )
        await Mention.filter(message_seq=row.seq).using_db(connection).delete()


async def on_read(
    connection: BaseDBAsyncClient, target: Target, user_id: str, row: Message
) -> bool:
    """The user's read position moved forward to `row`: the entry (if the channel is on
    the user's list) counts the range it newly covers. False when it did not move."""
    where = {
        "organization_id": target.organization_id,
        "channel_id": target.channel_id,
        "user_id": user_id,
    }
    entry = await ChannelEntry.filter(**where).using_db(connection).first()
    if entry is None or entry.read_seq >= row.seq:
        return False
    covered = Message.filter(
        **target.rows(), deleted_at__isnull=True, seq__gt=entry.read_seq, seq__lte=row.seq
    ).using_db(connection)
    read = await covered.count()
    own = await covered.filter(user_id=user_id).count()
    mentions = (
        await Mention.filter(**where, message_seq__gt=entry.read_seq, message_seq__lte=row.seq)
        .using_db(connection)
        .count()
    )
    await (
        ChannelEntry.filter(id=entry.id)
        .using_db(connection)
        .update(
            read_seq=row.seq,
            read_message_id=row.message_id,
            read_live=F("read_live") + read,
            own_after=F("own_after") - own,
            mentions=F("mentions") - mentions,
        )
    )
    return True


async def record(target: Target, user_id: str) -> bool:
    """Put the channel on the user's list, its counts taken from the user's read position
    (one count of the unread range, once). Under the room's turn. True when added."""
    org, channel = target.organization_id, target.channel_id or ""
    where: dict[str, Any] = {"organization_id": org, "channel_id": channel, "user_id": user_id}
    if await ChannelEntry.exists(**where):
        return False
    await ensure_tally(org, channel)
    tally = await ChannelTally.get(organization_id=org, channel_id=channel)
    position = await ReadPosition.get_or_none(**target.rows(), user_id=user_id)
    read_seq = position.message_seq if position is not None else 0
    after = Message.filter(**target.rows(), deleted_at__isnull=True, seq__gt=read_seq)
    unread_all = await after.count()
    own = await after.filter(user_id=user_id).count()
    mentions = await Mention.filter(**where, message_seq__gt=read_seq).count()
    try:
        await ChannelEntry.create(
            **where,
            read_seq=read_seq,
            read_message_id=position.message_id if position is not None else None,
            read_live=tally.live - unread_all,
            own_after=own,
            mentions=mentions,
            created_at=now_utc(),
        )
    except IntegrityError:
        return False
    return True


async def forget(organization_id: str, channel_id: str, user_id: str) -> bool:
    removed = await ChannelEntry.filter(
        organization_id=organization_id, channel_id=channel_id, user_id=user_id
    ).delete()
    return bool(removed)


async def badge(target: Target, user_id: str) -> dict[str, Any] | None:
    """`{channelId, unreadCount, mentionCount, lastReadMessageId}` of a listed channel."""
    where: dict[str, Any] = {
        "organization_id": target.organization_id,
        "channel_id": target.channel_id,
    }
    entry = await ChannelEntry.get_or_none(**where, user_id=user_id)
    if entry is None:
        return None
    tally = await ChannelTally.get_or_none(**where)
    return counts(entry, tally)


def counts(entry: ChannelEntry, tally: ChannelTally | None) -> dict[str, Any]:
    live = tally.live if tally is not None else 0
    return payloads.channel_unread(
        entry.channel_id,
        max(0, live - entry.read_live - entry.own_after),
        max(0, entry.mentions),
        entry.read_message_id,
    )

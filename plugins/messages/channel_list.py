"""A user's channel list (issue 28): the public channels of the organization the user has
joined at least once (recorded at the first join, until `channel:leave {forget: true}`)
and the private channels the user is a member of, newest activity first, each with its
unread and mention counts (`channel_counts.py` keeps them), and the `channel:unread`
that keeps a user's devices in step.

`channel:unread` goes to the user's own room, `user:{userId}`, which the core puts every
socket in at connect (core/gateway.py; on any node): when the user's read position moves
(to the other sockets; the reader has the position in its ack), and when a new message
mentions a user who has the channel on the list but no socket in its room.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.api import ErrorCode, LvngError, Room, iso
from plugins.messages import channel_counts
from plugins.messages.models import Channel, ChannelEntry, ChannelMember, ChannelTally, Message
from plugins.messages.target import Target

if TYPE_CHECKING:
    from core.api import AfterAck, Identity, Platform


def user_room(organization_id: str, user_id: str) -> Room:
    """The user's own room (the core's): every socket of the user, on any node."""
    return Room.of(organization_id, "user", user_id)


def parse_cursor(cursor: str | None) -> tuple[int, str] | None:
    """`nextCursor` is `{lastActivitySeq}:{channelId}` of the last channel of a page."""
    if cursor is None:
        return None
    seq, sep, channel_id = cursor.partition(":")
    if not sep or not seq.isdigit() or not channel_id:
        raise LvngError(ErrorCode.VALIDATION_ERROR, "cursor: not a cursor this server gave")
    return int(seq), channel_id


def last_message(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        "id": row["message_id"],
        "userId": row["user_id"],
        "userName": row["user_name"],
        "content": row["content"],
        "createdAt": iso(row["created_at"]),
    }


class ChannelList:
    """The channel lists of one platform."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    async def page(
        self, identity: Identity, limit: int, cursor: str | None = None
    ) -> dict[str, Any]:
        """`{channels, nextCursor}`: at most `limit` channels, newest activity first (the
        newest live message's commit order; channels without one last, by id). Four
        indexed queries whatever the history, rows read as plain values."""
        after = parse_cursor(cursor)
        org, user_id = identity.organization_id, identity.user_id
        entries = await ChannelEntry.filter(organization_id=org, user_id=user_id).values_list(
            "channel_id", "read_message_id", "read_live", "own_after", "mentions"
        )
        if not entries:
            return {"channels": [], "nextCursor": None}
        ids = [e[0] for e in entries]
        tallies: dict[str, tuple[int, int]] = {
            t[0]: (t[1], t[2])
            for t in await ChannelTally.filter(organization_id=org, channel_id__in=ids).values_list(
                "channel_id", "live", "last_seq"
            )
        }
        channels: dict[str, tuple[str, bool]] = {
            c[0]: (c[1], c[2])
            for c in await Channel.filter(organization_id=org, channel_id__in=ids).values_list(
                "channel_id", "name", "private"
            )
        }
        private = [c for c, (_, closed) in channels.items() if closed]
        allowed = set(channels)
        if private and not identity.is_admin:
            members = await ChannelMember.filter(
                organization_id=org, user_id=user_id, channel_id__in=private
            ).values_list("channel_id", flat=True)
            allowed -= set(private) - set(members)
        rows = sorted(
            ((-tallies.get(e[0], (0, 0))[1], e) for e in entries if e[0] in allowed),
            key=lambda pair: (pair[0], pair[1][0]),
        )
        if after is not None:
            rows = [r for r in rows if (r[0], r[1][0]) > (-after[0], after[1])]
        shown, more = rows[:limit], len(rows) > limit
        seqs = [-key for key, _ in shown if key]
        newest: dict[int, dict[str, Any]] = {}
        if seqs:
            for m in await Message.filter(seq__in=seqs).values(
                "seq", "message_id", "user_id", "user_name", "content", "created_at"
            ):
                newest[m["seq"]] = m
        items = []
        for key, (channel_id, last_read, read_live, own_after, mentions) in shown:
            name, closed = channels[channel_id]
            live = tallies.get(channel_id, (0, 0))[0]
            items.append(
                {
                    "channelId": channel_id,
                    "name": name,
                    "private": closed,
                    "unreadCount": max(0, live - read_live - own_after),
                    "mentionCount": max(0, mentions),
                    "lastMessage": last_message(newest.get(-key)),
                    "lastReadMessageId": last_read,
                }
            )
        next_cursor = f"{-shown[-1][0]}:{shown[-1][1][0]}" if more else None
        return {"channels": items, "nextCursor": next_cursor}

    async def record(self, target: Target, user_id: str, after: AfterAck | None = None) -> bool:
        """Put the channel on the user's list (under the room's turn); True when added."""
        own = after is None
        work = self.platform.after_ack() if after is None else after
        async with self.platform.turn(target.room, work):
            added = await channel_counts.record(target, user_id)
        if own:
            await work.run()
        return added

    async def forget(self, target: Target, user_id: str) -> bool:
        return await channel_counts.forget(target.organization_id, target.channel_id or "", user_id)

    async def tell(
        self, after: AfterAck, target: Target, user_id: str, skip_sid: str | None = None
    ) -> None:
        """Queue `channel:unread` with the user's counts to the user's sockets (less
        `skip_sid`), if the channel is on the user's list."""
        data = await channel_counts.badge(target, user_id)
        if data is not None:
            room = user_room(target.organization_id, user_id)
            after.emit("channel:unread", data, room=room, skip_sid=skip_sid)

    async def tell_absent(self, after: AfterAck, target: Target, users: list[str]) -> None:
        """`channel:unread` to the users (mentioned) who have no socket in the room."""
        if not users:
            return
        present = await self.platform.rooms.users(target.room)
        for user_id in users:
            if user_id not in present:
                await self.tell(after, target, user_id)

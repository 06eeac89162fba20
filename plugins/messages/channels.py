"""Channels: who may open, join, manage and leave them, and what their rooms hear.

A channel id names one channel on the whole server and belongs to the organization that
used it first (contract section 4): another organization's join, read or post with it is
refused with `FORBIDDEN` and creates nothing. A private channel admits its members and org
admins; its creator is a member like any other (removed, the creator loses access too).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from core.api import Caller, ErrorCode, LvngError, Member, iso, not_yours, now_utc
from plugins.messages import channel_counts, payloads
from plugins.messages.models import Channel, ChannelMember
from plugins.messages.target import Target

if TYPE_CHECKING:
    from core.api import AfterAck, Identity, Platform
    from plugins.messages.channel_list import ChannelList
    from plugins.messages.messages import Messages
    from plugins.messages.schemas import ChannelChanges
    from plugins.messages.settings import MessagesSettings
    from plugins.messages.typing_indicators import Typing


class Channels:
    """The channel rules of one platform."""

    def __init__(
        self,
        platform: Platform,
        settings: MessagesSettings,
        messages: Messages,
        typing: Typing,
        lists: ChannelList,
    ) -> None:
        self.platform = platform
        self.settings = settings
        self.messages = messages
        self.typing = typing
        self.lists = lists

    # --- finding and checking --------------------------------------------------------------

    async def find(self, identity: Identity, channel_id: str) -> Channel:
        """The channel, if it is of the caller's organization (else FORBIDDEN)."""
        channel = await Channel.get_or_none(channel_id=channel_id)
        if channel is None:
            raise LvngError(ErrorCode.NOT_FOUND, f"no channel {channel_id}")
        if channel.organization_id != identity.organization_id:
            raise not_yours("channel", channel_id)
        return channel

    async def open(self, identity: Identity, channel_id: str) -> Channel:
        """The channel for a join: created in the joiner's organization when no one has
        it yet (if `auto_create_channels`), and only for those allowed in."""
        channel = await Channel.get_or_none(channel_id=channel_id)
        if channel is None:
            if not self.settings.auto_create_channels:
                raise LvngError(ErrorCode.NOT_FOUND, f"no channel {channel_id}")
            channel = await self._create(identity, channel_id)
        if channel.organization_id != identity.organization_id:
            raise not_yours("channel", channel_id)
        await self.check_access(identity, channel)
        return channel

    async def _create(self, identity: Identity, channel_id: str) -> Channel:
        moment = now_utc()
        org = identity.organization_id
        try:
            async with in_transaction():
                channel = await Channel.create(
                    organization_id=org,
                    channel_id=channel_id,
                    name=channel_id[:80],
                    created_by=identity.user_id,
                    created_at=moment,
                    updated_at=moment,
                )
                await ChannelMember.create(
                    organization_id=org,
                    channel_id=channel_id,
                    user_id=identity.user_id,
                    added_by=identity.user_id,
                    created_at=moment,
                )
        except IntegrityError:  # someone (of any organization) created it first
            channel = await Channel.get(channel_id=channel_id)
        else:
            await channel_counts.ensure_tally(org, channel_id)
        return channel

    async def is_member(self, channel: Channel, user_id: str) -> bool:
        return await ChannelMember.exists(
            organization_id=channel.organization_id, channel_id=channel.channel_id, user_id=user_id
        )

    async def check_access(
        self, identity: Identity, channel: Channel, *, service: bool = False
    ) -> None:
        """Anyone of the organization may use a public channel; a private one only its
        members and org admins (and, when `service`, service tokens)."""
        if channel.organization_id != identity.organization_id:
            raise not_yours("channel", channel.channel_id)
        if not channel.private or identity.is_admin or (service and identity.is_service):
            return
        if not await self.is_member(channel, identity.user_id):
            raise LvngError(
                ErrorCode.FORBIDDEN,
                f"channel {channel.channel_id} is private; ask a member or an admin to add you",
            )

    async def veto(self, identity: Identity, channel_id: str) -> str | None:
        """Why `identity` may not be in the channel's room now, or None."""
        channel = await Channel.get_or_none(channel_id=channel_id)
        if channel is None:
            return None
        try:
            await self.check_access(identity, channel)
        except LvngError as exc:
            return exc.message
        return None

    async def check_manager(self, identity: Identity, channel: Channel) -> None:
        """Org admins, and the creator while it may still use the channel."""
        if identity.is_admin:
            return
        if channel.created_by == identity.user_id and (
            not channel.private or await self.is_member(channel, identity.user_id)
        ):
            return
        raise LvngError(
            ErrorCode.FORBIDDEN, "only the channel's creator or an org admin may do that"
        )

    # --- socket events ---------------------------------------------------------------------

    async def join(self, caller: Caller, channel_id: str) -> dict[str, Any]:
        """Ack `{channelId, channel, lastReadMessageId}`; then `channel:join` to the room
        (the joiner included) and the last 50 messages as `channel:history` to the joiner."""
        assert caller.session is not None
        channel = await self.open(caller.identity, channel_id)
        target = Target.channel(caller.org, channel_id)
        announcement = payloads.channel_joined(channel_id, caller.user_id, caller.user_name)
        async with self.platform.turn(target.room, caller.after):
            joined = await self.platform.rooms.join(caller.session, target.room)
            await self.lists.record(target, caller.user_id, caller.after)  # the first join
            page = await self.messages.history(target)
            # Users, not sockets (contract section 4): the room hears of the user's first
            # socket in it; a repeated join, or another device of a user already there,
            # tells only the joiner.
            if joined and joined.first:
                caller.after.emit("channel:join", announcement, room=target.room)
            else:
                caller.after.emit("channel:join", announcement, to=caller.sid)
            caller.after.emit(
                "channel:history", payloads.channel_history(channel_id, page), to=caller.sid
            )
        return {
            "channelId": channel_id,
            "channel": payloads.channel(channel),
            "lastReadMessageId": await self.messages.last_read(caller.identity, target),
        }

    async def leave(
        self, caller: Caller, channel_id: str, *, forget: bool = False
    ) -> dict[str, Any]:
        """Leave the room; with `forget`, also take the channel off the user's list (a
        private channel the user is a member of stays listed: membership lists it)."""
        assert caller.session is not None
        target = Target.channel(caller.org, channel_id)
        async with self.platform.turn(target.room, caller.after):
            forgotten = forget and await self._forget(caller, target)
            if target.room not in caller.session.rooms:
                return {"channelId": channel_id, "left": False, **forgotten_key(forget, forgotten)}
            await self.typing.socket_left(caller.session.sid, target, caller.after)
            gone = await self.platform.rooms.leave(caller.session, target.room)
            left = payloads.channel_left(channel_id, caller.user_id, caller.user_name)
            if gone.last:  # users, not sockets: the room hears of the user's last socket
                caller.after.emit("channel:leave", left, room=target.room)
            caller.after.emit("channel:leave", left, to=caller.sid)  # out of the room now
        return {"channelId": channel_id, "left": True, **forgotten_key(forget, forgotten)}

    async def _forget(self, caller: Caller, target: Target) -> bool:
        channel = await Channel.get_or_none(
            organization_id=caller.org, channel_id=target.channel_id or ""
        )
        if (
            channel is not None
            and channel.private
            and await self.is_member(channel, caller.user_id)
        ):
            return False
        return await self.lists.forget(target, caller.user_id)

    async def update(
        self, caller: Caller, channel_id: str, changes: ChannelChanges
    ) -> dict[str, Any]:
        """Apply `channel:update` and tell the room. Turning a channel private keeps the
        users who are in it now (on any node) as members."""
        channel = await self.find(caller.identity, channel_id)
        await self.check_access(caller.identity, channel)
        await self.check_manager(caller.identity, channel)
        target = Target.channel(caller.org, channel_id)
        async with self.platform.turn(target.room, caller.after):
            updates = changes.changes()
            becomes_private = updates.get("private") is True and not channel.private
            for key, value in updates.items():
                setattr(channel, key, value)
            channel.updated_at = now_utc()
            await channel.save()
            if becomes_private:
                users = set(await self.platform.rooms.users(target.room)) | {caller.user_id}
                for user_id in sorted(users):
                    await self.add_member(
                        channel, user_id, added_by=caller.user_id, after=caller.after
                    )
            data = payloads.channel_updated(channel, updates, caller.user_id, caller.user_name)
            caller.after.emit("channel:update", data, room=target.room)
        return {"channelId": channel_id, "channel": data["channel"], "updates": updates}

    # --- membership ------------------------------------------------------------------------

    async def add_member(
        self, channel: Channel, user_id: str, *, added_by: str, after: AfterAck | None = None
    ) -> bool:
        """Admit the user; the channel goes on the user's list (contract of issue 28:
        a private channel is listed for its members)."""
        if await self.is_member(channel, user_id):
            return False
        try:
            await ChannelMember.create(
                organization_id=channel.organization_id,
                channel_id=channel.channel_id,
                user_id=user_id,
                added_by=added_by,
                created_at=now_utc(),
            )
        except IntegrityError:
            return False
        target = Target.channel(channel.organization_id, channel.channel_id)
        await self.lists.record(target, user_id, after)
        return True

    async def remove_member(self, channel: Channel, user_id: str) -> bool:
        """Take the user out of the channel's members; out of a private channel, its
        sockets on every node leave the room too (unless still allowed: an org admin)."""
        removed = await ChannelMember.filter(
            organization_id=channel.organization_id, channel_id=channel.channel_id, user_id=user_id
        ).delete()
        if removed and channel.private:
            target = Target.channel(channel.organization_id, channel.channel_id)
            await self.lists.forget(target, user_id)
            await self.platform.recheck_room(target.room, user_id, "removed")
        return bool(removed)

    async def members(self, channel: Channel) -> list[dict[str, Any]]:
        rows = await ChannelMember.filter(
            organization_id=channel.organization_id, channel_id=channel.channel_id
        ).order_by("id")
        return [
            {"userId": r.user_id, "addedBy": r.added_by, "addedAt": iso(r.created_at)} for r in rows
        ]

    async def left_room(self, target: Target, member: Member, reason: str, last: bool) -> None:
        """A socket left a channel's room without asking. A right taken away (a refresh,
        a removal) is told as a leave to the socket, and to the room when it was the
        user's last socket there (users, not sockets: contract section 4; else a user's
        other device, still in the room on its node, would hear of the leave before its
        own and then get the room's messages); a disconnect or a dead node is not told."""
        if reason in ("disconnected", "node_lost"):
            return
        after = self.platform.after_ack()
        await self.typing.socket_left(member.sid, target, after)
        await after.run()
        left = payloads.channel_left(
            target.channel_id or "", member.user_id, member.user_name, reason
        )
        if last:
            await self.platform.emit("channel:leave", left, room=target.room)
        await self.platform.emit("channel:leave", left, to=member.sid)


def forgotten_key(forget: bool, forgotten: bool) -> dict[str, bool]:
    """The leave ack's `forgotten`, present when `forget` was asked."""
    return {"forgotten": forgotten} if forget else {}

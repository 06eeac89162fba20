"""A customer's feed: items, subscriptions, read positions and unread counts.

Everything that changes a feed or tells its subscribers holds the feed's turn
(`activity:{customerId}`, core/turns.py) from the database write to the last emit: an
item's insert and its `activity:new`, a subscriber's snapshot and its join, a read and its
`activity:unread`. So every socket, on every node, hears a feed in commit order; a
snapshot and the live stream neither overlap nor leave a gap; and an `activity:unread`
count covers exactly the items whose `activity:new` came before it.

Unread counts: the items after the user's read position, less those the user did itself
(its own message is not news to it). A client keeps its badge right by adding one for each
`activity:new` whose `actorId` is not its user, and taking the count of `activity:unread`.

`activity:unread` goes to the user's other sockets subscribed to that customer, on any
node: each subscribed socket also joins the user's own room of the feed
(`activity:{customerId}:user:{userId}`), and the count is emitted there without the
reader's socket (which has it in its ack).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.api import ErrorCode, LvngError, Room, new_id, now_utc, within_budget
from plugins.activity import payloads
from plugins.activity.metrics import type_label
from plugins.activity.models import ActivityItem, ActivityRead

if TYPE_CHECKING:
    from core.api import Caller, Member, Platform
    from plugins.activity.customers import Customers
    from plugins.activity.metrics import ActivityMetrics
    from plugins.activity.settings import ActivitySettings


@dataclass(frozen=True, slots=True)
class Draft:
    """An item before it is stored."""

    type: str
    summary: str
    actor_id: str | None
    actor_name: str | None
    subject_type: str
    subject_id: str
    data: dict[str, Any] = field(default_factory=dict)


def feed_room(organization_id: str, customer_id: str) -> Room:
    """The room of the reference: `activity:{customerId}`."""
    return Room.of(organization_id, "activity", customer_id)


def user_room(organization_id: str, customer_id: str, user_id: str) -> Room:
    """One user's subscribed sockets of one feed (for `activity:unread`)."""
    return Room.of(organization_id, "activity", customer_id, "user", user_id)


def is_feed_room(room: Room) -> bool:
    parts = room.parts
    return len(parts) == 2 and parts[0] == "activity"


class Feed:
    """The feeds of one platform."""

    def __init__(
        self,
        platform: Platform,
        settings: ActivitySettings,
        metrics: ActivityMetrics,
        customers: Customers,
    ) -> None:
        self.platform = platform
        self.settings = settings
        self.metrics = metrics
        self.customers = customers

    # --- items -------------------------------------------------------------------------

    async def add(
        self, organization_id: str, customer_id: str, draft: Draft, *, claim: bool
    ) -> ActivityItem | None:
        """Store an item and tell the feed's subscribers (`activity:new`). None when the
        customer is not the organization's (nor, with `claim`, no one's yet)."""
        room = feed_room(organization_id, customer_id)
        after = self.platform.after_ack()
        try:
            async with self.platform.turn(room, after) as turn:
                if not await self.customers.accepts(organization_id, customer_id, claim=claim):
                    self.metrics.dropped.labels(type=type_label(draft.type)).inc()
                    return None
                row = self.draft_row(organization_id, customer_id, draft)
                await turn.insert(row)  # with other feeds' and rooms' writes, in one batch
                # Committed: only now may anyone hear of it.
                self.metrics.items.labels(type=type_label(draft.type)).inc()
                after.emit("activity:new", payloads.item(row), room=room)
        finally:
            await after.run()
        return row

    @staticmethod
    def draft_row(organization_id: str, customer_id: str, draft: Draft) -> ActivityItem:
        """The unsaved item of a draft."""
        return ActivityItem(
            item_id=new_id("act"),
            organization_id=organization_id,
            customer_id=customer_id,
            type=draft.type,
            actor_id=draft.actor_id,
            actor_name=draft.actor_name,
            summary=draft.summary,
            subject_type=draft.subject_type,
            subject_id=draft.subject_id,
            data=draft.data,
            created_at=now_utc(),
        )

    def _items(self, organization_id: str, customer_id: str) -> Any:
        return ActivityItem.filter(organization_id=organization_id, customer_id=customer_id)

    async def newest(
        self, organization_id: str, customer_id: str, *, limit: int, before: str | None = None
    ) -> tuple[list[dict[str, Any]], bool]:
        """Up to `limit` items as payloads, newest first (older than item `before` when
        given), fewer when they would pass the page budget (1 MB of JSON, core.api's
        `within_budget`), and whether there are more."""
        query = self._items(organization_id, customer_id)
        if before is not None:
            query = query.filter(seq__lt=await self._seq_of(organization_id, customer_id, before))
        rows = await query.order_by("-seq").limit(limit + 1)
        items = [payloads.item(row) for row in rows[:limit]]
        kept = within_budget(items, keep_newest=False)  # newest first: keep its start
        return kept, len(rows) > limit or len(kept) < len(items)

    async def _seq_of(self, organization_id: str, customer_id: str, item_id: str) -> int:
        row = (
            await self._items(organization_id, customer_id)
            .filter(item_id=item_id)
            .only("seq")
            .first()
        )
        if row is None:
            raise LvngError(
                ErrorCode.NOT_FOUND, f"no item {item_id} in the activity of customer {customer_id}"
            )
        seq: int = row.seq
        return seq

    # --- unread counts -----------------------------------------------------------------

    async def unread(self, organization_id: str, customer_id: str, user_id: str) -> int:
        """Items after the user's read position that someone else did."""
        position = await ActivityRead.get_or_none(customer_id=customer_id, user_id=user_id)
        # `__not` also keeps NULLs (items no one did): `actor_id != u OR actor_id IS NULL`.
        query = self._items(organization_id, customer_id).filter(actor_id__not=user_id)
        if position is not None:
            query = query.filter(seq__gt=position.item_seq)
        count: int = await query.count()
        return count

    async def read(self, caller: Caller, customer_id: str, item_id: str) -> dict[str, Any]:
        """Move the user's read position forward to `item_id` (never back); the user's
        other subscribed sockets hear the new count."""
        org, user_id = caller.identity.organization_id, caller.identity.user_id
        room = feed_room(org, customer_id)
        self.platform.rooms.require_member(caller.socket, room)
        async with self.platform.turn(room, caller.after) as turn:
            seq = await self._seq_of(org, customer_id, item_id)
            async with turn.transaction() as connection:
                position = await ActivityRead.get_or_none(
                    using_db=connection, customer_id=customer_id, user_id=user_id
                )
                moved = position is None or seq > position.item_seq
                if position is None:
                    position = await ActivityRead.create(
                        using_db=connection,
                        organization_id=org,
                        customer_id=customer_id,
                        user_id=user_id,
                        item_seq=seq,
                        item_id=item_id,
                        updated_at=now_utc(),
                    )
                elif moved:
                    position.item_seq, position.item_id = seq, item_id
                    position.updated_at = now_utc()
                    await position.save(using_db=connection)
            count = await self.unread(org, customer_id, user_id)
            if moved:
                caller.after.emit(
                    "activity:unread",
                    payloads.unread(customer_id, count),
                    room=user_room(org, customer_id, user_id),
                    skip_sid=caller.sid,
                )
        return {"customerId": customer_id, "unreadCount": count, "lastReadItemId": position.item_id}

    # --- subscribers -------------------------------------------------------------------

    async def subscribe(self, caller: Caller, customer_id: str) -> dict[str, Any]:
        """Join the feed; `activity:subscribed` (the newest items, the unread count)
        follows the ack, then the live `activity:new`s."""
        identity = caller.identity
        await self.customers.check_reader(identity, customer_id, claim=True)
        org = identity.organization_id
        room = feed_room(org, customer_id)
        async with self.platform.turn(room, caller.after):
            if await self.platform.rooms.join(caller.socket, room):
                self.metrics.subscribers.inc()
                await self.platform.rooms.join(
                    caller.socket, user_room(org, customer_id, identity.user_id), authorize=False
                )
            items, more = await self.newest(org, customer_id, limit=self.settings.subscribe_items)
            count = await self.unread(org, customer_id, identity.user_id)
            caller.after.emit(
                "activity:subscribed",
                payloads.subscribed(customer_id, items, more, count),
                to=caller.sid,
            )
        return {"customerId": customer_id}

    async def unsubscribe(self, caller: Caller, customer_id: str) -> dict[str, Any]:
        """Leave the feed; `activity:unsubscribed` follows the ack (also when the socket
        was not subscribed: `wasSubscribed` says which)."""
        org = caller.identity.organization_id
        room = feed_room(org, customer_id)
        async with self.platform.turn(room, caller.after):
            left = await self.platform.rooms.leave(caller.socket, room)
            if left:
                self.metrics.subscribers.dec()
                await self.platform.rooms.leave(
                    caller.socket, user_room(org, customer_id, caller.identity.user_id)
                )
            caller.after.emit(
                "activity:unsubscribed", payloads.unsubscribed(customer_id), to=caller.sid
            )
        return {"customerId": customer_id, "wasSubscribed": bool(left)}

    async def left_room(self, room: Room, member: Member, reason: str) -> None:
        """A socket left without asking: a subscriber of this node is gone (a dead
        node's sockets were never counted here). One an admin removed hears
        `activity:unsubscribed`."""
        if not is_feed_room(room):
            return
        if reason != "node_lost":
            self.metrics.subscribers.dec()
        if reason == "removed":
            await self.platform.emit(
                "activity:unsubscribed", payloads.unsubscribed(room.parts[1]), to=member.sid
            )

"""Items made from other plugins' domain events, known by name only (no plugin is
imported): a message in a customer conversation, a user joining one, a swarm session
ending with a `customerId` in its data.

**With the cause.** An event its publisher hands to its write (a message in a customer
conversation: `turn.insert(row, events=[...])`) reaches `derive` (a derived writer,
core/derived.py) before the write: the item is stored in the message's transaction (one
multi-row INSERT per group-commit batch), so a stored message always has its item, even
through a SIGKILL. The feed's turn is taken for the publisher before the write and handed
on after `activity:new`, so one write per feed is in flight and a feed is heard in commit
order; a refused item fails its message with it (docs/decisions.md). Such an event
reaches `lvng_domain_event` marked `derived` and is skipped there.

**After the cause.** For an event published without a transaction (a join, a swarm
session ending), the domain-event hook only reads the event and hands the item to a
tracked background task
(`platform.tasks`), so nothing the feed does (a slow or failing database, a busy feed)
ever holds up the publisher: its ack, its room's turn or its HTTP answer. Tasks start in
the order the events were published and take the feed's turn first, so one node's items
keep that order. A task that fails is logged and counted in
`lvng_activity_items_failed_total{type}`; one that finds the customer belongs to another
organization is counted in `lvng_activity_items_dropped_total{type}`. At most
`item_writers` tasks write at once (admitted in order), so a stuck activity table cannot
take every connection of the database pool the plugins share. Shutdown waits up to
`drain_seconds` for tasks still running.

A messages event may claim a customer no one has for its organization (the messages plugin
allowed the conversation only to a token naming the customer, or to an admin of the
organization that owns it). A swarm event's `customerId` was written by an agent, so it
never claims: its item is made only when the organization already owns the customer here.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from core.api import Derivation, is_valid_id, store_unavailable
from plugins.activity import payloads
from plugins.activity.feed import Draft, feed_room
from plugins.activity.metrics import type_label

if TYPE_CHECKING:
    from core.api import AfterAck, DomainEvent, Platform
    from plugins.activity.feed import Feed
    from plugins.activity.metrics import ActivityMetrics

log = logging.getLogger("lvng.activity")

SWARM_ENDINGS = {"swarm.session.completed": "completed", "swarm.session.failed": "failed"}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _swarm_customer(data: dict[str, Any]) -> Any:
    """The session event's `customerId`: on the event, or inside the event's `data`."""
    if "customerId" in data:
        return data["customerId"]
    inner = data.get("data")
    return inner.get("customerId") if isinstance(inner, dict) else None


def draft_of(event: DomainEvent) -> tuple[str, Draft, bool] | None:
    """The customer, item and whether it may claim the customer; None when the event
    makes no item."""
    data = event.data
    if event.name == "message.created":
        customer_id = data["customerId"]
        if customer_id is None:  # a channel message
            return None
        who = data["userName"]
        return (
            customer_id,
            Draft(
                "message.created",
                f"{who} sent a message",
                data["userId"],
                who,
                "message",
                data["messageId"],
                {"conversationId": data["conversationId"], "messageId": data["messageId"]},
            ),
            True,
        )
    if event.name == "conversation.member_joined":
        who, conversation_id = data["userName"], data["conversationId"]
        return (
            data["customerId"],
            Draft(
                "conversation.member_joined",
                f"{who} joined the conversation",
                data["userId"],
                who,
                "conversation",
                conversation_id,
                {"conversationId": conversation_id},
            ),
            True,
        )
    if event.name in SWARM_ENDINGS:
        customer_id, session_id = _swarm_customer(data), data["sessionId"]
        if not (is_valid_id(customer_id) and is_valid_id(session_id)):
            return None
        agent = data.get("agent") if is_valid_id(data.get("agent")) else None
        extra = {"sessionId": session_id, "status": SWARM_ENDINGS[event.name]}
        if (title := _text(data.get("title"))) is not None:
            extra["title"] = title[:200]
        return (
            customer_id,
            Draft(
                event.name,
                f"Swarm session {session_id} {SWARM_ENDINGS[event.name]}",
                agent,
                agent,
                "swarm_session",
                session_id,
                extra,
            ),
            False,
        )
    return None


# Seconds between tries of an item whose store is unavailable (about 30 s in all).
OUTAGE_RETRIES = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0)


class Sources:
    """Turns domain events into items, off the publisher's path."""

    def __init__(
        self, platform: Platform, feed: Feed, metrics: ActivityMetrics, *, writers: int
    ) -> None:
        self.platform = platform
        self.feed = feed
        self.metrics = metrics
        self._writers = asyncio.Semaphore(writers)  # FIFO: admits tasks in order
        self._running: set[asyncio.Task[Any]] = set()

    async def derive(self, event: DomainEvent) -> Derivation | None:
        """The derived writer: the event's item, stored in its cause's transaction under
        the feed's turn; `activity:new` once committed."""
        found = draft_of(event)
        if found is None:
            return None
        customer_id, draft, claim = found
        organization_id = event.organization_id
        if not await self.feed.customers.accepts(organization_id, customer_id, claim=claim):
            self.metrics.dropped.labels(type=type_label(draft.type)).inc()
            return None
        row = self.feed.draft_row(organization_id, customer_id, draft)
        room = feed_room(organization_id, customer_id)

        def stored(after: AfterAck) -> None:
            self.metrics.items.labels(type=type_label(draft.type)).inc()
            after.emit("activity:new", payloads.item(row), room=room)

        return Derivation(rows=(row,), turns=(room.key,), then=stored)

    def take(self, event: DomainEvent) -> None:
        """Called by `lvng_domain_event`: start making the event's item, if it makes one
        and was not stored with its cause (`derive`). Malformed data raises here, in the
        hook, where the core logs and counts it."""
        if event.derived:
            return
        found = draft_of(event)
        if found is None:
            return
        customer_id, draft, claim = found
        task = self.platform.tasks.spawn(
            self._make(event.organization_id, customer_id, draft, claim),
            name=f"activity item from {event.name}",
        )
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _make(
        self, organization_id: str, customer_id: str, draft: Draft, claim: bool
    ) -> None:
        """Make the item; through a store outage it is tried again (OUTAGE_RETRIES, about
        half a minute in all) instead of being dropped: the event it comes from is stored."""
        for wait in (*OUTAGE_RETRIES, None):
            async with self._writers:
                try:
                    row = await self.feed.add(organization_id, customer_id, draft, claim=claim)
                except Exception as exc:
                    outage = store_unavailable(exc)
                    if outage and wait is not None:
                        failed = exc
                    else:
                        self.metrics.failed.labels(type=type_label(draft.type)).inc()
                        log.error(
                            "activity item %s for customer %s of %s could not be made%s",
                            draft.type,
                            customer_id,
                            organization_id,
                            f", a backing store is unavailable: {exc}" if outage else "",
                            exc_info=None if outage else exc,
                        )
                        return
                else:
                    break
            log.warning(
                "activity item %s for customer %s: a backing store is unavailable (%s); "
                "trying again in %g s",
                draft.type,
                customer_id,
                failed,
                wait,
            )
            await asyncio.sleep(wait)
        if row is None:
            log.info(
                "activity item %s for customer %s not made: not a customer of %s",
                draft.type,
                customer_id,
                organization_id,
            )

    async def drain(self, timeout: float) -> None:
        """Wait (up to `timeout` seconds) for the items still being made."""
        if self._running:
            await asyncio.wait(set(self._running), timeout=timeout)

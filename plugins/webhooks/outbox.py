"""The outbox: every domain event an endpoint wants, as rows, written in the same
transaction as the event's cause where the publisher has one, else right after its commit.

An event a publisher hands to its write (`turn.insert(row, events=[...])`,
`turn.transaction(events=[...])`) reaches `derive` (a derived writer, core/derived.py)
before the write: its rows go into the cause's transaction (one multi-row INSERT per
group-commit batch), so a message is never stored without its webhooks, even through a
SIGKILL, and the room's turn orders their ids. Such an event is delivered to
`lvng_domain_event` marked `derived` and skipped there. An event published without a
transaction (a conversation join) is written by `take`, in one group-commit write of its
own, before the publisher goes on. Neither ever waits for an endpoint: the courier does,
off the path.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from core.api import Derivation, new_id, now_utc
from plugins.webhooks import payloads
from plugins.webhooks.models import WebhookDelivery

if TYPE_CHECKING:
    from core.api import AfterAck, DomainEvent, Platform
    from plugins.webhooks.courier import Courier
    from plugins.webhooks.metrics import WebhooksMetrics
    from plugins.webhooks.settings import WebhooksSettings

log = logging.getLogger("lvng.webhooks")

# The room an event happened in, by the first of these keys its data carries (not null).
ROOM_KEYS = (
    ("channelId", "channel"),
    ("conversationId", "conversation"),
    ("roomName", "call"),
    ("callId", "call"),
    ("sessionId", "session"),
    ("customerId", "customer"),
)


def ordering_key(event: DomainEvent) -> str:
    """Events of one room keep their order per endpoint; other rooms do not wait for it."""
    for key, kind in ROOM_KEYS:
        value = event.data.get(key)
        if isinstance(value, str) and value:
            return f"{event.organization_id}:{kind}:{value}"[:300]
    return f"{event.organization_id}:{event.source}"[:300]


class Outbox:
    def __init__(
        self,
        platform: Platform,
        settings: WebhooksSettings,
        metrics: WebhooksMetrics,
        courier: Courier,
    ) -> None:
        self.platform = platform
        self.settings = settings
        self.metrics = metrics
        self.courier = courier

    def rows(self, event: DomainEvent) -> list[WebhookDelivery]:
        wanting = [e for e in self.settings.endpoints if e.wants(event.name, event.organization_id)]
        if not wanting:
            return []
        event_id = new_id("evt")
        body = payloads.body(event_id, event)
        now = now_utc()
        key = ordering_key(event)
        return [
            WebhookDelivery(
                event_id=event_id,
                endpoint=endpoint.key,
                ordering_key=key,
                type=event.name,
                organization_id=event.organization_id,
                body=body,
                next_at=now - timedelta(milliseconds=1),
                pending_since=now,
                created_at=now,
            )
            for endpoint in wanting
        ]

    async def derive(self, event: DomainEvent) -> Derivation | None:
        """The derived writer: the event's rows, stored in its cause's transaction."""
        rows = self.rows(event)
        if not rows:
            return None

        def written(after: AfterAck) -> None:
            self.metrics.written.inc(len(rows))
            self.courier.wake()

        return Derivation(rows=tuple(rows), then=written)

    async def take(self, event: DomainEvent) -> None:
        """Called by `lvng_domain_event`: store the rows of an event that had no cause's
        transaction, then wake the courier."""
        if event.derived:
            return  # stored with its cause (`derive`)
        rows = self.rows(event)
        if not rows:
            return
        try:
            await self.platform.commits.insert(*rows, key=None)
        except Exception:
            self.metrics.not_stored.inc(len(rows))
            log.exception("webhook deliveries of %s not stored", event.name)
            raise
        self.metrics.written.inc(len(rows))
        self.courier.wake()

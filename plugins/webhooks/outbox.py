"""The outbox: every domain event an endpoint wants, as rows, written right after the
event's cause committed.

Publishers publish from their after-ack queue (`caller.after.then`), after the commit and
the socket's ack, with the room's turn still held (`docs/architecture.md`). The domain
event hook waits for the rows to be stored (one group-commit batch, `platform.commits`),
so the turn is handed on only after them: rows of one room get ids in the room's order,
on every node. The hook never waits for an endpoint; the courier does that, off the path.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from core.api import new_id, now_utc
from plugins.webhooks import payloads
from plugins.webhooks.models import WebhookDelivery

if TYPE_CHECKING:
    from core.api import DomainEvent, Platform
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

    async def take(self, event: DomainEvent) -> None:
        """Called by `lvng_domain_event`: store the event's rows, then wake the courier."""
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

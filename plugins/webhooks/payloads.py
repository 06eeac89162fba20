"""What an endpoint receives (the POST body) and what the admin route and the inspection
page list (one delivery)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from core.api import iso

if TYPE_CHECKING:
    from core.api import DomainEvent
    from plugins.webhooks.models import WebhookDelivery


def body(event_id: str, event: DomainEvent) -> str:
    """`{id, type, organizationId, timestamp, data}` as the exact text every attempt sends."""
    return json.dumps(
        {
            "id": event_id,
            "type": event.name,
            "organizationId": event.organization_id,
            "timestamp": event.timestamp,
            "data": event.data,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def delivery(row: WebhookDelivery) -> dict[str, Any]:
    return {
        "deliveryId": row.id,
        "eventId": row.event_id,
        "endpoint": row.endpoint,
        "type": row.type,
        "organizationId": row.organization_id,
        "state": row.state,
        "attempts": row.attempts,
        "createdAt": iso(row.created_at),
        "pendingSince": iso(row.pending_since),
        "nextAttemptAt": iso(row.next_at) if row.state == "pending" else None,
        "finishedAt": iso(row.finished_at) if row.finished_at else None,
        "lastStatus": row.last_status,
        "lastError": row.last_error,
    }

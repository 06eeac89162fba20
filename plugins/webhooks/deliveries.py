"""What admins see and do: one organization's pending and failed deliveries, a resend."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.api import ErrorCode, LvngError, now_utc
from plugins.webhooks import payloads
from plugins.webhooks.models import DELIVERED, FAILED, PENDING, WebhookDelivery

if TYPE_CHECKING:
    from plugins.webhooks.courier import Courier

MAX_LISTED = 100


class Deliveries:
    def __init__(self, courier: Courier) -> None:
        self.courier = courier

    async def listing(
        self, organization_id: str, states: tuple[str, ...] = (FAILED, PENDING)
    ) -> dict[str, Any]:
        """`{deliveries, pending, failed}`: the newest `MAX_LISTED` in `states`, and the
        organization's counts."""
        rows = (
            await WebhookDelivery.filter(organization_id=organization_id, state__in=states)
            .order_by("-id")
            .limit(MAX_LISTED)
        )
        counts = {}
        for state in (PENDING, FAILED):
            counts[state] = await WebhookDelivery.filter(
                organization_id=organization_id, state=state
            ).count()
        return {
            "deliveries": [payloads.delivery(row) for row in rows],
            "pending": counts[PENDING],
            "failed": counts[FAILED],
        }

    async def resend(self, organization_id: str, delivery_id: int) -> dict[str, Any]:
        """A failed (or pending) delivery goes again now, with its webhook-id and body; its
        give-up time starts over. A delivered one is refused: it was accepted."""
        row = await WebhookDelivery.get_or_none(id=delivery_id, organization_id=organization_id)
        if row is None:
            raise LvngError(ErrorCode.NOT_FOUND, f"no webhook delivery {delivery_id}")
        if row.state == DELIVERED:
            raise LvngError(
                ErrorCode.CONFLICT, f"webhook delivery {delivery_id} was accepted already"
            )
        now = now_utc()
        await WebhookDelivery.filter(id=row.id, state=row.state).update(
            state=PENDING, next_at=now, pending_since=now, finished_at=None
        )
        self.courier.wake()
        fresh = await WebhookDelivery.get(id=row.id)
        return payloads.delivery(fresh)

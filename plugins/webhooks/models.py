"""The webhooks plugin's table (Tortoise app label `webhooks`): the outbox.

One row per event and endpoint, written in the event's cause's transaction (or right after
its commit, for an event published without one), the publisher's room turn held, so `id`
order is the room's order. `event_id` is the
`webhook-id` of every attempt; `body` the exact bytes sent every time. The courier sends
only the oldest pending row of each (endpoint, ordering_key), and only while it holds that
row's lease (`lease_owner` until `lease_until`), taken by one conditional UPDATE: two nodes
never send one row at once, and one room's events reach an endpoint in order.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

ID_LENGTH = 128
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


class WebhookDelivery(Model):
    """One event for one endpoint: pending until accepted (delivered) or given up (failed)."""

    id = fields.BigIntField(primary_key=True)  # the room's order
    event_id = fields.CharField(max_length=64)  # webhook-id: "evt_<uuid7>"
    endpoint = fields.CharField(max_length=ID_LENGTH)
    ordering_key = fields.CharField(max_length=300)  # organization + the event's room
    type = fields.CharField(max_length=ID_LENGTH)
    organization_id = fields.CharField(max_length=ID_LENGTH)
    body = fields.TextField()  # {id, type, organizationId, timestamp, data}
    state = fields.CharField(max_length=16, default=PENDING)
    attempts = fields.IntField(default=0)
    next_at = fields.DatetimeField()
    pending_since = fields.DatetimeField()  # written, or resent
    created_at = fields.DatetimeField()
    finished_at = fields.DatetimeField(null=True)
    last_status = fields.IntField(null=True)  # the endpoint's HTTP status, if it answered
    last_error = fields.CharField(max_length=500, null=True)
    lease_owner = fields.CharField(max_length=64, null=True)
    lease_until = fields.DatetimeField(null=True)

    class Meta:
        table = "webhooks_delivery"
        indexes = (("state", "endpoint", "ordering_key", "id"), ("organization_id", "state"))

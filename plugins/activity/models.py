"""The activity plugin's tables (Tortoise app label `activity`).

A customer belongs to one organization (the first one with the right to claim it, contract
section 4); this plugin keeps its own record of that, as it may touch no other plugin's
tables. Items of a customer's feed are ordered by `seq`, an autoincrement integer assigned
at insert while the feed's turn is held, so `seq` order is commit order and the order
subscribers hear them in. A user's read position is the `seq` of the newest item read.
"""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model

ID_LENGTH = 128  # contract section 3: ids are 1 to 128 characters
TYPE_LENGTH = 64
SUMMARY_LENGTH = 500


class ActivityCustomer(Model):
    """Which organization a customer's feed belongs to: the first one that claimed it."""

    customer_id = fields.CharField(max_length=ID_LENGTH, primary_key=True)
    organization_id = fields.CharField(max_length=ID_LENGTH)
    created_at = fields.DatetimeField()

    class Meta:
        table = "activity_customer"


class ActivityItem(Model):
    """One thing that happened around a customer, newest last by `seq`."""

    seq = fields.BigIntField(primary_key=True)  # commit order within a feed
    item_id = fields.CharField(max_length=64, unique=True)  # "act_<uuid7>"
    organization_id = fields.CharField(max_length=ID_LENGTH)
    customer_id = fields.CharField(max_length=ID_LENGTH)
    type = fields.CharField(max_length=TYPE_LENGTH)
    actor_id = fields.CharField(max_length=ID_LENGTH, null=True)
    actor_name = fields.CharField(max_length=ID_LENGTH, null=True)
    summary = fields.CharField(max_length=SUMMARY_LENGTH)
    subject_type = fields.CharField(max_length=TYPE_LENGTH)
    subject_id = fields.CharField(max_length=ID_LENGTH)
    data: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    created_at = fields.DatetimeField()

    class Meta:
        table = "activity_item"
        indexes = (("organization_id", "customer_id", "seq"),)


class ActivityRead(Model):
    """How far one user has read one customer's feed: the newest item read."""

    id = fields.IntField(primary_key=True)
    organization_id = fields.CharField(max_length=ID_LENGTH)
    customer_id = fields.CharField(max_length=ID_LENGTH)
    user_id = fields.CharField(max_length=ID_LENGTH)
    item_seq = fields.BigIntField()
    item_id = fields.CharField(max_length=64)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "activity_read"
        unique_together = (("customer_id", "user_id"),)

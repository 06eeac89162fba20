"""The core's table of customers' owners (Tortoise app label `core`, next to the plugins'
apps whenever any enabled plugin keeps data). Docstrings become table comments: no
semicolons in them (SQLite)."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

ID_LENGTH = 128  # contract section 3: ids are 1 to 128 characters


class CustomerOwner(Model):
    """The organization a customer id belongs to: the first one that claimed it."""

    customer_id = fields.CharField(max_length=ID_LENGTH, primary_key=True)
    organization_id = fields.CharField(max_length=ID_LENGTH)
    created_at = fields.DatetimeField()

    class Meta:
        table = "core_customer"

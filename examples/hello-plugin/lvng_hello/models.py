"""The hello plugin's one table. App label `hello`: its tables are its own."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class Greeting(Model):
    """One greeting a user sent, kept so the plugin can say how many they have sent."""

    id = fields.CharField(primary_key=True, max_length=64)  # grt_ + UUIDv7
    organization_id = fields.CharField(max_length=128)
    user_id = fields.CharField(max_length=128)
    name = fields.CharField(max_length=64)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "hello_greeting"
        indexes = (("organization_id", "user_id"),)

"""Customers' owners move to the core's registry (`core_customer`, issue 21): one owner
for every plugin. The rows written here since the core's migration are folded in (first
owner wins, conflicts logged), then this plugin's own table goes."""

from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops

from core.api import reconcile_customer_owners


async def fold_into_the_core(apps: Any, schema_editor: Any) -> None:
    await reconcile_customer_owners(schema_editor.client, ("messages_customer",))


class Migration(migrations.Migration):
    dependencies = [("messages", "0002_channel_id_owned"), ("core", "0001_customers")]

    operations = [
        ops.RunPython(fold_into_the_core, ops.RunPython.noop),
        ops.DeleteModel(name='Customer'),
    ]

"""The core's owner registry of customer ids (issue 21): the table, and the owners the
plugins kept until then (`messages_customer`, `activity_customer`, whichever exist, the
plugins enabled or not), first owner wins. Each plugin's own migration folds its table in
once more (for rows written since) and drops it."""

from typing import Any

from tortoise import fields, migrations
from tortoise.migrations import operations as ops

from core.customers.reconcile import reconcile


async def fold_in_the_plugins_owners(apps: Any, schema_editor: Any) -> None:
    await reconcile(schema_editor.client)


class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='CustomerOwner',
            fields=[
                ('customer_id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=128)),
                ('organization_id', fields.CharField(max_length=128)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'core_customer', 'app': 'core', 'pk_attr': 'customer_id', 'table_description': 'The organization a customer id belongs to: the first one that claimed it.'},
            bases=['Model'],
        ),
        ops.RunPython(fold_in_the_plugins_owners, ops.RunPython.noop),
    ]

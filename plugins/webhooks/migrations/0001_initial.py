"""The webhooks plugin's outbox: one row per event and endpoint."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='WebhookDelivery',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('event_id', fields.CharField(max_length=64)),
                ('endpoint', fields.CharField(max_length=128)),
                ('ordering_key', fields.CharField(max_length=300)),
                ('type', fields.CharField(max_length=128)),
                ('organization_id', fields.CharField(max_length=128)),
                ('body', fields.TextField(unique=False)),
                ('state', fields.CharField(default='pending', max_length=16)),
                ('attempts', fields.IntField(default=0)),
                ('next_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('pending_since', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_status', fields.IntField(null=True)),
                ('last_error', fields.CharField(null=True, max_length=500)),
                ('lease_owner', fields.CharField(null=True, max_length=64)),
                ('lease_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'webhooks_delivery', 'app': 'webhooks', 'indexes': [Index(fields=['state', 'endpoint', 'ordering_key', 'id']), Index(fields=['organization_id', 'state'])], 'pk_attr': 'id', 'table_description': 'One event for one endpoint: pending until accepted (delivered) or given up (failed).'},
            bases=['Model'],
        ),
    ]

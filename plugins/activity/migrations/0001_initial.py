"""The activity plugin's tables: customers' owners, feed items, read positions."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.data import JSON_DUMPS, JSON_LOADS
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='ActivityCustomer',
            fields=[
                ('customer_id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=128)),
                ('organization_id', fields.CharField(max_length=128)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'activity_customer', 'app': 'activity', 'pk_attr': 'customer_id', 'table_description': "Which organization a customer's feed belongs to: the first one that claimed it."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ActivityItem',
            fields=[
                ('seq', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('item_id', fields.CharField(unique=True, max_length=64)),
                ('organization_id', fields.CharField(max_length=128)),
                ('customer_id', fields.CharField(max_length=128)),
                ('type', fields.CharField(max_length=64)),
                ('actor_id', fields.CharField(null=True, max_length=128)),
                ('actor_name', fields.CharField(null=True, max_length=128)),
                ('summary', fields.CharField(max_length=500)),
                ('subject_type', fields.CharField(max_length=64)),
                ('subject_id', fields.CharField(max_length=128)),
                ('data', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=JSON_LOADS)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'activity_item', 'app': 'activity', 'indexes': [Index(fields=['organization_id', 'customer_id', 'seq'])], 'pk_attr': 'seq', 'table_description': 'One thing that happened around a customer, newest last by `seq`.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ActivityRead',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('organization_id', fields.CharField(max_length=128)),
                ('customer_id', fields.CharField(max_length=128)),
                ('user_id', fields.CharField(max_length=128)),
                ('item_seq', fields.BigIntField()),
                ('item_id', fields.CharField(max_length=64)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'activity_read', 'app': 'activity', 'unique_together': (('customer_id', 'user_id'),), 'pk_attr': 'id', 'table_description': "How far one user has read one customer's feed: the newest item read."},
            bases=['Model'],
        ),
    ]

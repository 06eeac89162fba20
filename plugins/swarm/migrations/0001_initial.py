"""The swarm plugin's tables: sessions (owner, status, last seq) and their updates."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.data import JSON_DUMPS, JSON_LOADS
from tortoise import fields

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='SwarmSession',
            fields=[
                ('session_id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=128)),
                ('organization_id', fields.CharField(max_length=128)),
                ('status', fields.CharField(max_length=16)),
                ('last_seq', fields.BigIntField(default=0)),
                ('created_by', fields.CharField(max_length=128)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'swarm_session', 'app': 'swarm', 'pk_attr': 'session_id', 'table_description': 'One agent session, owned by the organization that first published to it.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SwarmUpdate',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('session_id', fields.CharField(max_length=128)),
                ('organization_id', fields.CharField(max_length=128)),
                ('seq', fields.BigIntField()),
                ('event_id', fields.CharField(null=True, max_length=128)),
                ('type', fields.CharField(max_length=32)),
                ('agent', fields.CharField(max_length=128)),
                ('step_id', fields.CharField(null=True, max_length=128)),
                ('title', fields.TextField(null=True, unique=False)),
                ('status', fields.CharField(null=True, max_length=64)),
                ('output', fields.TextField(null=True, unique=False)),
                ('data', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=JSON_LOADS)),
                ('published_by', fields.CharField(max_length=128)),
                ('published_by_name', fields.CharField(max_length=128)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'swarm_update', 'app': 'swarm', 'unique_together': (('session_id', 'seq'), ('session_id', 'event_id')), 'pk_attr': 'id', 'table_description': 'One published event of a session, numbered by `seq` (1, 2, 3 … per session).'},
            bases=['Model'],
        ),
    ]

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='Call',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('call_id', fields.CharField(unique=True, max_length=64)),
                ('organization_id', fields.CharField(max_length=128)),
                ('room_name', fields.CharField(max_length=128)),
                ('started_by', fields.CharField(max_length=128)),
                ('started_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('ended_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('segments', fields.IntField(default=0)),
            ],
            options={'table': 'calls_call', 'app': 'calls', 'indexes': [Index(fields=['organization_id', 'room_name', 'started_at'])], 'pk_attr': 'id', 'table_description': 'One call of a room: from its first participant to the moment its last one left.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Participant',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('call_id', fields.CharField(max_length=64)),
                ('user_id', fields.CharField(max_length=128)),
                ('user_name', fields.CharField(max_length=128)),
                ('joined_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('left_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('left_reason', fields.CharField(null=True, max_length=32)),
            ],
            options={'table': 'calls_participant', 'app': 'calls', 'unique_together': (('call_id', 'user_id'),), 'pk_attr': 'id', 'table_description': 'A user in a call (all its devices together): when it joined, when it left.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Segment',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('call_id', fields.CharField(max_length=64)),
                ('sequence', fields.IntField()),
                ('segment_id', fields.CharField(max_length=128)),
                ('user_id', fields.CharField(max_length=128)),
                ('speaker', fields.CharField(max_length=128)),
                ('text', fields.TextField(unique=False)),
                ('confidence', fields.FloatField(null=True)),
                ('start_ms', fields.BigIntField(null=True)),
                ('end_ms', fields.BigIntField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'calls_segment', 'app': 'calls', 'unique_together': (('call_id', 'sequence'), ('call_id', 'user_id', 'segment_id')), 'pk_attr': 'id', 'table_description': 'One final transcript segment of a call, in the order received (`sequence`).'},
            bases=['Model'],
        ),
    ]

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.data import JSON_DUMPS, JSON_LOADS
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='Channel',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('organization_id', fields.CharField(max_length=128)),
                ('channel_id', fields.CharField(max_length=128)),
                ('name', fields.CharField(max_length=80)),
                ('topic', fields.CharField(default='', max_length=250)),
                ('description', fields.TextField(default='', unique=False)),
                ('private', fields.BooleanField(default=False)),
                ('created_by', fields.CharField(max_length=128)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'messages_channel', 'app': 'messages', 'unique_together': (('organization_id', 'channel_id'),), 'pk_attr': 'id', 'table_description': 'A channel of one organization, created on first join.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ChannelMember',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('organization_id', fields.CharField(max_length=128)),
                ('channel_id', fields.CharField(max_length=128)),
                ('user_id', fields.CharField(max_length=128)),
                ('added_by', fields.CharField(max_length=128)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'messages_channel_member', 'app': 'messages', 'unique_together': (('organization_id', 'channel_id', 'user_id'),), 'pk_attr': 'id', 'table_description': 'A user admitted to a (private) channel by its creator or an org admin.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Conversation',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('organization_id', fields.CharField(max_length=128)),
                ('customer_id', fields.CharField(max_length=128)),
                ('conversation_id', fields.CharField(max_length=128)),
                ('created_by', fields.CharField(max_length=128)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'messages_conversation', 'app': 'messages', 'unique_together': (('customer_id', 'conversation_id'),), 'pk_attr': 'id', 'table_description': "A conversation of one customer (and so of that customer's organization)."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Customer',
            fields=[
                ('customer_id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=128)),
                ('organization_id', fields.CharField(max_length=128)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'messages_customer', 'app': 'messages', 'pk_attr': 'customer_id', 'table_description': 'Which organization a customer belongs to: the first one that used it.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Message',
            fields=[
                ('seq', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('message_id', fields.CharField(unique=True, max_length=64)),
                ('organization_id', fields.CharField(max_length=128)),
                ('room', fields.CharField(max_length=400)),
                ('channel_id', fields.CharField(null=True, max_length=128)),
                ('customer_id', fields.CharField(null=True, max_length=128)),
                ('conversation_id', fields.CharField(null=True, max_length=128)),
                ('user_id', fields.CharField(max_length=128)),
                ('user_name', fields.CharField(max_length=128)),
                ('content', fields.TextField(unique=False)),
                ('content_type', fields.CharField(default='text', max_length=32)),
                ('thread_id', fields.CharField(null=True, max_length=64)),
                ('mentions', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=JSON_LOADS)),
                ('attachments', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=JSON_LOADS)),
                ('metadata', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=JSON_LOADS)),
                ('optimistic_id', fields.CharField(null=True, max_length=128)),
                ('workspace_id', fields.CharField(null=True, max_length=128)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('deleted_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('deleted_by', fields.CharField(null=True, max_length=128)),
            ],
            options={'table': 'messages_message', 'app': 'messages', 'indexes': [Index(fields=['organization_id', 'room', 'seq']), Index(fields=['organization_id', 'user_id', 'optimistic_id'])], 'pk_attr': 'seq', 'table_description': 'One message in a channel or a customer conversation.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Reaction',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('message_seq', fields.BigIntField()),
                ('user_id', fields.CharField(max_length=128)),
                ('user_name', fields.CharField(max_length=128)),
                ('emoji', fields.CharField(max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'messages_reaction', 'app': 'messages', 'unique_together': (('message_seq', 'user_id', 'emoji'),), 'pk_attr': 'id', 'table_description': "One user's emoji on one message, at most one per (message, user, emoji)."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ReadPosition',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('organization_id', fields.CharField(max_length=128)),
                ('room', fields.CharField(max_length=400)),
                ('user_id', fields.CharField(max_length=128)),
                ('message_seq', fields.BigIntField()),
                ('message_id', fields.CharField(max_length=64)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'messages_read_position', 'app': 'messages', 'unique_together': (('organization_id', 'room', 'user_id'),), 'pk_attr': 'id', 'table_description': 'The newest message a user has read in a room.'},
            bases=['Model'],
        ),
    ]

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='Greeting',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64)),
                ('organization_id', fields.CharField(max_length=128)),
                ('user_id', fields.CharField(max_length=128)),
                ('name', fields.CharField(max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'hello_greeting', 'app': 'hello', 'indexes': [Index(fields=['organization_id', 'user_id'])], 'pk_attr': 'id', 'table_description': 'One greeting a user sent, kept so the plugin can say how many they have sent.'},
            bases=['Model'],
        ),
    ]

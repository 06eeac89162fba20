"""A channel id belongs to one organization on the whole server (contract section 4).

The unique index is the guard against two organizations creating the same id at once;
the model keeps `unique_together` on (organization_id, channel_id) for its lookups.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("messages", "0001_initial")]

    operations = [
        ops.RunSQL(
            "CREATE UNIQUE INDEX IF NOT EXISTS messages_channel_owned_id "
            "ON messages_channel (channel_id)",
            reverse_sql="DROP INDEX IF EXISTS messages_channel_owned_id",
        ),
    ]

"""At most one call of a room is in progress (contract section 7).

The room's turn already serializes starting a call across nodes; this partial unique index
is the database's own guard, so two calls of one room can never both be in progress even
if the turns were misconfigured (several processes on one database without Redis).
PostgreSQL and SQLite both support partial indexes.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("calls", "0001_initial")]

    operations = [
        ops.RunSQL(
            "CREATE UNIQUE INDEX IF NOT EXISTS calls_call_one_in_progress "
            "ON calls_call (organization_id, room_name) WHERE ended_at IS NULL",
            reverse_sql="DROP INDEX IF EXISTS calls_call_one_in_progress",
        ),
    ]

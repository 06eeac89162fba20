"""A user's channel list with unread and mention counts (issue 28): a tally per channel
(live messages, the newest), an entry per (user, channel) with its read position and kept
counts, and the mentions of others' live messages; the rows of existing data are
backfilled here (users listed: a channel's members, the users with a read position in
it, and its authors)."""

import json
from datetime import UTC, datetime
from typing import Any

from tortoise import fields, migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

LIVE = (
    "FROM messages_message m WHERE m.organization_id = {t}.organization_id "
    "AND m.room = 'channel:' || REPLACE({t}.channel_id, ':', '%3A') AND m.deleted_at IS NULL"
)


async def backfill(apps: Any, schema_editor: Any) -> None:
    client = schema_editor.client
    live = LIVE.format(t="c")
    await client.execute_script(
        "INSERT INTO messages_channel_tally (organization_id, channel_id, live, last_seq) "
        f"SELECT c.organization_id, c.channel_id, (SELECT COUNT(*) {live}), "
        f"COALESCE((SELECT MAX(m.seq) {live}), 0) FROM messages_channel c"
    )
    moment = str(datetime.now(UTC))
    await client.execute_script(
        "INSERT INTO messages_channel_entry (organization_id, channel_id, user_id, read_seq, "
        "read_message_id, read_live, own_after, mentions, created_at) "
        "SELECT u.organization_id, u.channel_id, u.user_id, COALESCE(rp.message_seq, 0), "
        f"rp.message_id, 0, 0, 0, '{moment}' FROM ("
        "SELECT organization_id, channel_id, user_id FROM messages_channel_member UNION "
        "SELECT organization_id, REPLACE(SUBSTR(room, 9), '%3A', ':'), user_id "
        "FROM messages_read_position WHERE room LIKE 'channel:%' UNION "
        "SELECT organization_id, channel_id, user_id FROM messages_message "
        "WHERE channel_id IS NOT NULL AND customer_id IS NULL) u "
        "JOIN messages_channel c ON c.organization_id = u.organization_id "
        "AND c.channel_id = u.channel_id "
        "LEFT JOIN messages_read_position rp ON rp.organization_id = u.organization_id "
        "AND rp.room = 'channel:' || REPLACE(u.channel_id, ':', '%3A') "
        "AND rp.user_id = u.user_id"
    )
    rows = await client.execute_query_dict(
        "SELECT seq, organization_id, channel_id, user_id, mentions FROM messages_message "
        "WHERE channel_id IS NOT NULL AND customer_id IS NULL AND deleted_at IS NULL"
    )
    mentions: list[tuple[int, str, str, str]] = []
    for row in rows:
        named = row["mentions"]
        named = json.loads(named) if isinstance(named, str) else named or []
        for user_id in dict.fromkeys(named):
            if isinstance(user_id, str) and user_id != row["user_id"]:
                mentions.append((row["seq"], row["organization_id"], row["channel_id"], user_id))
    if mentions:
        marks = "?, ?, ?, ?" if client.capabilities.dialect == "sqlite" else "$1, $2, $3, $4"
        await client.execute_many(
            "INSERT INTO messages_mention (message_seq, organization_id, channel_id, user_id) "
            f"VALUES ({marks})",
            [list(m) for m in mentions],
        )
    live = LIVE.format(t="messages_channel_entry")
    mine = "AND m.user_id = messages_channel_entry.user_id"
    await client.execute_script(
        "UPDATE messages_channel_entry SET "
        f"read_live = (SELECT COUNT(*) {live} AND m.seq <= messages_channel_entry.read_seq), "
        f"own_after = (SELECT COUNT(*) {live} {mine} "
        "AND m.seq > messages_channel_entry.read_seq), "
        "mentions = (SELECT COUNT(*) FROM messages_mention x "
        "WHERE x.organization_id = messages_channel_entry.organization_id "
        "AND x.channel_id = messages_channel_entry.channel_id "
        "AND x.user_id = messages_channel_entry.user_id "
        "AND x.message_seq > messages_channel_entry.read_seq)"
    )


class Migration(migrations.Migration):
    dependencies = [("messages", "0003_customer_owners_in_core")]

    operations = [
        ops.CreateModel(
            name="ChannelTally",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("organization_id", fields.CharField(max_length=128)),
                ("channel_id", fields.CharField(max_length=128)),
                ("live", fields.IntField(default=0)),
                ("last_seq", fields.BigIntField(default=0)),
            ],
            options={
                "table": "messages_channel_tally",
                "app": "messages",
                "unique_together": (("organization_id", "channel_id"),),
                "pk_attr": "id",
                "table_description": "A channel's kept counts (issue 28): its live (not deleted) messages and the newest",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="ChannelEntry",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("organization_id", fields.CharField(max_length=128)),
                ("channel_id", fields.CharField(max_length=128)),
                ("user_id", fields.CharField(max_length=128)),
                ("read_seq", fields.BigIntField(default=0)),
                ("read_message_id", fields.CharField(max_length=64, null=True)),
                ("read_live", fields.IntField(default=0)),
                ("own_after", fields.IntField(default=0)),
                ("mentions", fields.IntField(default=0)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "messages_channel_entry",
                "app": "messages",
                "unique_together": (("organization_id", "channel_id", "user_id"),),
                "indexes": [Index(fields=["organization_id", "user_id"])],
                "pk_attr": "id",
                "table_description": "A channel on a user's list (issue 28), with the user's read position and the counts",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Mention",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("message_seq", fields.BigIntField()),
                ("organization_id", fields.CharField(max_length=128)),
                ("channel_id", fields.CharField(max_length=128)),
                ("user_id", fields.CharField(max_length=128)),
            ],
            options={
                "table": "messages_mention",
                "app": "messages",
                "unique_together": (("message_seq", "user_id"),),
                "indexes": [
                    Index(fields=["organization_id", "channel_id", "user_id", "message_seq"])
                ],
                "pk_attr": "id",
                "table_description": "A live channel message mentioning a user who is not its author (issue 28).",
            },
            bases=["Model"],
        ),
        ops.RunPython(backfill, ops.RunPython.noop),
    ]

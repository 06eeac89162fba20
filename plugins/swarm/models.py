"""The swarm plugin's tables (Tortoise app label `swarm`).

A session id belongs to the organization of its first publish: the session row's primary
key is the id itself, so two organizations claiming it at once meet in a unique key. The
row also holds the session's status and its last `seq`, and is locked (`SELECT … FOR
UPDATE` on PostgreSQL) while the next update is numbered, so seqs have no gap on any
number of nodes. Docstrings become table comments: no semicolons in them (SQLite).
"""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model

ID_LENGTH = 128  # contract section 3: ids are 1 to 128 characters


class SwarmSession(Model):
    """One agent session, owned by the organization that first published to it."""

    session_id = fields.CharField(max_length=ID_LENGTH, primary_key=True)
    organization_id = fields.CharField(max_length=ID_LENGTH)
    status = fields.CharField(max_length=16)  # running, completed or failed
    last_seq = fields.BigIntField(default=0)
    created_by = fields.CharField(max_length=ID_LENGTH)  # the service that claimed it
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "swarm_session"


class SwarmUpdate(Model):
    """One published event of a session, numbered by `seq` (1, 2, 3 … per session)."""

    id = fields.BigIntField(primary_key=True)
    session_id = fields.CharField(max_length=ID_LENGTH)
    organization_id = fields.CharField(max_length=ID_LENGTH)
    seq = fields.BigIntField()
    event_id = fields.CharField(max_length=ID_LENGTH, null=True)  # the agent's, for retries
    type = fields.CharField(max_length=32)
    agent = fields.CharField(max_length=128)
    step_id = fields.CharField(max_length=ID_LENGTH, null=True)
    title = fields.TextField(null=True)
    status = fields.CharField(max_length=64, null=True)
    output = fields.TextField(null=True)  # the JSON text of the agent's output
    data: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    published_by = fields.CharField(max_length=ID_LENGTH)  # the service token's user
    published_by_name = fields.CharField(max_length=128)
    created_at = fields.DatetimeField()

    class Meta:
        table = "swarm_update"
        unique_together = (("session_id", "seq"), ("session_id", "event_id"))

"""The calls plugin's tables (Tortoise app label `calls`).

A call belongs to one organization and one roomName: two organizations using the same
roomName have calls of their own. At most one call of a room is in progress (`ended_at`
null), guarded by a partial unique index (migration 0002) besides the room's turn.
Final transcript segments are numbered per call (`sequence`, 1, 2, ...) in the order the
server received them, under the room's turn: that order is the transcript's order.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

ID_LENGTH = 128  # contract section 3: ids are 1 to 128 characters
SERVER_ID_LENGTH = 64  # "call_<uuid7>", "seg_<uuid7>"


class Call(Model):
    """One call of a room: from its first participant to the moment its last one left."""

    id = fields.IntField(primary_key=True)
    call_id = fields.CharField(max_length=SERVER_ID_LENGTH, unique=True)
    organization_id = fields.CharField(max_length=ID_LENGTH)
    room_name = fields.CharField(max_length=ID_LENGTH)
    started_by = fields.CharField(max_length=ID_LENGTH)
    started_at = fields.DatetimeField()
    ended_at = fields.DatetimeField(null=True)
    segments = fields.IntField(default=0)  # final segments stored, the last sequence used

    class Meta:
        table = "calls_call"
        indexes = (("organization_id", "room_name", "started_at"),)


class Participant(Model):
    """A user in a call (all its devices together): when it joined, when it left."""

    id = fields.IntField(primary_key=True)
    call_id = fields.CharField(max_length=SERVER_ID_LENGTH)
    user_id = fields.CharField(max_length=ID_LENGTH)
    user_name = fields.CharField(max_length=ID_LENGTH)
    joined_at = fields.DatetimeField()
    left_at = fields.DatetimeField(null=True)
    left_reason = fields.CharField(max_length=32, null=True)

    class Meta:
        table = "calls_participant"
        unique_together = (("call_id", "user_id"),)


class Segment(Model):
    """One final transcript segment of a call, in the order received (`sequence`)."""

    id = fields.BigIntField(primary_key=True)
    call_id = fields.CharField(max_length=SERVER_ID_LENGTH)
    sequence = fields.IntField()
    segment_id = fields.CharField(max_length=ID_LENGTH)
    user_id = fields.CharField(max_length=ID_LENGTH)
    speaker = fields.CharField(max_length=ID_LENGTH)
    text = fields.TextField()
    confidence = fields.FloatField(null=True)
    start_ms = fields.BigIntField(null=True)
    end_ms = fields.BigIntField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "calls_segment"
        unique_together = (("call_id", "sequence"), ("call_id", "user_id", "segment_id"))

"""Every payload the calls plugin sends, built in one place (the reference's Call Events
keys and contract section 7). Services decide what to send and when; this module only
says how each payload looks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.api import iso, now_iso

if TYPE_CHECKING:
    from datetime import datetime

    from plugins.calls.models import Call, Segment


def participant(user_id: str, user_name: str, joined_at: datetime) -> dict[str, Any]:
    """One entry of `participants`: `{userId, userName, joinedAt}`."""
    return {"userId": user_id, "userName": user_name, "joinedAt": iso(joined_at)}


def joined_ack(call: Call, participants: list[dict[str, Any]]) -> dict[str, Any]:
    """The keys of `call:join`'s ack (the gateway adds `ok: true`)."""
    return {"roomName": call.room_name, "callId": call.call_id, "participants": participants}


def joined(
    call: Call, participants: list[dict[str, Any]], transcript: list[dict[str, Any]], has_more: bool
) -> dict[str, Any]:
    """`call:joined` to the joining socket: the call, who is in it, and its final segments
    so far (the newest `join_transcript_limit`, oldest first, under the page budget;
    `transcriptHasMore` when older ones were left out)."""
    return {
        "roomName": call.room_name,
        "callId": call.call_id,
        "timestamp": now_iso(),
        "startedAt": iso(call.started_at),
        "participants": participants,
        "transcript": transcript,
        "transcriptHasMore": has_more,
    }


def participant_joined(
    room_name: str, call_id: str, user_id: str, user_name: str
) -> dict[str, Any]:
    """`call:participant_joined` to the others in the call."""
    return {
        "roomName": room_name,
        "callId": call_id,
        "userId": user_id,
        "userName": user_name,
        "timestamp": now_iso(),
    }


def participant_left(
    room_name: str, call_id: str | None, user_id: str, user_name: str, reason: str
) -> dict[str, Any]:
    """`call:participant_left` to the others; `reason` is `left` or `disconnected`."""
    return {
        "roomName": room_name,
        "callId": call_id,
        "userId": user_id,
        "userName": user_name,
        "reason": reason,
        "timestamp": now_iso(),
    }


def segment_out(
    room_name: str,
    call_id: str,
    segment_id: str,
    user_id: str,
    user_name: str,
    data: dict[str, Any],
    timestamp: str,
) -> dict[str, Any]:
    """`transcription:segment` to everyone in the call, the sender included. `data` is
    the validated segment as the client sent it."""
    return {
        "speaker": data["speaker"],
        "text": data["text"],
        "isFinal": data["isFinal"],
        "timestamp": timestamp,
        "confidence": data["confidence"],
        "roomName": room_name,
        "callId": call_id,
        "segmentId": segment_id,
        "userId": user_id,
        "userName": user_name,
        "startMs": data["startMs"],
        "endMs": data["endMs"],
    }


def stored_segment(row: Segment) -> dict[str, Any]:
    """A final segment as the transcript (HTTP, `call:transcript`, and `call:joined`'s
    `transcript`) carries it; `sequence` is its number in the call, the cursor of pages."""
    return {
        "sequence": row.sequence,
        "segmentId": row.segment_id,
        "speaker": row.speaker,
        "text": row.text,
        "confidence": row.confidence,
        "startMs": row.start_ms,
        "endMs": row.end_ms,
        "userId": row.user_id,
        "timestamp": iso(row.created_at),
    }


def transcript(call: Call, segments: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    """A page of a call's transcript: `GET /api/v1/calls/{roomName}/transcript` as JSON,
    and `call:transcript`'s ack keys; `hasMore` when more segments exist beyond the page
    in its direction."""
    return {
        "roomName": call.room_name,
        "callId": call.call_id,
        "startedAt": iso(call.started_at),
        "endedAt": iso(call.ended_at) if call.ended_at is not None else None,
        "segments": segments,
        "hasMore": has_more,
    }


def call_event(call: Call, user_id: str, user_name: str) -> dict[str, Any]:
    """The data of `call.started` and `call.participant_joined`."""
    return {
        "roomName": call.room_name,
        "callId": call.call_id,
        "userId": user_id,
        "userName": user_name,
    }


def call_ended_event(
    call: Call, user_id: str | None = None, user_name: str | None = None
) -> dict[str, Any]:
    """The data of `call.ended`: who left last (None when the server ended a call no one
    was in any more)."""
    assert call.ended_at is not None
    return {
        "roomName": call.room_name,
        "callId": call.call_id,
        "startedAt": iso(call.started_at),
        "endedAt": iso(call.ended_at),
        "segments": call.segments,
        "userId": user_id,
        "userName": user_name,
    }

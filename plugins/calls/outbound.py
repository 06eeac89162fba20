"""The schemas of the calls plugin's server→client events (the reference's keys, and the
ones the server adds), declared with `events.emits` for the AsyncAPI document
(`payloads.py` builds them)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from core.api import EventRegistrar, Outbound, Timestamp


class Participant(BaseModel):
    userId: str
    userName: str
    joinedAt: Timestamp


class StoredSegment(Outbound):
    sequence: int
    segmentId: str
    speaker: str
    text: str
    confidence: float | None
    startMs: int | None
    endMs: int | None
    userId: str
    timestamp: Timestamp


class Joined(Outbound):
    """To the socket that joined a call: the call, who is in it, and its newest final
    segments, oldest first, under 1 MB of JSON (`transcriptHasMore` when older ones were
    left out: `call:transcript {roomName, before: transcript[0].sequence}` reads them)."""

    roomName: str
    callId: str
    timestamp: Timestamp
    startedAt: Timestamp
    participants: list[Participant]
    transcript: list[StoredSegment]
    transcriptHasMore: bool


class ParticipantJoined(Outbound):
    """A user joined the call (first device): to the others in it."""

    roomName: str
    callId: str
    userId: str
    userName: str
    timestamp: Timestamp


class ParticipantLeft(Outbound):
    """A user left the call (last device): to the others; `reason` `left` or
    `disconnected`."""

    roomName: str
    callId: str | None
    userId: str
    userName: str
    reason: Literal["left", "disconnected"] | str
    timestamp: Timestamp


class Segment(Outbound):
    """A transcription segment: to everyone in the call, the sender included; interim
    and final segments of one utterance share `segmentId`."""

    speaker: str
    text: str
    isFinal: bool
    timestamp: Timestamp
    confidence: float | None
    roomName: str
    callId: str
    segmentId: str
    userId: str
    userName: str
    startMs: int | None
    endMs: int | None


def register(events: EventRegistrar) -> None:
    events.emits("call:joined", Joined)
    events.emits("call:participant_joined", ParticipantJoined)
    events.emits("call:participant_left", ParticipantLeft)
    events.emits("transcription:segment", Segment)

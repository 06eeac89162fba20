"""The domain events the calls plugin publishes, with their data schemas.

Declared through `lvng_register_domain_events`; `platform.publish` checks every event
against its model, and `lvng plugins` lists them. Every event names the call
(`roomName`, `callId`); the organization is the event's own. Extra keys are refused, so
the models are the whole contract.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from core.api import DomainEventRegistrar


class CallRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    roomName: str
    callId: str


class Someone(CallRef):
    userId: str
    userName: str


class SomeoneLeft(Someone):
    reason: str  # "left" or "disconnected"


class Ended(CallRef):
    startedAt: str
    endedAt: str
    segments: int  # final segments stored
    userId: str | None  # the last participant to leave (null: ended as abandoned at start)
    userName: str | None


class FinalSegment(Someone):
    """A final segment stored; `userId` / `userName` are its sender."""

    sequence: int
    segment: dict[str, Any]  # as the transcript carries it


EVENTS: dict[str, tuple[type[BaseModel], str]] = {
    "call.started": (Someone, "a call started with its first participant (userId)"),
    "call.ended": (Ended, "a call ended: its last participant left"),
    "call.participant_joined": (Someone, "a user's first socket joined a call"),
    "call.participant_left": (SomeoneLeft, "a user's last socket left a call"),
    "call.transcript_segment": (FinalSegment, "a final transcript segment was stored"),
}


def register(events: DomainEventRegistrar) -> None:
    for name, (schema, description) in EVENTS.items():
        events.add(name, schema, description)

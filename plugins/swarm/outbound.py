"""The schemas of the swarm plugin's server→client events, declared with `events.emits`
for the AsyncAPI document (`payloads.py` builds them)."""

from __future__ import annotations

from typing import Any, Literal

from core.api import EventRegistrar, Outbound, Timestamp


class Update(Outbound):
    """One published session event, numbered: to the session's subscribers."""

    sessionId: str
    seq: int
    type: Literal[
        "session.started",
        "step.started",
        "step.completed",
        "step.failed",
        "session.completed",
        "session.failed",
    ]
    agent: str
    stepId: str | None
    title: str | None
    status: str | None
    output: Any
    data: dict[str, Any] | None
    timestamp: Timestamp
    eventId: str | None


class SessionRef(Outbound):
    """To the socket that subscribed (or unsubscribed)."""

    sessionId: str


class State(Outbound):
    """To a new subscriber, after `swarm:subscribed`: the status and the updates published
    before (after `afterSeq` when given; at most 500, `hasMore`)."""

    sessionId: str
    status: Literal["pending", "running", "completed", "failed"]
    updates: list[Update]
    hasMore: bool


def register(events: EventRegistrar) -> None:
    events.emits("swarm:subscribed", SessionRef)
    events.emits("swarm:unsubscribed", SessionRef, "To the socket that unsubscribed.")
    events.emits("swarm:state", State)
    events.emits("swarm:update", Update)

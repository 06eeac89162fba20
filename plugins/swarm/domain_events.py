"""The domain events the swarm plugin publishes, with their data schemas.

A session event whose `data` carries a `customerId` is published as `swarm.{type}`
(`swarm.session.completed`, `swarm.step.started`, …) once it is stored and told to the
subscribers; the activity feed makes items of them. The data is the update as
`swarm:update` carries it, plus `customerId`, the session's status after the event
(`sessionStatus`) and the service user that published it (`userId`, `userName`). Extra
keys are refused, so the model is the whole contract.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from core.api import DomainEventRegistrar


class SwarmEvent(BaseModel):
    """One stored session event about a customer."""

    model_config = ConfigDict(extra="forbid")

    sessionId: str
    customerId: str
    seq: int
    type: str
    agent: str
    stepId: str | None
    title: str | None
    status: str | None
    output: Any
    data: dict[str, Any]
    timestamp: str
    eventId: str | None
    sessionStatus: str
    userId: str
    userName: str


EVENTS: dict[str, str] = {
    "swarm.session.started": "an agent session about a customer started",
    "swarm.step.started": "an agent started a step of a session about a customer",
    "swarm.step.completed": "an agent completed a step of a session about a customer",
    "swarm.step.failed": "a step of an agent session about a customer failed",
    "swarm.session.completed": "an agent session about a customer completed",
    "swarm.session.failed": "an agent session about a customer failed",
}


def name_of(event_type: str) -> str:
    """The domain event of an update's type: `session.completed` → `swarm.session.completed`."""
    return f"swarm.{event_type}"


def register(events: DomainEventRegistrar) -> None:
    for name, description in EVENTS.items():
        events.add(name, SwarmEvent, description)

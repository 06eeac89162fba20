"""Payload models of the swarm plugin's client events, HTTP body and query string.

Limits follow contract section 3 (ids of `[A-Za-z0-9_.:-]`, 1 to 128 characters). Extra
keys are ignored; who published is taken from the token, never from the body.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from core.api import ID_PATTERN, is_valid_id

STATE_LIMIT = 500  # updates in one swarm:state, and in one GET page (contract section 8)

Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
EventType = Literal[
    "session.started",
    "step.started",
    "step.completed",
    "step.failed",
    "session.completed",
    "session.failed",
]


# Text, trimmed, of at least one character (none for Title) and at most as many as named.
Agent = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=0, max_length=500)]
Status = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class Payload(BaseModel):
    model_config = ConfigDict(extra="ignore")


class PublishEvent(Payload):
    """The body of `POST /api/v1/swarm/sessions/{sessionId}/events`."""

    type: EventType
    agent: Agent
    stepId: Id | None = None
    title: Title | None = None
    status: Status | None = None
    output: Any = None
    data: dict[str, Any] = Field(default_factory=dict)
    eventId: Id | None = None

    @field_validator("data")
    @classmethod
    def _customer_is_an_id(cls, value: dict[str, Any]) -> dict[str, Any]:
        if (
            "customerId" in value
            and value["customerId"] is not None
            and not is_valid_id(value["customerId"])
        ):
            raise ValueError("data.customerId must be 1 to 128 characters of A-Z a-z 0-9 _ . : -")
        return value

    @property
    def customer_id(self) -> str | None:
        """The customer this event is about, when its data names one."""
        return self.data.get("customerId")


class Subscribe(Payload):
    """`swarm:subscribe`: the updates after `afterSeq` (all when absent), then live."""

    sessionId: Id
    afterSeq: Annotated[int, Field(ge=0, strict=True)] | None = None


class SessionRef(Payload):
    """`swarm:unsubscribe`."""

    sessionId: Id


class ReadQuery(Payload):
    """`?afterSeq=&limit=` of `GET /api/v1/swarm/sessions/{sessionId}`; `limit` defaults
    to the `read_page` setting."""

    afterSeq: int = Field(0, ge=0)
    limit: int | None = Field(None, ge=1, le=STATE_LIMIT)

"""Payload models of the activity plugin's client events, HTTP body and query string.

Limits are the contract's (section 3): ids of 1 to 128 of `[A-Za-z0-9_.:-]`; extra keys
are ignored; who acts comes from the token.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from core.api import ID_PATTERN

PAGE = 20
MAX_PAGE = 100
MAX_DATA_BYTES = 16_384
TYPE_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"

Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
ItemType = Annotated[str, StringConstraints(pattern=TYPE_PATTERN)]


def _trimmed(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


Summary = Annotated[str, BeforeValidator(_trimmed), StringConstraints(min_length=1, max_length=500)]
Name = Annotated[str, BeforeValidator(_trimmed), StringConstraints(min_length=1, max_length=128)]


def _small_json(value: dict[str, Any]) -> dict[str, Any]:
    if len(json.dumps(value, separators=(",", ":"))) > MAX_DATA_BYTES:
        raise ValueError(f"data is larger than {MAX_DATA_BYTES} bytes as JSON")
    return value


class Payload(BaseModel):
    model_config = ConfigDict(extra="ignore")


class CustomerRef(Payload):
    """`activity:subscribe` and `activity:unsubscribe`."""

    customerId: Id


class Read(CustomerRef):
    """`activity:read`: the newest item the user has seen."""

    itemId: Id


class Subject(Payload):
    type: ItemType
    id: Id


class NewItem(Payload):
    """`POST /api/v1/customers/{customerId}/activity` (a `service` token)."""

    type: ItemType
    summary: Summary
    actorId: Id | None = None
    actorName: Name | None = None
    subject: Subject | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    @field_validator("data")
    @classmethod
    def _small_data(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _small_json(value)


class PageQuery(Payload):
    """`GET /api/v1/customers/{customerId}/activity?before=&limit=`."""

    before: Id | None = None
    limit: int = Field(PAGE, ge=1, le=MAX_PAGE)

"""Payload models of the presence plugin's client events.

Extra keys are ignored, and so is anything a client says about who it is: the identity
comes from the token.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from core.api import ID_PATTERN

Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]

Status = Literal["online", "away", "busy", "offline"]
MAX_TEXT = 256


class UpdatePresence(BaseModel):
    """`presence:update {status?, customStatus?, statusText?}`: a key left out keeps its
    value (the status too: `{customStatus}` alone keeps the chosen status), `null` clears
    the texts."""

    model_config = ConfigDict(extra="ignore")

    # Left out: the status the user chose stays. `null` is refused (a status is never unset).
    # Pydantic's "optional, not nullable": None is the default (never validated, and never
    # read: presence reads `status` only when it is in `model_fields_set`), which the type
    # cannot say without also letting a client send null (`Status | None`), nor without
    # `anyOf [..., null]` in the AsyncAPI document and `| null` in lvng.d.ts.
    status: Status = Field(None, description="left out: the status the user chose stays")  # type: ignore[arg-type]
    customStatus: str | None = Field(None, max_length=MAX_TEXT)
    statusText: str | None = Field(None, max_length=MAX_TEXT)


class Empty(BaseModel):
    """`presence:heartbeat` and `presence:list` take nothing (an object, if anything)."""

    model_config = ConfigDict(extra="ignore")


MAX_IDS = 500  # per presence:subscribe / presence:unsubscribe call
MAX_PAGE = 500  # users per presence:list page


class UserIds(BaseModel):
    """`presence:subscribe {userIds}` and `presence:unsubscribe {userIds}`: 1 to 500 ids of
    the caller's organization (a socket holds at most 2,000 subscriptions)."""

    model_config = ConfigDict(extra="ignore")

    userIds: list[Id] = Field(min_length=1, max_length=MAX_IDS)


class ListPresence(BaseModel):
    """`presence:list {limit?, cursor?}` and `GET /api/v1/presence?limit=&cursor=`."""

    model_config = ConfigDict(extra="ignore")

    limit: int = Field(MAX_PAGE, ge=1, le=MAX_PAGE)
    cursor: Id | None = Field(None, description="the nextCursor of the page before")

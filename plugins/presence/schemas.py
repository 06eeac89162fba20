"""Payload models of the presence plugin's client events.

Extra keys are ignored, and so is anything a client says about who it is: the identity
comes from the token.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Status = Literal["online", "away", "busy", "offline"]
MAX_TEXT = 256


class UpdatePresence(BaseModel):
    """`presence:update {status?, customStatus?, statusText?}`: a key left out keeps its
    value (the status too: `{customStatus}` alone keeps the chosen status), `null` clears
    the texts."""

    model_config = ConfigDict(extra="ignore")

    # Left out: the status the user chose stays. `null` is refused (a status is never unset).
    status: Status = Field(None, description="left out: the status the user chose stays")
    customStatus: str | None = Field(None, max_length=MAX_TEXT)
    statusText: str | None = Field(None, max_length=MAX_TEXT)


class Empty(BaseModel):
    """`presence:heartbeat` and `presence:list` take nothing (an object, if anything)."""

    model_config = ConfigDict(extra="ignore")

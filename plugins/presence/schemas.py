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

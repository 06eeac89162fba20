"""The `[plugins.calls]` settings, validated by the core at start (`lvng_settings`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

MAX_JOIN_TRANSCRIPT = 500  # contract section 7: a late joiner gets at most 500 segments


class CallsSettings(BaseModel):
    """The `[plugins.calls]` table of the config."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    join_transcript_limit: int = Field(MAX_JOIN_TRANSCRIPT, ge=0, le=MAX_JOIN_TRANSCRIPT)
    metrics_refresh_seconds: float = Field(15.0, gt=0, le=3600)

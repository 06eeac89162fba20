"""The `[plugins.presence]` settings, validated by the core at start (`lvng_settings`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class PresenceSettings(BaseModel):
    """The `[plugins.presence]` table of the config (seconds; fractions allowed)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    away_after_seconds: float = Field(120.0, gt=0, le=86_400)
    offline_grace_seconds: float = Field(10.0, ge=0, le=3_600)

"""The `[plugins.presence]` settings, validated by the core at start (`lvng_settings`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class PresenceSettings(BaseModel):
    """The `[plugins.presence]` table of the config (seconds; fractions allowed)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    away_after_seconds: float = Field(120.0, gt=0, le=86_400)
    offline_grace_seconds: float = Field(10.0, ge=0, le=3_600)
    # Above this many online users an organization's presence changes go to subscribers
    # and the user's own devices only; back to the whole organization under 90 % of it.
    org_broadcast_limit: int = Field(1000, ge=0, le=10_000_000)
    # Changes to subscribers of a large organization wait this long (milliseconds) so that
    # a user's changes within it leave as one (0: at once).
    coalesce_ms: float = Field(50.0, ge=0, le=5_000)

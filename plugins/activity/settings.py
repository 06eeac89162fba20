"""The `[plugins.activity]` settings, validated by the core at start (`lvng_settings`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ActivitySettings(BaseModel):
    """The `[plugins.activity]` table of the config."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # How many of the newest items `activity:subscribed` carries (contract: 20).
    subscribe_items: int = Field(20, ge=1, le=100)
    # Items from domain events written at once on a node: a stuck activity table then
    # holds at most this many of the database connections the other plugins share.
    item_writers: int = Field(2, ge=1, le=16)
    # How long shutdown waits for items still being made from domain events.
    drain_seconds: float = Field(5.0, ge=0, le=60)

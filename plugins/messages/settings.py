"""The `[plugins.messages]` settings, validated by the core at start (`lvng_settings`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class MessagesSettings(BaseModel):
    """The `[plugins.messages]` table of the config."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    auto_create_channels: bool = True
    typing_timeout_seconds: float = Field(10.0, gt=0, le=600)
    read_coalesce_ms: float = Field(500.0, ge=0, le=60_000)
    idempotency_hours: float = Field(24.0, gt=0, le=24 * 30)

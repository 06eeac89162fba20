"""The `[plugins.swarm]` settings, validated by the core at start (`lvng_settings`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SwarmSettings(BaseModel):
    """The `[plugins.swarm]` table of the config."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    read_page: int = Field(100, ge=1, le=500)  # GET …/sessions/{id} without `limit`
    max_event_bytes: int = Field(64 * 1024, ge=1024, le=512 * 1024)  # output + data, as JSON

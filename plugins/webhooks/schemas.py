"""Inbound models: the admin listing's query string."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class ListQuery(BaseModel):
    """`GET /api/v1/admin/webhooks?state=`: failed and pending (the default), or one."""

    model_config = ConfigDict(extra="forbid")

    state: Literal["failed", "pending", "delivered", "open"] = "open"

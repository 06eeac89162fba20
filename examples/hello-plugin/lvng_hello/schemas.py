"""Payloads of the hello plugin's client events."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Greet(BaseModel):
    """`hello:greet {name}`: whom to greet."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=64)

"""Payloads of the hello plugin's client events, and of the event it sends back."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from core.api import Outbound, Timestamp


class Greet(BaseModel):
    """`hello:greet {name}`: whom to greet."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=64)


class Greeted(Outbound):
    """To the greeting socket: the greeting, and how many its user has made."""

    id: str = Field(description="the stored greeting's id: grt_ and a UUIDv7")
    name: str
    greeting: str
    count: int
    userId: str
    createdAt: Timestamp

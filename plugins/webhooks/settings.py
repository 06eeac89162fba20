"""The `[plugins.webhooks]` settings, validated by the core at start (`lvng_settings`).

[plugins.webhooks]
retry_initial_seconds = 5
retry_max_seconds = 3600
give_up_after_seconds = 86400
timeout_seconds = 10

[[plugins.webhooks.endpoints]]
url = "https://app.example.com/lvng-webhooks"
secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
events = ["message.created", "swarm.session.failed"]   # or ["*"]
organizations = ["acme"]                               # optional: only these
"""

from __future__ import annotations

import base64
import binascii

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SECRET_PREFIX = "whsec_"


def secret_bytes(secret: str) -> bytes:
    """The key a `whsec_…` secret names (Standard Webhooks: base64 after the prefix)."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)


class Endpoint(BaseModel):
    """One `[[plugins.webhooks.endpoints]]` table: where to POST which events."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(pattern=r"^https?://\S+$", max_length=2000)
    secret: str
    # Domain event names (`lvng plugins --json` lists them), "*" for all.
    events: tuple[str, ...] = ("*",)
    # Only these organizations' events; none: every organization's.
    organizations: tuple[str, ...] | None = None
    # What the outbox and the inspection page call it; the url when not given.
    name: str | None = Field(None, min_length=1, max_length=128)

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: str) -> str:
        if not value.startswith(SECRET_PREFIX):
            raise ValueError("must start with whsec_ (Standard Webhooks)")
        try:
            key = secret_bytes(value)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("must be whsec_ followed by base64") from exc
        if len(key) < 16:
            raise ValueError("the key after whsec_ must be at least 16 bytes")
        return value

    @field_validator("events")
    @classmethod
    def _events(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError('list at least one event name, or "*"')
        return value

    @property
    def key(self) -> str:
        return (self.name or self.url)[:128]

    def wants(self, name: str, organization_id: str) -> bool:
        if "*" not in self.events and name not in self.events:
            return False
        return self.organizations is None or organization_id in self.organizations


class WebhooksSettings(BaseModel):
    """The `[plugins.webhooks]` table of the config."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    endpoints: tuple[Endpoint, ...] = ()
    # The first retry's delay; each next one doubles, with jitter, up to retry_max_seconds.
    retry_initial_seconds: float = Field(5.0, gt=0, le=86400)
    retry_max_seconds: float = Field(3600.0, gt=0, le=7 * 86400)
    # After this long without an accepting answer a delivery is kept as failed.
    give_up_after_seconds: float = Field(86400.0, gt=0, le=30 * 86400)
    # One POST's whole time: connecting, sending, the answer.
    timeout_seconds: float = Field(10.0, gt=0, le=300)
    # How often a node looks for due deliveries written by other nodes (its own wake it).
    poll_seconds: float = Field(1.0, gt=0, le=60)
    # Delivered rows are deleted this long after they were accepted (failed ones are kept
    # until resent); 0 keeps them.
    keep_delivered_seconds: float = Field(7 * 86400.0, ge=0)
    # POSTs in flight at once to one endpoint (one per room at most, for order).
    concurrency_per_endpoint: int = Field(8, ge=1, le=256)

    @model_validator(mode="after")
    def _distinct(self) -> WebhooksSettings:
        keys = [endpoint.key for endpoint in self.endpoints]
        if len(keys) != len(set(keys)):
            raise ValueError("two endpoints with one name (or url): give each a name")
        if self.retry_max_seconds < self.retry_initial_seconds:
            raise ValueError("retry_max_seconds must be at least retry_initial_seconds")
        return self

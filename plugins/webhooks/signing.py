"""Standard Webhooks signatures (https://www.standardwebhooks.com/): the three headers
of one attempt, so an app verifies it with the `standardwebhooks` library of its language.

    webhook-id:        the event's id, the same on every attempt
    webhook-timestamp: the attempt's time, integer seconds since the epoch
    webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from plugins.webhooks.settings import secret_bytes


def signature(key: bytes, event_id: str, timestamp: int, body: str) -> str:
    signed = f"{event_id}.{timestamp}.{body}".encode()
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret: str, event_id: str, timestamp: int, body: str) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret_bytes(secret), event_id, timestamp, body),
    }

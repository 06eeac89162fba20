"""Every payload the presence plugin sends, built in one place (the reference's Presence
table, contract section 6)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.api import iso_from_epoch, now_iso

if TYPE_CHECKING:
    from plugins.presence.records import PresenceRecord


def update(user_id: str, record: PresenceRecord) -> dict[str, Any]:
    """`presence:update` to `org:{organizationId}` (or, in a large organization, to the
    user's subscribers and own devices), and the `presence:update` ack."""
    return {
        "userId": user_id,
        "userName": record.user_name,
        "status": record.status,
        "customStatus": record.custom_status,
        "statusText": record.status_text,
        "timestamp": now_iso(),
    }


def listed(
    user_id: str,
    user_name: str,
    status: str,
    custom_status: str | None,
    status_text: str | None,
    last_seen: float,
) -> dict[str, Any]:
    """One user of `presence:list` and `GET /api/v1/presence`."""
    return {
        "userId": user_id,
        "userName": user_name,
        "status": status,
        "customStatus": custom_status,
        "statusText": status_text,
        "lastSeen": iso_from_epoch(last_seen),
    }


def unknown(user_id: str) -> dict[str, Any]:
    """A subscribed id presence has no record of in the caller's organization: a user
    never seen, or no one (`presence:subscribe`'s ack). It tells nothing more."""
    return {
        "userId": user_id,
        "userName": None,
        "status": "offline",
        "customStatus": None,
        "statusText": None,
        "lastSeen": None,
    }

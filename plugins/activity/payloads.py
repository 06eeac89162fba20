"""Every payload the activity plugin sends, built in one place (contract section 8).
Services decide what to send and when; this module only says how each payload looks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.api import iso

if TYPE_CHECKING:
    from plugins.activity.models import ActivityItem


def item(row: ActivityItem) -> dict[str, Any]:
    """An item as `activity:new`, `activity:subscribed`, pages and the POST answer carry it."""
    return {
        "id": row.item_id,
        "customerId": row.customer_id,
        "type": row.type,
        "actorId": row.actor_id,
        "actorName": row.actor_name,
        "summary": row.summary,
        "subject": {"type": row.subject_type, "id": row.subject_id},
        "data": row.data,
        "createdAt": iso(row.created_at),
    }


def subscribed(
    customer_id: str, items: list[dict[str, Any]], has_more: bool, unread: int
) -> dict[str, Any]:
    """`activity:subscribed` to the subscriber: the newest items first (`hasMore`: older
    ones were left out; the HTTP page reads them)."""
    return {"customerId": customer_id, "items": items, "hasMore": has_more, "unreadCount": unread}


def unsubscribed(customer_id: str) -> dict[str, Any]:
    return {"customerId": customer_id}


def unread(customer_id: str, count: int) -> dict[str, Any]:
    """`activity:unread` to the reader's other sockets subscribed to the customer."""
    return {"customerId": customer_id, "unreadCount": count}


def page(customer_id: str, items: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    """A page of the feed over HTTP, newest first."""
    return {"customerId": customer_id, "items": items, "hasMore": has_more}

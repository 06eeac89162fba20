"""The schemas of the activity plugin's server→client events, declared with
`events.emits` for the AsyncAPI document (`payloads.py` builds them)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from core.api import EventRegistrar, Outbound, Timestamp


class Subject(BaseModel):
    type: str | None
    id: str | None


class Item(Outbound):
    """A new item of a customer's feed: to the customer's subscribers."""

    id: str
    customerId: str
    type: str
    actorId: str | None
    actorName: str | None
    summary: str
    subject: Subject
    data: dict[str, Any] | None
    createdAt: Timestamp


class Subscribed(Outbound):
    """To the socket that subscribed: the latest 20 items, newest first (fewer when they
    would pass 1 MB of JSON; `hasMore` when older ones exist), and its user's unread
    count."""

    customerId: str
    items: list[Item]
    hasMore: bool
    unreadCount: int


class Unsubscribed(Outbound):
    """To the socket that unsubscribed."""

    customerId: str


class Unread(Outbound):
    """The reader's unread count changed: to the user's other sockets subscribed to the
    customer, so badges agree across tabs."""

    customerId: str
    unreadCount: int


def register(events: EventRegistrar) -> None:
    events.emits("activity:new", Item)
    events.emits("activity:subscribed", Subscribed)
    events.emits("activity:unsubscribed", Unsubscribed)
    events.emits("activity:unread", Unread)

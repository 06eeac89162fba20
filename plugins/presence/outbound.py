"""The schema of the presence plugin's server→client event, declared with `events.emits`
for the AsyncAPI document (`payloads.py` builds it)."""

from __future__ import annotations

from typing import Literal

from core.api import EventRegistrar, Outbound, Timestamp


class PresenceUpdate(Outbound):
    """A user's presence changed (first device online, a chosen status, away after no
    activity, offline after the grace): to `org:{organizationId}`; in an organization past
    `org_broadcast_limit` online users, to the sockets subscribed to the user
    (`presence:subscribe`) and the user's own devices only."""

    userId: str
    userName: str
    status: Literal["online", "away", "busy", "offline"]
    customStatus: str | None
    statusText: str | None
    timestamp: Timestamp


def register(events: EventRegistrar) -> None:
    events.emits("presence:update", PresenceUpdate)

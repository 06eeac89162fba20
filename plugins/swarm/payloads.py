"""Every payload the swarm plugin sends, built in one place (contract section 8): the
update as `swarm:update`, `swarm:state`, the HTTP answers and the domain events carry it."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from core.api import iso

if TYPE_CHECKING:
    from plugins.swarm.models import SwarmUpdate


def update(row: SwarmUpdate) -> dict[str, Any]:
    """One update: `swarm:update`, an item of `swarm:state` and of GET, the POST answer."""
    return {
        "sessionId": row.session_id,
        "seq": row.seq,
        "type": row.type,
        "agent": row.agent,
        "stepId": row.step_id,
        "title": row.title,
        "status": row.status,
        "output": None if row.output is None else json.loads(row.output),
        "data": row.data,
        "timestamp": iso(row.created_at),
        "eventId": row.event_id,
    }


def session_ref(session_id: str) -> dict[str, Any]:
    """`swarm:subscribed` / `swarm:unsubscribed`."""
    return {"sessionId": session_id}


def state(
    session_id: str, status: str, updates: list[dict[str, Any]], has_more: bool
) -> dict[str, Any]:
    """`swarm:state` to a subscriber, and the GET answer."""
    return {"sessionId": session_id, "status": status, "updates": updates, "hasMore": has_more}


def domain_event(
    described: dict[str, Any], session_status: str, customer_id: str, user_id: str, user_name: str
) -> dict[str, Any]:
    """The data of a `swarm.*` domain event: the update, the session's status after it,
    the customer it is about, and who published it (the service token's user)."""
    return {
        **described,
        "customerId": customer_id,
        "sessionStatus": session_status,
        "userId": user_id,
        "userName": user_name,
    }

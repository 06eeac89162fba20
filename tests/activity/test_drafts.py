"""What the activity plugin reads of other plugins' domain events: only the keys it needs,
so the swarm plugin's fuller data (as being built for issue 12) makes the same item."""

from __future__ import annotations

from core.api import DomainEvent
from plugins.activity.feed import Draft
from plugins.activity.sources import draft_of


def event(name: str, **data) -> DomainEvent:
    return DomainEvent(name, "acme", data, "swarm")


def test_a_swarm_event_with_the_swarm_plugins_full_data():
    data = {
        "sessionId": "sess-9",
        "customerId": "cust-1",
        "seq": 4,
        "type": "session.completed",
        "agent": "planner",
        "stepId": None,
        "title": "Plan ready",
        "status": "ok",
        "output": {"x": 1},
        "data": {},
        "timestamp": "2026-03-19T12:00:00.000Z",
        "eventId": None,
        "sessionStatus": "completed",
        "userId": "svc",
        "userName": "Service",
    }
    assert draft_of(event("swarm.session.completed", **data)) == (
        "cust-1",
        Draft(
            "swarm.session.completed",
            "Swarm session sess-9 completed",
            "planner",
            "planner",
            "swarm_session",
            "sess-9",
            {"sessionId": "sess-9", "status": "completed", "title": "Plan ready"},
        ),
        False,
    )


def test_a_customer_id_inside_the_events_data_counts_too():
    found = draft_of(
        event("swarm.session.failed", sessionId="s", agent="a b", data={"customerId": "cust-2"})
    )
    assert found == (
        "cust-2",
        Draft(
            "swarm.session.failed",
            "Swarm session s failed",
            None,
            None,
            "swarm_session",
            "s",
            {"sessionId": "s", "status": "failed"},
        ),
        False,
    )


def test_events_that_make_no_item():
    assert draft_of(event("swarm.session.completed", sessionId="s")) is None
    assert draft_of(event("swarm.session.completed", sessionId="s", customerId="not an id")) is None
    assert draft_of(event("swarm.step.completed", sessionId="s", customerId="c")) is None
    assert (
        draft_of(
            event(
                "message.created",
                channelId="general",
                conversationId=None,
                customerId=None,
                userId="u",
                userName="U",
                messageId="m",
                message={},
            )
        )
        is None
    )
    assert (
        draft_of(
            event(
                "message.deleted",
                channelId=None,
                conversationId="v",
                customerId="c",
                userId="u",
                userName="U",
                messageId="m",
            )
        )
        is None
    )

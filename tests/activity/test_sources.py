"""Swarm sessions as a source (contract section 8), through a stand-in plugin that
publishes `swarm.session.completed` / `swarm.session.failed` as the swarm plugin will:
the activity plugin knows them by name only."""

from __future__ import annotations

import pytest

from tests.activity.support import SWARM_SOURCE, item_like, post_item, subscribed, uid
from tests.live import PROBE_PLUGIN


@pytest.fixture(scope="module")
def swarm_server(start_server, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("swarm")
    (workdir / "lvng.toml").write_text("[plugins.activity]\nitem_writers = 1\n")
    return start_server(
        {"LVNG_PLUGIN_MODULES": f"{PROBE_PLUGIN},{SWARM_SOURCE}", "LVNG_DISABLED_PLUGINS": "swarm"},
        ["--config", str(workdir / "lvng.toml")],
        workdir,
    )


async def end(client, **payload):
    ack = await client.call("swarmsource:end", payload)
    assert ack["ok"] is True, ack


async def test_a_swarm_session_ending_for_a_customer_is_an_item(swarm_server):
    org, customer = uid("org"), uid("cust")
    viewer, _ = await subscribed(swarm_server, org, customer, "viewer")
    agent = await swarm_server.connect("agent-runner", org, roles=["service"])

    await end(
        agent,
        sessionId="sess-1",
        customerId=customer,
        status="completed",
        agent="planner",
        title="Onboarding plan",
    )
    item_like(
        await viewer.next("activity:new"),
        customerId=customer,
        type="swarm.session.completed",
        actorId="planner",
        actorName="planner",
        summary="Swarm session sess-1 completed",
        subject={"type": "swarm_session", "id": "sess-1"},
        data={"sessionId": "sess-1", "status": "completed", "title": "Onboarding plan"},
    )
    # A session of no customer makes no item; the next item is the failed session's.
    await end(agent, sessionId="sess-2", status="completed", agent="planner")
    await end(agent, sessionId="sess-3", customerId=customer, status="failed", agent="fixer")
    item_like(
        await viewer.next("activity:new"),
        customerId=customer,
        type="swarm.session.failed",
        actorId="fixer",
        actorName="fixer",
        summary="Swarm session sess-3 failed",
        subject={"type": "swarm_session", "id": "sess-3"},
        data={"sessionId": "sess-3", "status": "failed"},
    )
    assert viewer.unread("activity:new") == []


async def test_a_swarm_event_never_claims_a_customer(swarm_server):
    """An agent writes the customerId: it makes an item only in a feed its organization
    already owns."""
    org, other_org, unclaimed, owned = uid("org"), uid("org"), uid("cust"), uid("cust")
    viewer, _ = await subscribed(swarm_server, org, owned, "viewer")
    dropped = await swarm_server.metric(
        "lvng_activity_items_dropped_total", type="swarm.session.completed"
    )
    agent = await swarm_server.connect("agent-runner", other_org, roles=["service"])
    await end(agent, sessionId="s-a", customerId=unclaimed, status="completed", agent="x")
    await end(agent, sessionId="s-b", customerId=owned, status="completed", agent="x")
    ours = await swarm_server.connect("agent-runner", org, roles=["service"])
    await end(ours, sessionId="s-c", customerId=owned, status="completed", agent="x")
    marker = await viewer.next("activity:new")  # one writer: the two before were dealt with
    assert marker["subject"] == {"type": "swarm_session", "id": "s-c"}
    assert (
        await swarm_server.metric(
            "lvng_activity_items_dropped_total", type="swarm.session.completed"
        )
        == dropped + 2
    )
    # The unclaimed customer is still no one's: a token naming it claims it, empty.
    _, snapshot = await subscribed(swarm_server, uid("org"), unclaimed, "first")
    assert snapshot["items"] == []
    await post_item(swarm_server, org, owned)  # the feed still takes items
    assert (await viewer.next("activity:new"))["type"] == "note.added"


async def test_the_real_swarm_plugin_feeds_the_feed(server):
    """Not a stand-in: a session published through the swarm plugin's HTTP API, ending
    for a customer, becomes an item of that customer's feed (plugins meet only through
    the domain-event hook)."""
    from tests.swarm.support import publish

    org, customer = uid("org"), uid("cust")
    viewer, _ = await subscribed(server, org, customer, "viewer")
    session = uid("sess")
    for body in (
        {
            "type": "session.started",
            "agent": "planner",
            "title": "Onboarding plan",
            "data": {"customerId": customer},
        },
        {"type": "session.completed", "agent": "planner", "data": {"customerId": customer}},
    ):
        await publish(server, org, session, body)
    item = item_like(
        await viewer.next("activity:new"),
        customerId=customer,
        type="swarm.session.completed",
        actorId="planner",
        actorName="planner",
        subject={"type": "swarm_session", "id": session},
    )
    assert item["summary"] == f"Swarm session {session} completed"
    # Only the ending is an item: a later post is the next thing the feed hears.
    await post_item(server, org, customer)
    assert (await viewer.next("activity:new"))["type"] == "note.added"

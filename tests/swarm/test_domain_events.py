"""Session events about a customer reach other plugins as `swarm.{type}` domain events,
with data an activity item can be made of; events without a customer are not published."""

from __future__ import annotations

import json

import pytest

from tests.live import PROBE_PLUGIN
from tests.swarm.support import agent_token, publish, uid
from tests.test_plugins import run_lvng

RECORDER = "recorder=tests.support.recorder_plugin"
FIELDS = [
    {"name": "sessionId", "type": "str", "required": True},
    {"name": "customerId", "type": "str", "required": True},
    {"name": "seq", "type": "int", "required": True},
    {"name": "type", "type": "str", "required": True},
    {"name": "agent", "type": "str", "required": True},
    {"name": "stepId", "type": "str | None", "required": True},
    {"name": "title", "type": "str | None", "required": True},
    {"name": "status", "type": "str | None", "required": True},
    {"name": "output", "type": "Any", "required": True},
    {"name": "data", "type": "dict[str, Any]", "required": True},
    {"name": "timestamp", "type": "str", "required": True},
    {"name": "eventId", "type": "str | None", "required": True},
    {"name": "sessionStatus", "type": "str", "required": True},
    {"name": "userId", "type": "str", "required": True},
    {"name": "userName", "type": "str", "required": True},
]


def test_lvng_plugins_lists_the_swarm_domain_events(tmp_path):
    listed = run_lvng("plugins", "--json", env={}, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    swarm = {info["name"]: info for info in json.loads(listed.stdout)}["swarm"]
    assert swarm["enabled"] is True and swarm["error"] is None
    assert swarm["events"] == ["swarm:subscribe", "swarm:unsubscribe"]
    assert swarm["models"] == ["plugins.swarm.models"]
    assert [(e["name"], e["fields"]) for e in swarm["domain_events"]] == [
        (f"swarm.{kind}", FIELDS)
        for kind in (
            "session.completed",
            "session.failed",
            "session.started",
            "step.completed",
            "step.failed",
            "step.started",
        )
    ]
    assert {
        "lvng_swarm_updates_total",
        "lvng_swarm_subscribers",
        "lvng_swarm_sessions_total",
        "lvng_swarm_duplicates_suppressed_total",
    } <= set(swarm["metrics"])


@pytest.fixture(scope="module")
def recorded(start_server):
    return start_server(env={"LVNG_PLUGIN_MODULES": f"{PROBE_PLUGIN},{RECORDER}"})


async def test_events_about_a_customer_reach_a_consumer(recorded):
    org, session, customer = uid("org"), uid("swarm"), uid("cust")
    # The recorder tells the publishing service user's sockets what it consumed.
    bot = await recorded.connect("agent-bot", org, name="Agent Bot")
    token = agent_token(recorded, org, name="Agent Bot")
    started = await publish(
        recorded,
        org,
        session,
        {
            "type": "session.started",
            "agent": "planner",
            "title": "Renewal review",
            "data": {"customerId": customer, "account": "gold"},
        },
        token=token,
    )
    quiet = await publish(
        recorded, org, session, {"type": "step.started", "agent": "r"}, token=token
    )  # no customer: no domain event
    done = await publish(
        recorded,
        org,
        session,
        {
            "type": "session.completed",
            "agent": "planner",
            "output": {"summary": "renew"},
            "data": {"customerId": customer},
            "eventId": "done-1",
        },
        token=token,
    )
    who = {"customerId": customer, "userId": "agent-bot", "userName": "Agent Bot"}
    assert await bot.next("recorder:event") == {
        "name": "swarm.session.started",
        "source": "swarm",
        "data": {**started, **who, "sessionStatus": "running"},
    }
    assert await bot.next("recorder:event") == {
        "name": "swarm.session.completed",
        "source": "swarm",
        "data": {**done, **who, "sessionStatus": "completed"},
    }
    assert quiet["seq"] == 2
    # A retried publish tells no one again.
    await publish(
        recorded,
        org,
        session,
        {
            "type": "session.completed",
            "agent": "planner",
            "data": {"customerId": customer},
            "eventId": "done-1",
        },
        token=token,
        expect=200,
    )
    await bot.nothing("recorder:event", within=0.2)
    assert (
        await recorded.metric(
            "lvng_domain_events_total", plugin="swarm", name="swarm.session.completed"
        )
        >= 1
    )

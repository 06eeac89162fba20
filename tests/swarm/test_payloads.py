"""Exact payloads of every swarm event and answer (contract section 8): what an agent
gets back is what every subscriber hears, key for key."""

from __future__ import annotations

from tests.swarm.support import (
    TIMESTAMP,
    UPDATE_KEYS,
    publish,
    read,
    subscribed,
    uid,
    update_of,
)


async def test_a_publish_answers_and_broadcasts_one_exact_update(server):
    org, session = uid("org"), uid("swarm")
    watcher, state = await subscribed(server, org, session)
    assert state == {"sessionId": session, "status": "pending", "updates": [], "hasMore": False}

    body = {
        "type": "session.started",
        "agent": "planner",
        "title": "Plan the launch",
        "data": {"goal": "ship", "customerId": uid("cust")},
        "eventId": "evt-1",
    }
    answer = await publish(server, org, session, body)
    assert TIMESTAMP.match(answer["timestamp"])
    assert answer == update_of(session, 1, body, timestamp=answer["timestamp"])
    assert UPDATE_KEYS <= set(answer)
    assert await watcher.next("swarm:update") == answer

    step = {
        "type": "step.completed",
        "agent": "researcher",
        "stepId": "step-1",
        "title": "Read the docs",
        "status": "done",
        "output": {"pages": 3, "ok": True},
    }
    second = await publish(server, org, session, step)
    assert second == update_of(session, 2, step, timestamp=second["timestamp"])
    assert second["status"] == "done"  # the agent's word wins over the default
    assert await watcher.next("swarm:update") == second

    text = {"type": "step.failed", "agent": "writer", "output": "a plain string"}
    third = await publish(server, org, session, text)
    assert (
        third["seq"],
        third["output"],
        third["status"],
        third["stepId"],
        third["title"],
        third["data"],
    ) == (3, "a plain string", "failed", None, None, {})
    assert await watcher.next("swarm:update") == third

    assert await read(server, org, session) == {
        "sessionId": session,
        "status": "running",
        "updates": [answer, second, third],
        "hasMore": False,
    }
    late, state = await subscribed(server, org, session, "late")
    assert state == {
        "sessionId": session,
        "status": "running",
        "updates": [answer, second, third],
        "hasMore": False,
    }

    ack = await late.call("swarm:unsubscribe", {"sessionId": session})
    assert ack == {"ok": True, "sessionId": session, "unsubscribed": True}
    assert await late.next("swarm:unsubscribed") == {"sessionId": session}
    done = await publish(server, org, session, {"type": "session.completed", "agent": "planner"})
    assert await watcher.next("swarm:update") == done
    await late.nothing("swarm:update")
    assert (await read(server, org, session))["status"] == "completed"


async def test_the_subscribe_ack_says_what_the_state_holds(server):
    org, session = uid("org"), uid("swarm")
    for n in range(3):
        await publish(server, org, session, {"type": "step.started", "agent": f"a{n}"})
    client = await server.connect("watcher", org)
    ack = await client.call("swarm:subscribe", {"sessionId": session, "afterSeq": 1})
    assert ack == {
        "ok": True,
        "sessionId": session,
        "status": "running",
        "updates": 2,
        "hasMore": False,
    }
    # The ack first, then swarm:subscribed, then swarm:state.
    assert await client.next("swarm:subscribed") == {"sessionId": session}
    assert [u["seq"] for u in (await client.next("swarm:state"))["updates"]] == [2, 3]
    # Unsubscribing when not subscribed is a no-op that still confirms.
    other = uid("swarm")
    ack = await client.call("swarm:unsubscribe", {"sessionId": other})
    assert ack == {"ok": True, "sessionId": other, "unsubscribed": False}
    assert await client.next("swarm:unsubscribed") == {"sessionId": other}

"""Publishing: gap-free seqs under concurrent posts, idempotent eventIds, the status rules
and the 409 after a terminal event, bad bodies refused with nothing stored."""

from __future__ import annotations

import asyncio

import pytest

from tests.swarm.support import agent_token, publish, read, seqs, subscribed, uid


async def test_twenty_concurrent_publishes_get_seq_one_to_twenty(server):
    org, session = uid("org"), uid("swarm")
    watcher, _ = await subscribed(server, org, session)
    answers = await asyncio.gather(
        *(
            publish(
                server,
                org,
                session,
                {"type": "step.started", "agent": f"agent-{n}", "stepId": f"s{n}"},
            )
            for n in range(20)
        )
    )
    assert sorted(a["seq"] for a in answers) == list(range(1, 21))
    heard = [await watcher.next("swarm:update") for _ in range(20)]
    assert seqs(heard) == list(range(1, 21))  # heard in seq order, each once
    by_seq = {a["seq"]: a for a in answers}
    assert heard == [by_seq[n] for n in range(1, 21)]
    assert seqs((await read(server, org, session, limit=500))["updates"]) == list(range(1, 21))
    await watcher.nothing("swarm:update", within=0.2)


async def test_a_repeated_event_id_answers_200_with_the_first_update_and_is_heard_once(server):
    org, session = uid("org"), uid("swarm")
    watcher, _ = await subscribed(server, org, session)
    body = {
        "type": "step.completed",
        "agent": "a",
        "stepId": "s1",
        "eventId": "evt-42",
        "output": "first",
    }
    first = await publish(server, org, session, body)
    retry = await publish(server, org, session, {**body, "output": "changed"}, expect=200)
    assert retry == first
    # Retries racing each other: one is stored, all answer the same update.
    racing = {"type": "step.started", "agent": "a", "eventId": "evt-43"}
    tries = await asyncio.gather(
        *(
            server.http(
                "POST",
                f"/api/v1/swarm/sessions/{session}/events",
                token=agent_token(server, org),
                json=racing,
            )
            for _ in range(5)
        )
    )
    assert sorted(status for status, _ in tries) == [200, 200, 200, 200, 201]
    assert len({answer["seq"] for _, answer in tries}) == 1
    marker = await publish(server, org, session, {"type": "step.started", "agent": "marker"})
    heard = [await watcher.next("swarm:update") for _ in range(3)]
    assert heard == [first, tries[0][1], marker]  # the marker came right after: no repeat
    assert seqs(heard) == [1, 2, 3]
    # The same eventId in another session is another event.
    other = await publish(server, org, uid("swarm"), body)
    assert other["seq"] == 1


@pytest.mark.parametrize("ending", ["session.completed", "session.failed"])
async def test_nothing_is_taken_after_a_terminal_event(server, ending):
    org, session = uid("org"), uid("swarm")
    assert (await read(server, org, session))["status"] == "pending"
    await publish(server, org, session, {"type": "session.started", "agent": "a"})
    assert (await read(server, org, session))["status"] == "running"
    last = await publish(server, org, session, {"type": ending, "agent": "a", "eventId": "the-end"})
    status = "completed" if ending == "session.completed" else "failed"
    watcher, state = await subscribed(server, org, session)
    assert state["status"] == status and state["updates"][-1] == last

    for kind in ("step.started", "session.started", "session.completed", "session.failed"):
        refused = await publish(server, org, session, {"type": kind, "agent": "a"}, expect=409)
        assert refused == {
            "error": {
                "code": "CONFLICT",
                "message": f"swarm session {session} has {status}; it takes no more events",
            }
        }
    # A retry of the terminal event itself is still answered with it.
    assert (
        await publish(
            server, org, session, {"type": ending, "agent": "a", "eventId": "the-end"}, expect=200
        )
        == last
    )
    await watcher.nothing("swarm:update", within=0.2)
    assert seqs((await read(server, org, session))["updates"]) == [1, 2]


async def test_steps_keep_a_session_running_until_it_ends(server):
    org, session = uid("org"), uid("swarm")
    for kind in ("step.started", "step.failed", "step.completed", "session.started"):
        await publish(server, org, session, {"type": kind, "agent": "a"})
        assert (await read(server, org, session))["status"] == "running"


BAD_BODIES = [
    ({}, "type: Field required"),
    ({"type": "step.exploded", "agent": "a"}, "type: Input should be"),
    ({"type": "step.started"}, "agent: Field required"),
    ({"type": "step.started", "agent": "   "}, "agent: String should have at least 1"),
    ({"type": "step.started", "agent": "a" * 129}, "agent: String should have at most 128"),
    ({"type": "step.started", "agent": "a", "stepId": "a/b"}, "stepId: String should match"),
    ({"type": "step.started", "agent": "a", "eventId": ""}, "eventId: String should match"),
    ({"type": "step.started", "agent": "a", "title": "t" * 501}, "title: String should"),
    ({"type": "step.started", "agent": "a", "status": 7}, "status: Input should be a valid"),
    ({"type": "step.started", "agent": "a", "data": [1]}, "data: Input should be a valid"),
    (
        {"type": "step.started", "agent": "a", "data": {"customerId": "no spaces"}},
        "data: Value error, data.customerId must be",
    ),
    ({"type": 5, "agent": "a"}, "type: Input should be"),
]


@pytest.mark.parametrize(("body", "problem"), BAD_BODIES)
async def test_a_bad_body_is_400_and_stores_nothing(server, body, problem):
    org, session = uid("org"), uid("swarm")
    status, answer = await server.http(
        "POST",
        f"/api/v1/swarm/sessions/{session}/events",
        token=agent_token(server, org),
        json=body,
    )
    assert status == 400 and answer["error"]["code"] == "VALIDATION_ERROR", answer
    assert answer["error"]["message"].startswith(problem), answer
    assert await read(server, org, session) == {
        "sessionId": session,
        "status": "pending",
        "updates": [],
        "hasMore": False,
    }
    # Nothing was claimed either: another organization may still take the id.
    await publish(server, uid("org"), session, {"type": "step.started", "agent": "a"})


async def test_bodies_that_are_not_objects_and_crafted_ids_are_400(server):
    org = uid("org")
    token = agent_token(server, org)
    for data in ("not json", "[1, 2]", "null", '"text"'):
        status, answer = await server.http(
            "POST", f"/api/v1/swarm/sessions/{uid('s')}/events", token=token, data=data
        )
        assert status == 400 and answer["error"]["code"] == "VALIDATION_ERROR", (data, answer)
    status, answer = await server.http(
        "POST",
        f"/api/v1/swarm/sessions/{'x' * 129}/events",
        token=token,
        json={"type": "step.started", "agent": "a"},
    )
    assert (status, answer["error"]["code"]) == (400, "VALIDATION_ERROR")
    for query in ("afterSeq=-1", "afterSeq=x", "limit=0", "limit=501"):
        status, answer = await server.http("GET", f"/api/v1/swarm/sessions/s1?{query}", token=token)
        assert (status, answer["error"]["code"]) == (400, "VALIDATION_ERROR"), query


async def test_an_oversized_event_is_413_and_stores_nothing(server):
    org, session = uid("org"), uid("swarm")
    status, answer = await server.http(
        "POST",
        f"/api/v1/swarm/sessions/{session}/events",
        token=agent_token(server, org),
        json={
            "type": "step.completed",
            "agent": "a",
            "output": "x" * 40_000,
            "data": {"more": "y" * 30_000},
        },
    )
    assert status == 413 and answer["error"]["code"] == "PAYLOAD_TOO_LARGE", answer
    assert (await read(server, org, session))["updates"] == []


async def test_only_a_service_token_publishes(server):
    org, session = uid("org"), uid("swarm")
    body = {"type": "step.started", "agent": "a"}
    for roles in ([], ["admin"]):
        status, answer = await server.http(
            "POST",
            f"/api/v1/swarm/sessions/{session}/events",
            token=server.token("human", org, roles=roles),
            json=body,
        )
        assert (status, answer) == (
            403,
            {
                "error": {
                    "code": "FORBIDDEN",
                    "message": "publishing to a swarm session needs a service token",
                }
            },
        )
    status, answer = await server.http(
        "POST", f"/api/v1/swarm/sessions/{session}/events", json=body
    )
    assert (status, answer["error"]["code"]) == (401, "AUTH_REQUIRED")
    assert (await read(server, org, session))["status"] == "pending"

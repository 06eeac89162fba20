"""Tenancy (contract section 4): a session id belongs to the organization of its first
publish; another organization cannot publish, subscribe or read, and creates nothing."""

from __future__ import annotations

import asyncio

from tests.messages.support import expect_error
from tests.swarm.support import agent_token, publish, read, subscribed, uid


async def test_another_organization_cannot_publish_subscribe_or_read(server):
    org_a, org_b, session = uid("org"), uid("org"), uid("swarm")
    watcher, _ = await subscribed(server, org_a, session)
    first = await publish(
        server, org_a, session, {"type": "session.started", "agent": "a", "eventId": "e1"}
    )
    await watcher.next("swarm:update")
    refusal = {
        "error": {"code": "FORBIDDEN", "message": f"you may not use swarm session {session}"}
    }

    for roles in (["service"], ["service", "admin"]):
        token = agent_token(server, org_b, roles=roles)
        for body in (
            {"type": "step.started", "agent": "mallory"},
            {"type": "session.completed", "agent": "mallory", "eventId": "e1"},
        ):
            status, answer = await server.http(
                "POST", f"/api/v1/swarm/sessions/{session}/events", token=token, json=body
            )
            assert (status, answer) == (403, refusal)
        for query in ("", "?afterSeq=0&limit=10"):
            status, answer = await server.http(
                "GET", f"/api/v1/swarm/sessions/{session}" + query, token=token
            )
            assert (status, answer) == (403, refusal)

    mallory = await server.connect("mallory", org_b, roles=["admin"])
    for payload in ({"sessionId": session}, {"sessionId": session, "afterSeq": 0}):
        error = await expect_error(mallory, "swarm:subscribe", payload, "FORBIDDEN")
        assert error["message"] == f"you may not use swarm session {session}"
    await mallory.nothing("swarm:subscribed", within=0.1)
    await mallory.nothing("swarm:state", within=0)

    marker = await publish(server, org_a, session, {"type": "step.started", "agent": "a"})
    assert await watcher.next("swarm:update") == marker
    assert (await read(server, org_a, session))["updates"] == [first, marker]


async def test_a_pending_id_may_be_watched_and_is_claimed_by_its_first_publish(server):
    org_a, org_b, session = uid("org"), uid("org"), uid("swarm")
    # Both organizations may watch an id no one has published to: nothing is created.
    early_a, state = await subscribed(server, org_a, session, "alice")
    early_b, state_b = await subscribed(server, org_b, session, "mallory")
    assert state["status"] == state_b["status"] == "pending"
    assert (await read(server, org_b, session))["status"] == "pending"
    # Org B's non-service user cannot claim it by trying to publish.
    status, _ = await server.http(
        "POST",
        f"/api/v1/swarm/sessions/{session}/events",
        token=server.token("mallory", org_b),
        json={"type": "session.started", "agent": "m"},
    )
    assert status == 403

    claimed = await publish(
        server, org_a, session, {"type": "session.started", "agent": "a", "output": "secret"}
    )
    assert await early_a.next("swarm:update") == claimed
    await early_b.nothing("swarm:update", within=0.2)  # org B's room is another room
    status, _ = await server.http(
        "GET", f"/api/v1/swarm/sessions/{session}", token=server.token("mallory", org_b)
    )
    assert status == 403
    await expect_error(early_b, "swarm:subscribe", {"sessionId": session}, "FORBIDDEN")


async def test_two_organizations_racing_for_a_new_id_one_wins(server):
    org_a, org_b, session = uid("org"), uid("org"), uid("swarm")
    body = {"type": "session.started", "agent": "a"}
    results = await asyncio.gather(
        *(
            server.http(
                "POST",
                f"/api/v1/swarm/sessions/{session}/events",
                token=agent_token(server, org),
                json=body,
            )
            for org in (org_a, org_b)
            for _ in range(3)
        )
    )
    by_org = {org_a: [s for s, _ in results[:3]], org_b: [s for s, _ in results[3:]]}
    winner = org_a if by_org[org_a][0] == 201 else org_b
    loser = org_b if winner == org_a else org_a
    assert sorted(by_org[winner]) == [201, 201, 201] and by_org[loser] == [403, 403, 403]
    assert [u["seq"] for u in (await read(server, winner, session))["updates"]] == [1, 2, 3]

"""Tenancy (contract section 4): a session id belongs to the organization of its first
publish; another organization cannot publish, subscribe or read, and creates nothing."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

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


HOLD_KEY = (4242, 21)  # the advisory lock a new session's commit waits for
AT_COMMIT = f"""
CREATE FUNCTION lvng_test_hold_claim() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock({HOLD_KEY[0]}, {HOLD_KEY[1]});
  RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER lvng_test_hold_claim AFTER INSERT ON swarm_session
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION lvng_test_hold_claim();
"""
WAITING = "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'"


async def waiting(conn: asyncpg.Connection, name: str, count: int) -> None:
    """Return once `count` transactions of the database wait for a lock."""
    deadline = time.monotonic() + 5
    while await conn.fetchval(WAITING, name) < count:
        assert time.monotonic() < deadline, f"fewer than {count} transactions came to wait"
        await asyncio.sleep(0.005)


@pytest.mark.parametrize("loser_stores", ["after_the_claim", "beside_the_claim"])
async def test_two_organizations_racing_for_a_new_id_one_wins(
    start_server, scratch_postgres, loser_stores
):
    """Both contenders pass the look before the store (no session yet), whatever the
    timing: the winner's claim is held at its commit (a deferred trigger waits for a lock
    the test holds) while the loser comes. `after_the_claim`: the loser's store waits for
    the table (the test asks for it exclusively behind the winner) and reads the session
    once the winner committed: the check inside the transaction refuses it.
    `beside_the_claim`: the loser's store inserts the same id and waits on the key: the
    unique key refuses it (IntegrityError), and it is told 403, not 500."""
    live = start_server(env={"LVNG_DATABASE_URL": scratch_postgres.url})
    org_a, org_b, session = uid("org"), uid("org"), uid("swarm")
    path = f"/api/v1/swarm/sessions/{session}/events"
    body = {"type": "session.started", "agent": "a"}
    name = scratch_postgres.name
    hold, table = await asyncpg.connect(scratch_postgres.url), None
    try:
        await hold.execute(AT_COMMIT)
        await hold.execute("SELECT pg_advisory_lock($1, $2)", *HOLD_KEY)
        winner = asyncio.ensure_future(
            live.http("POST", path, token=agent_token(live, org_a), json=body)
        )
        await waiting(hold, name, 1)  # org A's claim, held at its commit
        if loser_stores == "after_the_claim":
            table = await asyncpg.connect(scratch_postgres.url)

            async def take_the_table() -> None:
                async with table.transaction():
                    await table.execute("LOCK TABLE swarm_session IN EXCLUSIVE MODE")

            taken = asyncio.ensure_future(take_the_table())
            await waiting(hold, name, 2)  # queued behind the claim
        loser = asyncio.ensure_future(
            live.http("POST", path, token=agent_token(live, org_b), json=body)
        )
        await waiting(hold, name, 3 if table is not None else 2)  # past its look, waiting
        await hold.execute("SELECT pg_advisory_unlock($1, $2)", *HOLD_KEY)
        if table is not None:
            await taken
        assert (await winner)[0] == 201
        refusal = {
            "error": {"code": "FORBIDDEN", "message": f"you may not use swarm session {session}"}
        }
        assert await loser == (403, refusal)
    finally:
        await hold.close()
        if table is not None:
            await table.close()
    assert [u["seq"] for u in (await read(live, org_a, session))["updates"]] == [1]
    refused = await live.http(
        "GET", f"/api/v1/swarm/sessions/{session}", token=live.token("r", org_b)
    )
    assert refused[0] == 403

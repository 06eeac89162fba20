"""Hooks a plugin uses besides events: domain events, HTTP routes, startup, the database."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from tests.live import PROBE_PLUGIN


@pytest.fixture(scope="module")
def faulty_server(start_server):
    return start_server(
        env={"LVNG_PLUGIN_MODULES": f"faulty=tests.support.faulty_consumer,{PROBE_PLUGIN}"}
    )


async def test_domain_events_reach_other_plugins_despite_a_failing_one(faulty_server):
    live = faulty_server
    before = await live.metric(
        "lvng_plugin_errors_total", plugin="faulty", hook="lvng_domain_event"
    )
    alice = await live.connect("alice", "acme")
    alice_phone = await live.connect("alice", "acme")
    bob = await live.connect("bob", "acme")
    assert await alice.call("probe:publish", {"note": "n1"}) == {"ok": True}
    expected = {
        "name": "probe.published",
        "source": "probe",
        "data": {"note": "n1", "userId": "alice"},
    }
    # Delivered through user:{userId} to both of alice's devices, to nobody else.
    assert await alice.next("probe:domain") == expected
    assert await alice_phone.next("probe:domain") == expected
    await bob.nothing("probe:domain")
    assert (
        await live.metric("lvng_plugin_errors_total", plugin="faulty", hook="lvng_domain_event")
        == before + 1
    )
    assert (
        await live.metric("lvng_domain_events_total", plugin="probe", name="probe.published") == 1
    )
    assert "plugin faulty failed in lvng_domain_event" in live.log()
    await live.close_clients()


async def test_plugin_http_routes_with_bearer_identity(server):
    token = server.token("carol", "acme", roles=["service"])
    assert await server.http("GET", "/api/v1/probe/whoami", token=token) == (
        200,
        {"userId": "carol", "organizationId": "acme", "roles": ["service"]},
    )
    assert await server.http("GET", "/api/v1/probe/whoami") == (
        401,
        {"error": {"code": "AUTH_REQUIRED", "message": "send Authorization: Bearer <JWT>"}},
    )
    status, body = await server.http("GET", "/api/v1/probe/whoami", token="forged.token.x")
    assert status == 401 and body["error"]["code"] == "AUTH_INVALID"
    assert await server.http(
        "POST", "/api/v1/probe/echo", token=token, json={"text": "hi", "count": 2}
    ) == (200, {"text": "hi", "count": 2})
    assert await server.http("POST", "/api/v1/probe/echo", token=token, json={"text": ""}) == (
        400,
        {
            "error": {
                "code": "VALIDATION_ERROR",
                "message": "text: String should have at least 1 character",
            }
        },
    )
    assert await server.http("POST", "/api/v1/probe/echo", token=token, data="{not json") == (
        400,
        {"error": {"code": "VALIDATION_ERROR", "message": "the body is not valid JSON"}},
    )


async def test_startup_hooks_ran(server):
    assert "probe plugin started with 0 sessions" in server.log()


async def test_shutdown_hooks_run_after_the_clients_are_gone_and_before_the_database(start_server):
    """On a stop, the server disconnects every client (plugins see each one go), then
    runs the shutdown hooks with the database still open, then closes the database."""
    live = start_server()
    await live.connect("stayer-1")
    await live.connect("stayer-2")
    await asyncio.to_thread(live.stop)
    assert live.proc.returncode == 0
    log = live.log()
    stopping = "probe shutdown sees 0 sessions, database open"
    assert log.count("probe plugin stopping") == 1 and stopping in log
    gone = [log.index(f"probe saw stayer-{i} disconnect: server shutdown") for i in (1, 2)]
    assert max(gone) < log.index(stopping)  # "database open": it closes after the hooks


async def test_sqlite_database_is_created_in_wal_mode(server):
    database = server.workdir / "lvng.sqlite3"
    assert database.exists()
    with sqlite3.connect(database) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_activity_is_reported_once_per_interval_not_per_event(server):
    client = await server.connect("active-alice", "acme")
    for n in range(5):
        assert (await client.call("probe:echo", {"text": f"e{n}"}))["ok"] is True
    assert await client.next("probe:active") == {"sid": client.sid}
    # The other four events fell within the interval (5 s): no call per event.
    await client.nothing("probe:active", within=0.3)

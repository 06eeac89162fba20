"""The core's HTTP surface: health, readiness, metrics, JSON errors (contract section 10)."""

from __future__ import annotations

import json
import uuid

import aiohttp

from tests.live import LiveServer
from tests.services import require_redis


async def test_healthz(server):
    assert await server.http("GET", "/healthz") == (200, {"status": "ok"})


async def test_readyz_on_sqlite(server):
    assert await server.http("GET", "/readyz") == (200, {"status": "ready"})


async def test_errors_are_json(server):
    status, body = await server.http("GET", "/no/such/route")
    assert status == 404
    assert body == {
        "error": {"code": "NOT_FOUND", "message": "Requested URL /no/such/route not found"}
    }
    status, body = await server.http("DELETE", "/healthz")
    assert status == 405
    assert body["error"]["code"] == "VALIDATION_ERROR"


async def test_metrics_is_prometheus_text_of_the_apps_registry(server):
    status, text = await server.http("GET", "/metrics")
    assert status == 200
    for name in (
        "lvng_connections_active",
        "lvng_connections_total",
        "lvng_connection_rejects_total",
        "lvng_events_received_total",
        "lvng_event_errors_total",
        "lvng_event_duration_seconds",
        "lvng_rate_limited_total",
        "lvng_plugin_errors_total",
    ):
        assert f"# TYPE {name} " in text, name


async def test_readyz_names_a_failed_database(scratch_postgres, tmp_path):
    live = LiveServer(tmp_path, {"LVNG_DATABASE_URL": scratch_postgres.url}).start()
    try:
        assert await live.http("GET", "/readyz") == (200, {"status": "ready"})
        assert await live.metric("lvng_ready", store="database") == 1
        await scratch_postgres.drop()  # terminates the server's connections
        status, body = await live.http("GET", "/readyz")
        assert status == 503
        assert body == {"status": "unavailable", "failed": ["database"]}  # no exception text
        assert await live.metric("lvng_ready", store="database") == 0
        assert await live.http("GET", "/healthz") == (200, {"status": "ok"})
    finally:
        live.stop()


async def test_readyz_with_redis(tmp_path):
    """Two nodes on one Redis are ready, and a room's broadcast crosses from one to the
    other (the nodes share nothing else); a node whose Redis is down is not ready."""
    redis_url = require_redis()
    live = LiveServer(tmp_path / "up", {"LVNG_REDIS_URL": redis_url}).start()
    other = LiveServer(tmp_path / "up2", {"LVNG_REDIS_URL": redis_url}).start()
    down = LiveServer(tmp_path / "down", {"LVNG_REDIS_URL": "redis://127.0.0.1:1/0"}).start()
    try:
        assert await live.http("GET", "/readyz") == (200, {"status": "ready"})
        assert await other.http("GET", "/readyz") == (200, {"status": "ready"})
        org = f"redis-{uuid.uuid4().hex[:10]}"  # Redis is shared: a room of our own
        here = await live.connect("here", org)
        there = await other.connect("there", org)
        assert (await here.call("probe:join", {"name": "bridge"}))["ok"] is True
        assert (await there.call("probe:join", {"name": "bridge"}))["ok"] is True
        # The second join reaches the first node's socket through Redis.
        assert await here.next("probe:joined") == {"name": "bridge", "userId": "here"}
        assert await here.next("probe:joined") == {"name": "bridge", "userId": "there"}
        assert await here.call("probe:shout", {"name": "bridge"}) == {"ok": True}
        assert await there.next("probe:shout") == {"name": "bridge", "from": "here"}
        status, body = await down.http("GET", "/readyz")
        assert status == 503
        assert body == {"status": "unavailable", "failed": ["redis"], "limits": "per-node"}
        # Each scrape checks too: Prometheus sees which store is down.
        assert await down.metric("lvng_ready", store="redis") == 0
        assert await down.metric("lvng_ready", store="database") == 1
        assert await live.metric("lvng_ready", store="redis") == 1
    finally:
        await live.close_clients()
        await other.close_clients()
        live.stop()
        other.stop()
        down.stop()


async def test_cors_origins(start_server):
    live = start_server(env={"LVNG_CORS_ORIGINS": "https://app.example"})
    handshake = live.url + "/socket.io/?EIO=4&transport=polling"
    async with aiohttp.ClientSession() as session:
        async with session.get(handshake, headers={"Origin": "https://app.example"}) as resp:
            assert resp.status == 200
            assert resp.headers["Access-Control-Allow-Origin"] == "https://app.example"
        async with session.get(handshake, headers={"Origin": "https://evil.example"}) as resp:
            assert resp.status == 400


async def test_engine_settings_of_the_reference(server):
    async with aiohttp.ClientSession() as session:
        async with session.get(server.url + "/socket.io/?EIO=4&transport=polling") as resp:
            text = await resp.text()
    opening = json.loads(text[1:])
    assert opening["pingInterval"] == 25000
    assert opening["pingTimeout"] == 60000
    assert opening["maxPayload"] == 1_000_000
    assert opening["upgrades"] == ["websocket"]


def test_apps_in_one_process_keep_their_own_metrics():
    """Without --workers (no PROMETHEUS_MULTIPROC_DIR) each app's /metrics is its registry:
    two apps in one process never see each other's counts."""
    import os
    import uuid

    from core.app import create_app
    from core.config import load_settings
    from core.metrics import MULTIPROC_ENV, exposition
    from tests.live import PROBE_PLUGIN, SECRET, sample_value

    assert MULTIPROC_ENV not in os.environ
    settings = load_settings(
        env={
            "LVNG_JWT_SECRET": SECRET,
            "LVNG_PLUGINS": "probe",
            "LVNG_PLUGIN_MODULES": PROBE_PLUGIN,
            "LVNG_ENTRY_POINTS": "false",
        }
    )
    one, two = (create_app(settings, f"metrics_{uuid.uuid4().hex[:6]}") for _ in range(2))
    one.ctx.platform.metrics.connections_total.inc(3)
    two.ctx.platform.metrics.connections_total.inc()
    pages = [exposition(app.ctx.platform.metrics_registry)[0].decode() for app in (one, two)]
    assert [sample_value(page, "lvng_connections_total") for page in pages] == [3, 1]

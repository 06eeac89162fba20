"""Issue 9: each attack found from outside, sent as the attacker sent it (raw Engine.IO /
Socket.IO packets where the standard client cannot), with the contract's answer.

See docs/security.md for the threat model.
"""

from __future__ import annotations

import aiohttp
import pytest

from tests.live import LiveServer
from tests.raw import RawSocket


def refusal(code: str, message: str) -> dict:
    return {"ok": False, "error": {"code": code, "message": message}}


def nested(levels: int) -> dict:
    """An object nested `levels` deep, itself level 1."""
    value: dict = {}
    for _ in range(levels - 1):
        value = {"n": value}
    return value


LIMIT = 20


@pytest.fixture(scope="module")
def strict(start_server) -> LiveServer:
    """A server with a small per-socket limit, so counting is visible."""
    return start_server(env={"LVNG_RATE_LIMIT_EVENTS": str(LIMIT)})


@pytest.fixture
async def raws():
    opened: list[RawSocket] = []

    async def open_raw(live: LiveServer, sub: str, org: str = "acme", **kwargs) -> RawSocket:
        raw = RawSocket(live.url)
        opened.append(raw)
        handshake = kwargs.pop("handshake", True)
        return await raw.open(live.token(sub, org, **kwargs) if handshake else None,
                              handshake=handshake)

    yield open_raw
    for raw in opened:
        await raw.close()


def assert_clean_log(live: LiveServer) -> None:
    log = live.log()
    assert "Traceback" not in log, log[-3000:]
    assert "handler failed" not in log


# --- 9. leaks and codes --------------------------------------------------------------


async def test_cross_origin_is_refused_outside_dev_without_cors_origins(server):
    same = server.url
    handshake = server.url + "/socket.io/?EIO=4&transport=polling"
    async with aiohttp.ClientSession() as session:
        async with session.get(handshake, headers={"Origin": "https://evil.example"}) as resp:
            assert resp.status == 400
        async with session.get(handshake, headers={"Origin": same}) as resp:
            assert resp.status == 200
        async with session.get(handshake) as resp:  # not a browser: no Origin
            assert resp.status == 200
    raw = RawSocket(server.url)
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await raw.open(server.token(), headers={"Origin": "https://evil.example"})
    await raw.close()


async def test_a_database_outage_is_unavailable_not_internal(scratch_postgres, tmp_path):
    live = LiveServer(tmp_path, {"LVNG_DATABASE_URL": scratch_postgres.url}).start()
    try:
        token = live.token("outage")
        status, _ = await live.http("GET", "/api/v1/channels/up/messages", token=token)
        assert status == 404
        client = await live.connect("outage")
        await scratch_postgres.drop()  # terminates the server's connections
        status, body = await live.http("GET", "/api/v1/channels/up/messages", token=token)
        assert (status, body) == (503, {"error": {
            "code": "UNAVAILABLE", "message": "a backing store is unavailable"}})
        status, body = await live.http("POST", "/api/v1/channels/up/messages", token=token,
                                       json={"content": "hi"})
        assert status == 503 and body["error"]["code"] == "UNAVAILABLE"
        ack = await client.call("channel:join", {"channelId": "up"})
        assert ack == refusal("UNAVAILABLE", "a backing store is unavailable; try again")
        status, body = await live.http("GET", "/readyz")
        assert (status, body) == (503, {"status": "unavailable", "failed": ["database"]})
        assert "handler failed" not in live.log()
        assert "INTERNAL_ERROR" not in live.log()
    finally:
        await live.close_clients()
        live.stop()

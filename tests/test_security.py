"""Issue 9: each attack found from outside, sent as the attacker sent it (raw Engine.IO /
Socket.IO packets where the standard client cannot), with the contract's answer.

See docs/security.md for the threat model.
"""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import jwt
import pytest

from tests.live import SECRET, Client, LiveServer, make_token
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
        return await raw.open(
            live.token(sub, org, **kwargs) if handshake else None, handshake=handshake
        )

    yield open_raw
    for raw in opened:
        await raw.close()


_log_start: dict[int, int] = {}


@pytest.fixture(autouse=True)
def _log_offsets() -> None:
    """Where each running server's log stood when the test began: servers are shared, and
    other modules' tests log tracebacks on purpose (probe:boom)."""
    _log_start.clear()
    _log_start.update({id(live): len(live.log()) for live in LiveServer.instances})


def assert_clean_log(live: LiveServer) -> None:
    """No traceback and no failed handler in what `live` logged during this test."""
    log = live.log()[_log_start.get(id(live), 0) :]
    assert "Traceback" not in log, log[-3000:]
    assert "handler failed" not in log


# --- 1. reserved names ---------------------------------------------------------------


async def test_reserved_event_names_are_unknown_events(strict, raws):
    raw = await raws(strict, "reserved")
    active = await strict.metric("lvng_connections_active")
    total = await strict.metric("lvng_connections_total")
    for ack_id, body, name in [
        (1, '["disconnect"]', "disconnect"),
        (2, '["disconnect","client namespace disconnect"]', "disconnect"),
        (3, f'["connect",{{}},{{"token":"{strict.token("reserved")}"}}]', "connect"),
        (4, '["*","someone-else","probe:echo",{"text":"x"}]', "*"),
        (5, '["connect_error",{}]', "connect_error"),
    ]:
        ack, error = await raw.call_raw(ack_id, body)
        assert ack == refusal("UNKNOWN_EVENT", f"unknown event {name!r}"), body
        assert error == {
            "code": "UNKNOWN_EVENT",
            "message": f"unknown event {name!r}",
            "event": name,
        }
    # The session is the same one: no new session, no drop, and it still works.
    await raw.send('2["probe:echo",{"text":"still me"}]')
    assert await raw.next_event("probe:echoed") == {
        "text": "still me",
        "count": 1,
        "userId": "reserved",
    }
    assert await strict.metric("lvng_connections_active") == active
    assert await strict.metric("lvng_connections_total") == total
    assert_clean_log(strict)


async def test_a_star_event_charges_the_sender_not_another_socket(strict, raws):
    victim = await strict.connect("victim", "other-org")
    attacker = await raws(strict, "star-attacker")
    for i in range(LIMIT):  # the attacker's whole window
        ack, _ = await attacker.call_raw(100 + i, f'["*","{victim.sid}","probe:boom",{{}}]')
        assert ack["error"]["code"] == "UNKNOWN_EVENT"
    ack, error = await attacker.call_raw(99, '["disconnect"]')
    assert ack["error"]["code"] == "RATE_LIMITED" and error["code"] == "RATE_LIMITED"
    # The victim's window and error count are untouched.
    for i in range(LIMIT):
        assert (await victim.call("probe:echo", {"text": f"v{i}"}))["ok"] is True
    assert victim.unread("error") == []
    assert_clean_log(strict)


async def test_a_second_handshake_on_one_socket_is_refused(strict, raws):
    raw = await raws(strict, "twice")
    total = await strict.metric("lvng_connections_total")
    active = await strict.metric("lvng_connections_active")
    await raw.send("0" + json.dumps({"token": strict.token("twice")}))
    error = await raw.next_event("error")
    assert error == {
        "code": "VALIDATION_ERROR",
        "message": "this socket is already connected",
        "event": None,
    }
    await raw.send('21["probe:echo",{"text":"same session"}]')
    assert (await raw.ack(1)) == {"ok": True, "text": "same session", "count": 1}
    assert [p for p in raw.packets if p.startswith(("0", "4"))] == []
    assert await strict.metric("lvng_connections_total") == total
    assert await strict.metric("lvng_connections_active") == active
    # Counted by the rate limit: the window (two used) is used up by handshakes.
    for _ in range(LIMIT - 3):
        await raw.send("0" + json.dumps({"token": strict.token("twice")}))
    await raw.send("0{}")
    await raw.send("0{}")
    errors = [await raw.next_event("error") for _ in range(LIMIT - 1)]
    assert [e["code"] for e in errors] == ["VALIDATION_ERROR"] * (LIMIT - 2) + ["RATE_LIMITED"]
    assert_clean_log(strict)


# --- 8. malformed packets ------------------------------------------------------------


MALFORMED = [
    ("2[]", "UNKNOWN_EVENT", "an event name must be a string"),
    ("2[123]", "UNKNOWN_EVENT", "an event name must be a string"),
    ('2[null,{"text":"x"}]', "UNKNOWN_EVENT", "an event name must be a string"),
    ('2[["probe:echo"]]', "UNKNOWN_EVENT", "an event name must be a string"),
    ('2{"0":"probe:echo"}', "UNKNOWN_EVENT", "an event name must be a string"),
    ('2"probe:echo"', "UNKNOWN_EVENT", "an event name must be a string"),
    ("27", "UNKNOWN_EVENT", "an event name must be a string"),
    ('2["probe:echo",{"text":"x"', "VALIDATION_ERROR", "malformed packet"),
    ("9", "VALIDATION_ERROR", "unexpected packet type"),
    ("x", "VALIDATION_ERROR", "malformed packet"),
    (
        '2/nowhere,["probe:echo",{"text":"x"}]',
        "VALIDATION_ERROR",
        "not connected to namespace /nowhere",
    ),
    (
        '51-["probe:echo",{"text":{"_placeholder":true,"num":0}}]',
        "VALIDATION_ERROR",
        "binary attachments are not accepted",
    ),
    ("5", "VALIDATION_ERROR", "binary attachments are not accepted"),
    ('4{"message":"x"}', "VALIDATION_ERROR", "unexpected packet type"),
]


async def test_malformed_packets_are_answered_counted_and_never_a_traceback(strict, raws):
    raw = await raws(strict, "malformed")
    for text, code, message in MALFORMED:
        await raw.send(text)
        error = await raw.next_event("error")
        assert error == {"code": code, "message": message, "event": None}, text
    # The rate limit counted every one of them.
    for i in range(LIMIT - len(MALFORMED)):
        await raw.send(f'2{i}["probe:echo",{{"text":"x"}}]')
        assert (await raw.ack(i))["ok"] is True
    await raw.send('299["probe:echo",{"text":"x"}]')
    assert (await raw.ack(99))["error"]["code"] == "RATE_LIMITED"
    assert_clean_log(strict)


async def test_acks_come_back_for_malformed_events_with_an_id(server, raws):
    raw = await raws(server, "malformed-acks")
    ack, error = await raw.call_raw(7, "[]")
    assert ack == refusal("UNKNOWN_EVENT", "an event name must be a string")
    ack, error = await raw.call_raw(8, "[42,{}]")
    assert ack == refusal("UNKNOWN_EVENT", "an event name must be a string")
    assert error["event"] is None


async def test_a_binary_event_and_its_attachment_are_refused(server, raws):
    raw = await raws(server, "binary")
    listener = await server.connect("binary-listener")
    await listener.call("probe:join", {"name": "bin"})
    await raw.send('2["probe:join",{"name":"bin"}]')
    await raw.next_event("probe:joined")
    await raw.send('51-3["probe:shout",{"name":"bin","blob":{"_placeholder":true,"num":0}}]')
    await raw.send(b"\x00\x01binary attachment")
    assert await raw.ack(3) == refusal("VALIDATION_ERROR", "binary attachments are not accepted")
    assert (await raw.next_event("error"))["message"] == "binary attachments are not accepted"
    # A placeholder sent as plain JSON is refused by the payload check.
    ack, _ = await raw.call_raw(
        4, '["probe:shout",{"name":"bin","x":{"_placeholder":true,"num":0}}]'
    )
    assert ack == refusal("VALIDATION_ERROR", "x: binary attachments are not accepted")
    # A stray binary frame is refused too.
    await raw.send(b"\x04stray")
    assert (await raw.next_event("error"))["message"] == "binary data is not accepted"
    await listener.nothing("probe:shout", within=0.2)
    await raw.send('25["probe:echo",{"text":"alive"}]')
    assert (await raw.ack(5))["ok"] is True
    assert_clean_log(server)


@pytest.mark.parametrize(
    "text, where",
    [
        ('"\\ud800 lone"', "text"),
        ('"tail \\udfff"', "text"),
        ('"nul \\u0000 inside"', "text"),
    ],
)
async def test_lone_surrogates_and_nul_are_refused(server, raws, text, where):
    raw = await raws(server, "odd-text")
    ack, error = await raw.call_raw(1, f'["probe:echo",{{"text":{text}}}]')
    message = f"{where}: text must be valid Unicode without NUL characters"
    assert ack == refusal("VALIDATION_ERROR", message)
    assert error["event"] == "probe:echo"
    # In a key, deep in an ignored field, as well.
    ack, _ = await raw.call_raw(2, f'["probe:echo",{{"text":"ok","x":[{{{text}:1}}]}}]')
    assert ack == refusal(
        "VALIDATION_ERROR", "x.0: text must be valid Unicode without NUL characters"
    )
    await raw.drain(0.1)
    assert raw.unread_events("probe:echoed") == []
    assert_clean_log(server)


# --- 2. NaN and Infinity, 3. nesting -------------------------------------------------


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400", "-1e999"])
async def test_nan_and_infinity_are_refused_on_sockets(server, raws, number):
    raw = await raws(server, "nan-sender")
    ack, error = await raw.call_raw(1, f'["probe:echo",{{"text":"x","meta":{{"s":{number}}}}}]')
    assert ack == refusal("VALIDATION_ERROR", "meta.s: NaN and Infinity are not accepted")
    assert error == {
        "code": "VALIDATION_ERROR",
        "event": "probe:echo",
        "message": "meta.s: NaN and Infinity are not accepted",
    }
    await raw.drain(0.1)
    assert raw.unread_events("probe:echoed") == []


async def test_nan_in_a_message_is_never_stored_or_sent(server, raws):
    raw = await raws(server, "nan-messenger")
    reader = await server.connect("nan-reader")
    await raw.send('2["channel:join",{"channelId":"nan-room"}]')
    await raw.next_event("channel:history")
    await reader.call("channel:join", {"channelId": "nan-room"})
    ack, _ = await raw.call_raw(
        3, '["message:send",{"channelId":"nan-room","content":"hi","metadata":{"score":NaN}}]'
    )
    assert ack == refusal("VALIDATION_ERROR", "metadata.score: NaN and Infinity are not accepted")
    status, body = await server.http(
        "POST",
        "/api/v1/channels/nan-room/messages",
        token=server.token("nan-messenger"),
        data='{"content":"hi","metadata":{"score":Infinity}}',
    )
    assert status == 400 and body == {
        "error": {
            "code": "VALIDATION_ERROR",
            "message": "metadata.score: NaN and Infinity are not accepted",
        }
    }
    await reader.nothing("message:new", within=0.2)
    status, page = await server.http(
        "GET", "/api/v1/channels/nan-room/messages", token=server.token("nan-reader")
    )
    assert status == 200 and page["messages"] == []


async def test_nesting_is_capped_at_32_levels_on_sockets(server, raws):
    raw = await raws(server, "nester")
    ok = json.dumps(["probe:echo", {"text": "deep", "x": nested(31)}])  # payload: 32 levels
    await raw.send("21" + ok)
    assert (await raw.ack(1))["ok"] is True
    too_deep = json.dumps(["probe:echo", {"text": "deep", "x": nested(32)}])
    ack, error = await raw.call_raw(2, too_deep)
    assert ack["error"]["code"] == "VALIDATION_ERROR"
    assert ack["error"]["message"].endswith(": JSON nested more than 32 levels")
    # Far deeper than Python's parser recurses: refused whole, the socket stays.
    await raw.send("23" + '["probe:echo",' + "[" * 100_000 + "]" * 100_000 + "]")
    assert await raw.ack(3) == refusal("VALIDATION_ERROR", "JSON nested more than 32 levels")
    await raw.send('24["probe:echo",{"text":"alive"}]')
    assert (await raw.ack(4))["ok"] is True
    assert_clean_log(server)


async def test_http_bodies_pass_the_same_checks(server):
    token = server.token("http-body")
    cases = [
        ('{"text":"x","n":NaN}', "n: NaN and Infinity are not accepted"),
        ('{"text":"x","n":[1,-Infinity]}', "n.1: NaN and Infinity are not accepted"),
        ('{"text":"\\u0000"}', "text: text must be valid Unicode without NUL characters"),
        ('{"text":"\\ud83d"}', "text: text must be valid Unicode without NUL characters"),
        (json.dumps({"text": "x", "d": nested(32)}), None),
        ("[" * 50_000 + "]" * 50_000, "JSON nested more than 32 levels"),
    ]
    for body, message in cases:
        status, answer = await server.http("POST", "/api/v1/probe/echo", token=token, data=body)
        assert status == 400, body[:80]
        if message is not None:
            assert answer == {"error": {"code": "VALIDATION_ERROR", "message": message}}
        else:
            assert answer["error"]["message"].endswith("JSON nested more than 32 levels")
    status, answer = await server.http(
        "POST", "/api/v1/probe/echo", token=token, data=json.dumps({"text": "x", "d": nested(31)})
    )
    assert status == 200 and answer == {"text": "x", "count": 1}
    assert_clean_log(server)


def test_the_servers_json_is_strict():
    from core import wire

    with pytest.raises(ValueError):
        wire.dumps({"x": float("nan")})
    with pytest.raises(ValueError):
        wire.dumps([float("inf")])
    assert wire.loads('{"a":NaN}')["a"] is wire.NON_FINITE


# --- 8. auth:refresh validates fully before replacing the identity -------------------


@pytest.mark.parametrize("exp", [1e20, float("inf"), 253_402_300_800])
async def test_refresh_with_an_absurd_exp_keeps_the_old_identity(server, exp):
    client = Client(server.url)
    server.clients.append(client)
    await client.connect(make_token("far-future", ttl=2, exact=True))
    token = jwt.encode({"sub": "far-future", "org": "acme", "exp": exp}, SECRET, algorithm="HS256")
    ack = await client.call("auth:refresh", {"token": token})
    assert ack["ok"] is False and ack["error"]["code"] == "AUTH_INVALID", ack
    # The old token still rules: it expires and ends the connection.
    error = await client.next("error", timeout=6)
    if error["code"] == "AUTH_INVALID":
        error = await client.next("error", timeout=6)
    assert error["code"] == "TOKEN_EXPIRED"
    await asyncio.wait_for(client.disconnected.wait(), 5)
    assert_clean_log(server)


async def test_a_handshake_with_an_infinite_claim_is_refused(server):
    for claims in (
        {"exp": float("inf")},
        {"exp": int(time.time()) + 60, "iat": float("inf")},
        {"exp": float("nan")},
    ):
        token = jwt.encode({"sub": "inf", "org": "acme", **claims}, SECRET, algorithm="HS256")
        client = server.client()
        with pytest.raises(Exception):  # noqa: B017 - socketio raises ConnectionError
            await client.connect(token, wait=False)
        assert client.connect_error["data"]["code"] == "AUTH_INVALID", claims
    assert_clean_log(server)


# --- 5. a refresh with fewer rights leaves rooms -------------------------------------


async def test_refresh_with_fewer_rights_leaves_the_rooms_it_no_longer_grants(server):
    holder = await server.connect("vip-holder", roles=["vip"])
    peer = await server.connect("vip-peer", roles=["vip"])
    for client in (holder, peer):
        for name in ("vip-lounge", "lobby"):
            assert (await client.call("probe:join", {"name": name}))["ok"] is True
    ack = await holder.call("auth:refresh", {"token": server.token("vip-holder")})
    assert ack["ok"] is True and ack["left"] == ["probe:vip-lounge"]
    # The room is told, as for a leave.
    assert await peer.next("probe:left") == {
        "name": "vip-lounge",
        "userId": "vip-holder",
        "reason": "revoked",
    }
    await peer.call("probe:shout", {"name": "vip-lounge"})
    await holder.nothing("probe:shout", within=0.2)
    assert (await holder.call("probe:shout", {"name": "vip-lounge"}))["error"][
        "code"
    ] == "NOT_IN_ROOM"
    # Rooms the new token still grants are kept.
    await peer.call("probe:shout", {"name": "lobby"})
    assert await holder.next("probe:shout") == {"name": "lobby", "from": "vip-peer"}
    # Joining again is refused now.
    refused = await holder.call("probe:join", {"name": "vip-lounge"})
    assert refused["error"]["code"] == "FORBIDDEN"


async def test_refresh_without_a_customer_leaves_its_conversations(server):
    agent = await server.connect("agent-c", customers=["cust-r1"])
    colleague = await server.connect("agent-d", customers=["cust-r1"])
    ref = {"customerId": "cust-r1", "conversationId": "conv-r1"}
    assert (await agent.call("conversation:join", ref))["ok"] is True
    assert (await colleague.call("conversation:join", ref))["ok"] is True
    ack = await agent.call("auth:refresh", {"token": server.token("agent-c", customers=["other"])})
    assert ack["ok"] is True and ack["left"] == ["customer:cust-r1:conversation:conv-r1"]
    # The conversation is told, as for a leave (the agent's last socket there).
    left = await colleague.next("member:left")
    assert (left["userId"], left["conversationId"], left["customerId"]) == (
        "agent-c",
        "conv-r1",
        "cust-r1",
    )
    sent = await agent.call("message:send", {**ref, "content": "still here?"})
    assert sent["error"]["code"] == "NOT_IN_ROOM"
    assert (await colleague.call("message:send", {**ref, "content": "secret"}))["ok"] is True
    await agent.nothing("message:new", within=0.2)
    again = await agent.call("conversation:join", ref)
    assert again["error"]["code"] == "FORBIDDEN"


# --- 7. connection and user limits ---------------------------------------------------


@pytest.fixture(scope="module")
def limited(start_server) -> LiveServer:
    return start_server(
        env={
            "LVNG_MAX_CONNECTIONS_PER_USER": "3",
            "LVNG_RATE_LIMIT_EVENTS": "5",
            "LVNG_RATE_LIMIT_USER_EVENTS": "8",
            "LVNG_HANDSHAKE_TIMEOUT": "1",
        }
    )


async def test_connections_per_user_are_capped(limited, raws):
    first = [await limited.connect("many") for _ in range(2)]
    raw = await raws(limited, "many")
    assert len(first) == 2
    rejects = await limited.metric("lvng_connection_rejects_total", reason="rate_limited")
    client = limited.client()
    with pytest.raises(Exception):  # noqa: B017 - socketio raises ConnectionError
        await client.connect(limited.token("many"), wait=False)
    assert client.connect_error["data"] == {
        "code": "RATE_LIMITED",
        "message": "at most 3 connections per user",
    }
    assert (
        await limited.metric("lvng_connection_rejects_total", reason="rate_limited") == rejects + 1
    )
    # The same user in another organization, and other users, are not affected.
    assert (await limited.connect("many", "elsewhere")).sid
    assert (await limited.connect("someone-else")).sid
    # A socket that ends its session frees its place (same Engine.IO session, in order).
    await raw.send("1")
    await raw.send("0" + json.dumps({"token": limited.token("many")}))
    reply = await raw.next_packet(lambda p: p.startswith(("0", "4")))
    assert reply.startswith("0{"), reply


async def test_one_users_sockets_share_a_rate_limit(limited):
    a = await limited.connect("shared-budget")
    b = await limited.connect("shared-budget")
    bystander = await limited.connect("own-budget")
    assert all([(await a.call("probe:echo", {"text": "a"}))["ok"] for _ in range(5)])
    results = [await b.call("probe:echo", {"text": "b"}) for _ in range(4)]
    assert [r["ok"] for r in results] == [True, True, True, False]
    error = results[-1]["error"]
    assert error["code"] == "RATE_LIMITED"
    assert error["message"] == (
        "rate limit of 8 events per 60 s for all of a user's connections exceeded"
    )
    assert 55_000 < error["retryAfterMs"] <= 60_001
    # Reconnecting does not refill it; another user has a budget of its own.
    await a.close()
    await b.close()
    c = await limited.connect("shared-budget")
    assert (await c.call("probe:echo", {"text": "c"}))["error"]["code"] == "RATE_LIMITED"
    assert (await bystander.call("probe:echo", {"text": "x"}))["ok"] is True


async def test_sessions_without_a_handshake_are_closed(limited, raws):
    authenticated = await raws(limited, "patient")
    silent = await raws(limited, None, handshake=False)
    await silent.wait_closed(timeout=5)
    # A polling session too.
    async with aiohttp.ClientSession() as http:
        base = limited.url + "/socket.io/?EIO=4&transport=polling"
        async with http.get(base) as resp:
            sid = json.loads((await resp.text())[1:])["sid"]
        async with http.get(f"{base}&sid={sid}") as resp:  # held until the session ends
            assert resp.status in (200, 400)
        async with http.get(f"{base}&sid={sid}") as resp:
            assert resp.status == 400
    # A refused handshake does not keep its session either.
    refused = RawSocket(limited.url)
    await refused.open(handshake=False)
    await refused.send("0" + json.dumps({"token": "not-a-jwt"}))
    assert (await refused.next_packet(lambda p: p.startswith("4"))).startswith("4{")
    await refused.wait_closed(timeout=5)
    await refused.close()
    # Nor does one whose Socket.IO session ended.
    ended = await raws(limited, "ender")
    await ended.send("1")
    await ended.wait_closed(timeout=5)
    # The authenticated one, opened before all of them, is still served.
    await authenticated.send('21["probe:echo",{"text":"still"}]')
    assert (await authenticated.ack(1))["ok"] is True


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
        assert (status, body) == (
            503,
            {"error": {"code": "UNAVAILABLE", "message": "a backing store is unavailable"}},
        )
        status, body = await live.http(
            "POST", "/api/v1/channels/up/messages", token=token, json={"content": "hi"}
        )
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

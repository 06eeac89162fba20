"""Handshake, identity and token lifetime through a live server (contract section 2)."""

from __future__ import annotations

import asyncio
import re
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.live import SECRET, Client, make_token

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_connected_payload_is_exact(server, transport):
    client = await server.connect("u1", "acme", transport=transport)
    assert client.sio.transport() == transport
    payload = client.received["connected"][0]
    assert set(payload) == {"socketId", "userId", "organizationId", "timestamp"}
    assert payload["socketId"] == client.sid
    assert payload["userId"] == "u1"
    assert payload["organizationId"] == "acme"
    assert ISO_MS.match(payload["timestamp"])
    # and the socket works on that transport
    assert await client.call("probe:echo", {"text": "hi"}) == {"ok": True, "text": "hi", "count": 1}


async def test_bearer_header_is_accepted(server):
    client = server.client()
    await client.connect(auth={}, headers={"Authorization": f"Bearer {server.token('u2')}"})
    assert client.received["connected"][0]["userId"] == "u2"


async def test_rooms_of_two_organizations_never_mix(server):
    """The same user id and room name in two organizations are two different rooms."""
    joined = await server.connect("room-user", "acme")
    other_org = await server.connect("room-user", "globex")
    await joined.call("probe:join", {"name": "shared"})
    await other_org.call("probe:join", {"name": "shared"})
    listener = await server.connect("listener", "acme")
    await listener.call("probe:join", {"name": "shared"})
    await joined.call("probe:shout", {"name": "shared"})
    assert await listener.next("probe:shout") == {"name": "shared", "from": "room-user"}
    await other_org.nothing("probe:shout")


async def refused(server, **connect_kwargs) -> dict:
    client = server.client()
    with pytest.raises(Exception):  # noqa: B017 - socketio raises ConnectionError
        await client.connect(wait=False, **connect_kwargs)
    assert client.connect_error is not None, "no connect_error received"
    return client.connect_error["data"]


async def test_refusal_without_token(server):
    data = await refused(server, auth={})
    assert data == {"code": "AUTH_REQUIRED", "message": "a JWT is required in auth.token"}


async def test_refusal_bad_signature(server):
    data = await refused(server, token=make_token(secret="another-secret-of-sufficient-len"))
    assert data == {"code": "AUTH_INVALID", "message": "the token signature is invalid"}


async def test_refusal_alg_none(server):
    token = jwt.encode(
        {"sub": "u1", "org": "acme", "exp": int(time.time()) + 60}, None, algorithm="none"
    )
    data = await refused(server, token=token)
    assert data == {"code": "AUTH_INVALID", "message": "algorithm 'none' is not accepted"}


@pytest.mark.parametrize("alg", ["HS384", "HS512"])
async def test_an_hs256_server_refuses_other_hs_algorithms_with_the_same_secret(server, alg):
    """Only the configured algorithms pass, even when the signature checks out."""
    token = make_token("u-" + alg.lower(), alg=alg)
    assert jwt.decode(token, SECRET, algorithms=[alg])["sub"] == "u-" + alg.lower()
    assert (await refused(server, token=token)) == {
        "code": "AUTH_INVALID",
        "message": f"algorithm '{alg}' is not accepted",
    }
    assert await server.http("GET", "/api/v1/probe/whoami", token=token) == (
        401,
        {"error": {"code": "AUTH_INVALID", "message": f"algorithm '{alg}' is not accepted"}},
    )
    # The same claims as HS256 pass: the refusal is the algorithm's alone.
    ok = await server.connect("u-" + alg.lower())
    assert ok.received["connected"][0]["userId"] == "u-" + alg.lower()


async def test_a_server_configured_for_several_hs_algorithms_accepts_each(start_server):
    live = start_server(env={"LVNG_JWT_ALGORITHMS": "HS256,HS512"})
    for alg in ("HS256", "HS512"):
        client = live.client()
        await client.connect(make_token("multi", alg=alg))
        assert client.received["connected"][0]["userId"] == "multi"
    assert (await refused(live, token=make_token("multi", alg="HS384"))) == {
        "code": "AUTH_INVALID",
        "message": "algorithm 'HS384' is not accepted",
    }
    await live.close_clients()


async def test_refusal_expired(server):
    data = await refused(server, token=make_token(ttl=-10))
    assert data == {"code": "TOKEN_EXPIRED", "message": "the token has expired"}


async def test_refusal_without_exp_or_org(server):
    no_exp = jwt.encode({"sub": "u1", "org": "acme"}, SECRET, algorithm="HS256")
    assert (await refused(server, token=no_exp)) == {
        "code": "AUTH_INVALID",
        "message": "the token has no exp claim",
    }
    no_org = make_token(org=None)
    assert (await refused(server, token=no_org))["code"] == "AUTH_INVALID"
    garbage = await refused(server, token="not-a-jwt")
    assert garbage == {"code": "AUTH_INVALID", "message": "the token is not a JWT"}


async def test_refusals_are_counted(server):
    before = await server.metric("lvng_connection_rejects_total", reason="auth_required")
    await refused(server, auth={})
    assert (
        await server.metric("lvng_connection_rejects_total", reason="auth_required") == before + 1
    )


async def test_audience_and_issuer(start_server):
    live = start_server(env={"LVNG_JWT_AUDIENCE": "lvng-api", "LVNG_JWT_ISSUER": "idp"})
    wrong_aud = await refused(live, token=make_token(aud="other", iss="idp"))
    assert wrong_aud == {"code": "AUTH_INVALID", "message": "the token is for another audience"}
    no_aud = await refused(live, token=make_token(iss="idp"))
    assert no_aud["code"] == "AUTH_INVALID"
    wrong_iss = await refused(live, token=make_token(aud="lvng-api", iss="evil"))
    assert wrong_iss == {"code": "AUTH_INVALID", "message": "the token has another issuer"}
    ok = live.client()
    await ok.connect(make_token("u9", aud="lvng-api", iss="idp"))
    assert ok.received["connected"][0]["userId"] == "u9"
    await live.close_clients()


async def test_public_key_and_claim_mapping(start_server, tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "pub.pem").write_bytes(pem)
    live = start_server(
        env={
            "LVNG_JWT_SECRET": "",
            "LVNG_JWT_PUBLIC_KEY": str(tmp_path / "pub.pem"),
            "LVNG_JWT_ALGORITHMS": "ES256",
            "LVNG_AUTH_CLAIMS__USER_ID": "uid",
            "LVNG_AUTH_CLAIMS__ORGANIZATION_ID": "tenant",
        }
    )
    exp = int(time.time()) + 60
    good = jwt.encode({"uid": "mapped", "tenant": "t1", "exp": exp}, key, algorithm="ES256")
    client = live.client()
    await client.connect(good)
    assert client.received["connected"][0]["userId"] == "mapped"
    assert client.received["connected"][0]["organizationId"] == "t1"
    # HS256 signed with the public key text (algorithm confusion) is refused.
    confused = jwt.encode({"uid": "x", "tenant": "t1", "exp": exp}, "k" * 32, algorithm="HS256")
    assert (await refused(live, token=confused)) == {
        "code": "AUTH_INVALID",
        "message": "algorithm 'HS256' is not accepted",
    }
    await live.close_clients()


async def test_token_expiry_while_connected(server):
    expiries = await server.metric("lvng_token_expiry_disconnects_total")
    client = Client(server.url)
    server.clients.append(client)
    # exp is exact (a float NumericDate), so the token lives 2 s from now, not 1 to 2.
    await client.connect(make_token("short", ttl=2, exact=True))
    error = await client.next("error", timeout=6)
    assert error["code"] == "TOKEN_EXPIRED"
    assert error == {
        "code": "TOKEN_EXPIRED",
        "message": "the token has expired; reconnect with a new one",
        "event": None,
    }
    await asyncio.wait_for(client.disconnected.wait(), 5)
    assert await server.metric("lvng_token_expiry_disconnects_total") == expiries + 1


async def test_auth_refresh_keeps_the_connection(server):
    client = Client(server.url)
    server.clients.append(client)
    await client.connect(make_token("refresher", ttl=2, exact=True))
    fresh = make_token("refresher", ttl=3600)
    ack = await client.call("auth:refresh", {"token": fresh})
    assert ack["ok"] is True and ISO_MS.match(ack["expiresAt"])
    assert set(ack) == {"ok", "expiresAt", "left"} and ack["left"] == []
    await asyncio.sleep(2.5)  # past the first token's expiry
    assert client.sio.connected
    await client.nothing("error", within=0.1)
    assert (await client.call("probe:echo", {"text": "still"}))["ok"] is True


async def test_auth_refresh_to_a_sooner_expiry_disconnects_at_the_new_expiry(server):
    """The expiry timer follows the refreshed token, also when it expires sooner."""
    client = Client(server.url)
    server.clients.append(client)
    await client.connect(make_token("shortened", ttl=3600))
    sooner = make_token("shortened", ttl=1.5, exact=True)
    expires = jwt.decode(sooner, options={"verify_signature": False})["exp"]
    ack = await client.call("auth:refresh", {"token": sooner})
    assert ack["ok"] is True and ack["left"] == [], ack
    error = await client.next("error", timeout=4)
    at = time.time()
    assert error == {
        "code": "TOKEN_EXPIRED",
        "message": "the token has expired; reconnect with a new one",
        "event": None,
    }
    await asyncio.wait_for(client.disconnected.wait(), 5)
    # At the new exp (not the first token's hour), give or take a loaded machine's tick.
    assert expires - 0.05 <= at < expires + 1.0, (at, expires)


async def test_auth_refresh_rejects_other_user_and_bad_tokens(server):
    client = await server.connect("owner", "acme")
    other = await client.call("auth:refresh", {"token": server.token("intruder", "acme")})
    assert other == {
        "ok": False,
        "error": {
            "code": "FORBIDDEN",
            "message": "the new token is for another user or organization",
        },
    }
    other_org = await client.call("auth:refresh", {"token": server.token("owner", "globex")})
    assert other_org["error"]["code"] == "FORBIDDEN"
    expired = await client.call("auth:refresh", {"token": make_token("owner", ttl=-5)})
    assert expired["error"]["code"] == "TOKEN_EXPIRED"
    missing = await client.call("auth:refresh", {})
    assert missing["error"]["code"] == "VALIDATION_ERROR"
    assert client.sio.connected


async def test_every_socket_is_in_its_organization_room(server):
    sender = await server.connect("herald", "org-room-a")
    colleague = await server.connect("colleague", "org-room-a")
    stranger = await server.connect("stranger", "org-room-b")
    assert await sender.call("probe:announce", {"note": "all hands"}) == {"ok": True}
    assert await sender.next("probe:announced") == {"note": "all hands"}
    assert await colleague.next("probe:announced") == {"note": "all hands"}
    await stranger.nothing("probe:announced")


async def test_a_frame_over_the_buffer_limit_closes_only_that_socket(server):
    big = await server.connect("big-sender")
    bystander = await server.connect("bystander")
    await big.emit("probe:echo", {"text": "x" * 1_200_000})
    await asyncio.wait_for(big.disconnected.wait(), 5)
    assert (await bystander.call("probe:echo", {"text": "still here"}))["ok"] is True
    again = await server.connect("big-sender")
    assert (await again.call("probe:echo", {"text": "back"}))["ok"] is True


@pytest.mark.parametrize(
    "size", [1_010_000, 1_200_000], ids=["over-engineio-buffer", "over-http-body-limit"]
)
async def test_a_polling_post_over_the_buffer_limit_is_dropped(server, size):
    """The oversized POST is refused (by Engine.IO past its 1 MB buffer, by Sanic past its
    body limit) and that session ends; nothing of it is handled."""
    org = f"poll-{uuid.uuid4().hex[:10]}"
    witness = await server.connect("poll-witness", org)
    big = await server.connect("big-poller", org, transport="polling")
    bystander = await server.connect("poll-bystander", org, transport="polling")
    received = await server.metric("lvng_events_received_total", event="probe:echo")
    await big.emit("probe:echo", {"text": "x" * size})
    # The session ends: the server disconnects the socket and drops it from its rooms
    # (the probe plugin tells the organization).
    while (gone := await witness.next("probe:gone"))["userId"] != "big-poller":
        pass
    assert gone["reason"] == "disconnected"
    # Nothing reached the pipeline: not counted, no error, no echo.
    assert await server.metric("lvng_events_received_total", event="probe:echo") == received
    assert big.unread("probe:echoed") == [] and big.unread("error") == []
    assert (await bystander.call("probe:echo", {"text": "still here"}))["ok"] is True
    assert await server.metric("lvng_events_received_total", event="probe:echo") == received + 1
    # The client hears of it with its next request: at once when a long-poll was waiting
    # (the CLOSE packet), else when its next poll is refused; either way, not a handler.
    server.clients.remove(big)
    await big.sio.eio.disconnect(abort=True)

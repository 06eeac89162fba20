"""Signed deliveries, verified as an app does (`standardwebhooks`), the organization filter,
and the admin listing; one live server (SQLite) and a receiver in the test. The module's
tests share both and run in any order (pytest-randomly): each sends to a channel of its
own and reads only that channel's deliveries."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.live import LiveServer
from tests.webhooks.support import (
    SECRET,
    Received,
    Receiver,
    config,
    contents,
    endpoint_toml,
    eventually,
    send_messages,
    write_config,
)


@pytest.fixture(scope="module")
def live(
    receiver: Receiver,
    start_server: Callable[..., LiveServer],
    tmp_path_factory: pytest.TempPathFactory,
) -> LiveServer:
    workdir: Path = tmp_path_factory.mktemp("webhooks")
    path = write_config(
        workdir,
        config(
            {"retry_initial_seconds": 0.2, "retry_max_seconds": 1},
            [
                endpoint_toml(receiver, "created", events=("message.created",)),
                endpoint_toml(receiver, "acme-only", organizations=("acme",)),
            ],
        ),
    )
    return start_server(args=["--config", str(path)], workdir=workdir)


async def test_ten_messages_make_ten_signed_deliveries(
    live: LiveServer, receiver: Receiver
) -> None:
    alice = await live.connect("alice", "acme", name="Alice")
    ids = await send_messages(alice, "acme-hooks", 10)
    await receiver.until(lambda: len(_in(receiver.accepted("created"), "acme-hooks")) == 10)
    got = _in(receiver.accepted("created"), "acme-hooks")
    assert contents(got) == [f"m{n}" for n in range(10)]  # the room's order
    webhook_ids = set()
    for delivery, message_id in zip(got, ids, strict=True):
        payload = delivery.verified()  # standardwebhooks: signature and timestamp
        assert set(payload) == {"id", "type", "organizationId", "timestamp", "data"}
        assert payload["id"] == delivery.webhook_id and payload["id"].startswith("evt_")
        assert payload["type"] == "message.created"
        assert payload["organizationId"] == "acme"
        assert payload["data"]["messageId"] == message_id
        assert payload["data"]["channelId"] == "acme-hooks"
        assert payload["data"]["userId"] == "alice"
        assert delivery.headers["webhook-signature"].startswith("v1,")
        webhook_ids.add(delivery.webhook_id)
    assert len(webhook_ids) == 10
    # "acme-only" takes every event of acme: the same ten (and the join, if any)
    await receiver.until(lambda: len(_in(receiver.accepted("acme-only"), "acme-hooks")) >= 10)
    await eventually(lambda: _delivered_at_least(live, 20), "20 deliveries counted as delivered")


def _in(received: list[Received], channel: str) -> list[Received]:
    """The deliveries of one channel's messages, in the order they arrived."""
    return [r for r in received if r.verified()["data"].get("channelId") == channel]


async def _delivered_at_least(live: LiveServer, n: int) -> bool:
    return await live.metric("lvng_webhooks_deliveries_total", result="delivered") >= n


async def test_a_wrong_secret_does_not_verify(live: LiveServer, receiver: Receiver) -> None:
    from standardwebhooks.webhooks import WebhookVerificationError

    carol = await live.connect("carol", "acme", name="Carol")
    await send_messages(carol, "acme-secret", 1, prefix="s")
    await receiver.until(lambda: bool(_in(receiver.accepted("created"), "acme-secret")))
    delivery = _in(receiver.accepted("created"), "acme-secret")[0]
    other = "whsec_" + "A" * 44
    with pytest.raises(WebhookVerificationError):
        delivery.verified(other)
    assert delivery.verified(SECRET)


async def test_an_endpoint_limited_to_an_organization_gets_none_of_another(
    live: LiveServer, receiver: Receiver
) -> None:
    bob = await live.connect("bob", "globex", name="Bob")
    await send_messages(bob, "globex-hooks", 3, prefix="g")
    await receiver.until(lambda: len(_in(receiver.accepted("created"), "globex-hooks")) == 3)
    got = _in(receiver.accepted("created"), "globex-hooks")
    assert contents(got) == ["g0", "g1", "g2"]
    assert all(r.verified()["organizationId"] == "globex" for r in got)
    # the limited endpoint: acme's events only, ever
    assert all(r.verified()["organizationId"] == "acme" for r in receiver.at("acme-only"))
    status, listing = await live.http(
        "GET",
        "/api/v1/admin/webhooks?state=delivered",
        token=live.token("root", "globex", roles=["admin"]),
    )
    assert status == 200, listing
    assert {d["endpoint"] for d in listing["deliveries"]} == {"created"}
    assert all(d["organizationId"] == "globex" for d in listing["deliveries"])


async def test_the_admin_listing_is_for_admins(live: LiveServer) -> None:
    status, body = await live.http("GET", "/api/v1/admin/webhooks", token=live.token("alice"))
    assert status == 403, body
    # An organization of its own: the other tests' deliveries are acme's and globex's.
    status, body = await live.http(
        "GET", "/api/v1/admin/webhooks", token=live.token("root", "initech", roles=["admin"])
    )
    assert status == 200, body
    assert (body["pending"], body["failed"]) == (0, 0)
    assert body["deliveries"] == []

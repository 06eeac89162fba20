"""Retries with backoff (short settings), giving up and resending, and a slow endpoint that
delays neither acks nor another endpoint. One live server (SQLite), a receiver in the
test; each endpoint takes one organization's events and each test has its own endpoint,
so the tests do not mix in any order (pytest-randomly shuffles them)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from tests.live import LiveServer
from tests.webhooks.support import (
    Receiver,
    config,
    contents,
    endpoint_toml,
    eventually,
    send_messages,
    write_config,
)

SETTINGS = {
    "retry_initial_seconds": 0.2,
    "retry_max_seconds": 0.5,
    "give_up_after_seconds": 3,
    "timeout_seconds": 1,
    "poll_seconds": 0.2,
    "keep_delivered_seconds": 2,
}


@pytest.fixture(scope="module")
def live(
    receiver: Receiver,
    start_server: Callable[..., LiveServer],
    tmp_path_factory: pytest.TempPathFactory,
) -> LiveServer:
    workdir = tmp_path_factory.mktemp("webhooks-retries")
    endpoints = [
        endpoint_toml(receiver, "flaky", events=("message.created",), organizations=("flaky",)),
        endpoint_toml(receiver, "doomed", events=("message.created",), organizations=("doomed",)),
        endpoint_toml(receiver, "slow", events=("message.created",), organizations=("slow",)),
        endpoint_toml(receiver, "fast", events=("message.created",), organizations=("slow",)),
        endpoint_toml(receiver, "kept", events=("message.created",), organizations=("kept",)),
    ]
    path = write_config(workdir, config(SETTINGS, endpoints))
    return start_server(args=["--config", str(path)], workdir=workdir)


def admin(live: LiveServer, org: str) -> str:
    return live.token("root", org, roles=["admin"])


async def listing(live: LiveServer, org: str, state: str = "open") -> dict[str, Any]:
    status, body = await live.http(
        "GET", f"/api/v1/admin/webhooks?state={state}", token=admin(live, org)
    )
    assert status == 200, body
    return dict(body)


async def test_a_failing_endpoint_gets_everything_by_retries_in_order(
    live: LiveServer, receiver: Receiver
) -> None:
    receiver.status["flaky"] = 503
    alice = await live.connect("alice", "flaky")
    await send_messages(alice, "flaky-a", 3, prefix="a")
    await send_messages(alice, "flaky-b", 3, prefix="b")
    # both rooms' first events tried and refused, again and again
    await receiver.until(lambda: len(receiver.at("flaky")) >= 6)
    assert not receiver.accepted("flaky")
    refused = receiver.at("flaky")
    assert {tuple(contents([r])) for r in refused} <= {("a0",), ("b0",)}  # heads only
    receiver.status["flaky"] = 200
    await receiver.until(lambda: len(receiver.accepted("flaky")) == 6)
    got = receiver.accepted("flaky")
    assert [c for c in contents(got) if c[0] == "a"] == ["a0", "a1", "a2"]
    assert [c for c in contents(got) if c[0] == "b"] == ["b0", "b1", "b2"]
    # one webhook-id per event on every attempt, with the same body; none accepted twice
    by_id: dict[str, set[str]] = {}
    for r in receiver.at("flaky"):
        by_id.setdefault(r.webhook_id, set()).add(r.body)
    assert len(by_id) == 6 and all(len(bodies) == 1 for bodies in by_id.values())
    assert set(Counter(r.webhook_id for r in got).values()) == {1}
    assert await live.metric("lvng_webhooks_deliveries_total", result="retried") >= 6

    async def none_pending() -> bool:
        return (await listing(live, "flaky"))["pending"] == 0

    await eventually(none_pending, "the six recorded as delivered")


async def test_given_up_it_is_kept_as_failed_and_can_be_resent(
    live: LiveServer, receiver: Receiver
) -> None:
    receiver.status["doomed"] = 500
    alice = await live.connect("alice", "doomed")
    await send_messages(alice, "doomed-a", 1, prefix="d")
    await receiver.until(lambda: bool(receiver.at("doomed")))
    deadline = time.monotonic() + 15
    while (found := await listing(live, "doomed", "failed"))["failed"] == 0:
        assert time.monotonic() < deadline, found
        await asyncio.sleep(0.1)  # polls the state: the give-up is recorded after a POST
    (failed,) = found["deliveries"]
    assert failed["state"] == "failed" and failed["endpoint"] == "doomed"
    assert failed["lastStatus"] == 500 and failed["attempts"] >= 2
    assert failed["eventId"] == receiver.at("doomed")[0].webhook_id
    assert await live.metric("lvng_webhooks_deliveries_total", result="failed") >= 1

    receiver.status["doomed"] = 200
    status, body = await live.http(
        "POST",
        f"/api/v1/admin/webhooks/{failed['deliveryId']}/resend",
        token=admin(live, "doomed"),
    )
    assert status == 200, body
    await receiver.until(lambda: len(receiver.accepted("doomed")) == 1)
    assert receiver.accepted("doomed")[0].webhook_id == failed["eventId"]
    assert contents(receiver.accepted("doomed")) == ["d0"]
    assert (await listing(live, "doomed"))["deliveries"] == []
    # accepted: not resent again
    status, body = await live.http(
        "POST",
        f"/api/v1/admin/webhooks/{failed['deliveryId']}/resend",
        token=admin(live, "doomed"),
    )
    assert status == 409, body
    # another organization's admin does not see it
    status, body = await live.http(
        "POST",
        f"/api/v1/admin/webhooks/{failed['deliveryId']}/resend",
        token=admin(live, "flaky"),
    )
    assert status == 404, body


async def test_a_slow_endpoint_delays_no_ack_and_no_other_endpoint(
    live: LiveServer, receiver: Receiver
) -> None:
    receiver.delay["slow"] = 3.0  # past timeout_seconds: every attempt times out
    alice = await live.connect("alice", "slow")
    assert (await alice.call("channel:join", {"channelId": "slow-a"}))["ok"]
    for n in range(5):
        ack = await alice.call("message:send", {"channelId": "slow-a", "content": f"s{n}"})
        assert ack["ok"], ack
    # Five acks are back while the slow endpoint's first POST is still held (3 s; had an
    # ack waited for it, even only up to timeout_seconds, it would have answered by now).
    assert not receiver.at("slow")
    await receiver.until(lambda: len(receiver.accepted("fast")) == 5)
    assert contents(receiver.accepted("fast")) == [f"s{n}" for n in range(5)]
    assert not receiver.at("slow")  # the other endpoint did not wait for it either


async def test_delivered_rows_are_deleted_after_keep_delivered_seconds(
    live: LiveServer, receiver: Receiver
) -> None:
    alice = await live.connect("alice", "kept")
    await send_messages(alice, "kept-prune", 1, prefix="p")
    await receiver.until(lambda: "p0" in contents(receiver.accepted("kept")))
    (p0,) = [r for r in receiver.accepted("kept") if contents([r]) == ["p0"]]

    async def listed() -> bool:
        kept = (await listing(live, "kept", "delivered"))["deliveries"]
        return p0.webhook_id in {d["eventId"] for d in kept}

    deadline = time.monotonic() + 15
    while not await listed():  # recorded as delivered once the 2xx is back
        assert time.monotonic() < deadline, "not recorded as delivered"
        await asyncio.sleep(0.05)
    while await listed():  # then deleted, 2 s later
        assert time.monotonic() < deadline, "delivered rows were not deleted"
        await asyncio.sleep(0.2)

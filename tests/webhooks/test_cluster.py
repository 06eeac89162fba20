"""Two nodes (two server processes on one PostgreSQL database and one Redis) deliver each
event once, and one room's events in order, whichever node its senders are on."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from tests.services import Cluster
from tests.webhooks.support import (
    Receiver,
    config,
    contents,
    endpoint_toml,
    eventually,
    send_messages,
)

SETTINGS = {"retry_initial_seconds": 0.2, "retry_max_seconds": 0.5, "poll_seconds": 0.1}


async def test_two_nodes_deliver_each_event_once_and_in_room_order(
    cluster: Callable[..., Cluster], receiver: Receiver
) -> None:
    receiver.delay["app"] = 0.02  # POSTs overlap the other node's rounds
    nodes = cluster(config(SETTINGS, [endpoint_toml(receiver, "app", events=("message.created",))]))
    one, two = nodes.start_node(), nodes.start_node()
    alice = await one.connect("alice", "acme")
    bob = await two.connect("bob", "acme")
    carol = await two.connect("carol", "acme")
    # one room, its senders on both nodes, taking turns
    for client in (alice, carol):
        assert (await client.call("channel:join", {"channelId": "shared"}))["ok"]
    for n in range(10):
        sender = alice if n % 2 == 0 else carol
        ack = await sender.call("message:send", {"channelId": "shared", "content": f"s{n}"})
        assert ack["ok"], ack
    await send_messages(alice, "one-only", 10, prefix="a")
    await send_messages(bob, "two-only", 10, prefix="b")
    await receiver.until(lambda: len(receiver.at("app")) >= 30)
    admin = one.token("root", "acme", roles=["admin"])

    async def all_recorded() -> bool:
        status, listing = await two.http("GET", "/api/v1/admin/webhooks", token=admin)
        assert status == 200 and listing["failed"] == 0, listing
        return bool(listing["pending"] == 0)

    await eventually(all_recorded, "every delivery recorded as delivered")
    got = receiver.accepted("app")
    assert len(receiver.at("app")) == 30 and len(got) == 30
    assert set(Counter(r.webhook_id for r in got).values()) == {1}  # once each
    texts = contents(got)
    assert [t for t in texts if t.startswith("s")] == [f"s{n}" for n in range(10)]
    assert [t for t in texts if t.startswith("a")] == [f"a{n}" for n in range(10)]
    assert [t for t in texts if t.startswith("b")] == [f"b{n}" for n in range(10)]
    delivered = [
        await node.metric("lvng_webhooks_deliveries_total", result="delivered")
        for node in (one, two)
    ]
    assert sum(delivered) == 30, delivered  # each counted once, on the node that sent it

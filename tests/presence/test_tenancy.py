"""Organizations never see each other's presence, even for a user id they share."""

from __future__ import annotations

from tests.messages.support import uid
from tests.presence.support import connect, heard, listed, update


async def test_organizations_never_see_each_others_presence(server):
    org_a, org_b = uid("org"), uid("org")
    alice = await connect(server, "alice", org_a, "Alice")
    await heard(alice)
    mallory = await connect(server, "mallory", org_b, "Mallory")
    await heard(mallory)
    await alice.nothing("presence:update", within=0.1)

    # The same user id in org B is another person, with its own presence.
    alice_b = await connect(server, "alice", org_b, "Alice of B")
    assert await heard(mallory) == update("alice", "Alice of B", "online")
    assert await heard(alice_b) == update("alice", "Alice of B", "online")
    await alice.call("presence:update", {"status": "busy", "customStatus": "A only"})
    assert await heard(alice) == update("alice", "Alice", "busy", "A only")
    await alice.close()

    users = await listed(mallory)
    assert [(u["userId"], u["userName"], u["status"], u["customStatus"]) for u in users] == [
        ("alice", "Alice of B", "online", None),
        ("mallory", "Mallory", "online", None),
    ]
    status, body = await server.http(
        "GET", "/api/v1/presence", token=server.token("mallory", org_b, roles=["admin"])
    )
    assert status == 200 and [u["userId"] for u in body["users"]] == ["alice", "mallory"]
    assert body["users"][0]["customStatus"] is None
    await mallory.nothing("presence:update", within=0.1)
    await alice_b.nothing("presence:update", within=0.0)  # nothing of org A's alice

"""Every presence payload of the reference's Presence table and contract section 6, key for
key: `presence:update` (broadcast and ack), the `presence:list` ack, `GET /api/v1/presence`."""

from __future__ import annotations

from tests.messages.support import uid
from tests.presence.support import TIMESTAMP, connect, heard, listed, update


async def test_the_first_socket_announces_online_to_the_whole_organization(server):
    org = uid("org")
    alice = await connect(server, "alice", org, "Alice")
    assert await heard(alice) == update("alice", "Alice", "online")  # she hears herself
    bob = await connect(server, "bob", org, "Bob")
    assert await heard(alice) == update("bob", "Bob", "online")
    assert await heard(bob) == update("bob", "Bob", "online")
    await bob.nothing("presence:update", within=0.2)  # alice was online before bob came


async def test_an_update_is_acked_and_broadcast_with_the_same_keys(server):
    org = uid("org")
    alice = await connect(server, "alice", org, "Alice")
    await heard(alice)
    bob = await connect(server, "bob", org, "Bob")
    await heard(bob)
    await heard(alice)

    ack = await alice.call(
        "presence:update",
        {
            "status": "busy",
            "customStatus": "In a meeting",
            "statusText": "Back at 3pm",
            "userId": "mallory",
            "userName": "Mallory",
        },
    )  # who it is comes from the token
    assert ack.pop("ok") is True and TIMESTAMP.match(ack.pop("timestamp"))
    expected = update("alice", "Alice", "busy", "In a meeting", "Back at 3pm")
    assert ack == expected
    assert await heard(bob) == expected and await heard(alice) == expected

    # A key left out keeps its value; null clears it.
    ack = await alice.call("presence:update", {"status": "away", "statusText": None})
    assert (ack["status"], ack["customStatus"], ack["statusText"]) == ("away", "In a meeting", None)
    assert await heard(bob) == update("alice", "Alice", "away", "In a meeting")
    # The same again changes nothing anyone sees: acked, not broadcast.
    ack = await alice.call("presence:update", {"status": "away"})
    assert ack["ok"] is True and ack["status"] == "away"
    assert (await alice.call("presence:heartbeat")) == {"ok": True}
    await bob.nothing("presence:update", within=0.3)


async def test_list_and_http_give_every_known_user_of_the_organization(server):
    org = uid("org")
    alice = await connect(server, "alice", org, "Alice")
    bob = await connect(server, "bob", org, "Bob")
    await alice.call("presence:update", {"status": "busy", "customStatus": "Focus"})
    users = await listed(bob)
    assert [{k: v for k, v in u.items() if k != "lastSeen"} for u in users] == [
        {
            "userId": "alice",
            "userName": "Alice",
            "status": "busy",
            "customStatus": "Focus",
            "statusText": None,
        },
        {
            "userId": "bob",
            "userName": "Bob",
            "status": "online",
            "customStatus": None,
            "statusText": None,
        },
    ]
    status, body = await server.http("GET", "/api/v1/presence", token=server.token("carol", org))
    assert status == 200 and set(body) == {"users", "nextCursor"}
    assert [{k: v for k, v in u.items() if k != "lastSeen"} for u in body["users"]] == [
        {k: v for k, v in u.items() if k != "lastSeen"} for u in users
    ]
    assert all(TIMESTAMP.match(u["lastSeen"]) for u in body["users"])
    assert await server.http("GET", "/api/v1/presence") == (
        401,
        {"error": {"code": "AUTH_REQUIRED", "message": "send Authorization: Bearer <JWT>"}},
    )

"""Presence in a large organization (contract section 13, issue 25) on one live server:
past `org_broadcast_limit` online users only subscribers and the user's own devices hear a
change; `presence:subscribe`/`unsubscribe`; paged `presence:list` and GET /api/v1/presence."""

from __future__ import annotations

import time
from typing import Any

from tests.live import Client, LiveServer
from tests.messages.support import expect_error, uid
from tests.presence.support import (
    TIMESTAMP,
    connect,
    heard,
    large_config,
    unknown,
    update,
    without_last_seen,
)


def serve(start_server, tmp_path, text: str) -> LiveServer:
    path = tmp_path / "lvng.toml"
    path.write_text(text)
    return start_server(args=["--config", str(path)])


async def crowd(server: LiveServer, org: str, names: list[str], limit: int) -> list[Client]:
    """Users connected one after the other, each hearing the onlines it should: while the
    organization is at most `limit` online, everyone's that came after it (itself
    included), and maybe an earlier one's (announced in a burst's window, so after this
    one joined); past the limit, only its own (its own device)."""
    clients: list[Client] = []
    for name in names:
        clients.append(await connect(server, name, org))
    for i, client in enumerate(clients):
        needed = set(names[i:limit] if i < limit else [names[i]])
        allowed = needed | set(names[: min(i, limit)])
        while needed:
            user = (await heard(client))["userId"]
            assert user in allowed, (names[i], user)
            needed.discard(user)
    return clients


async def drained(clients: list[Client], within: float = 0.3) -> None:
    for client in clients:
        await client.nothing("presence:update", within=within)


async def test_a_small_organization_hears_every_change_as_before(start_server, tmp_path):
    server = serve(start_server, tmp_path, large_config(limit=3))
    org = uid("org")
    alice = await connect(server, "alice", org)
    assert await heard(alice) == update("alice", "Alice", "online")
    bob = await connect(server, "bob", org)
    assert await heard(alice) == update("bob", "Bob", "online")
    assert await heard(bob) == update("bob", "Bob", "online")
    carol = await connect(server, "carol", org)  # 3 online: at the limit, not past it
    for client in (alice, bob, carol):
        assert await heard(client) == update("carol", "Carol", "online")
    await bob.call("presence:update", {"status": "busy"})
    for client in (alice, bob, carol):
        assert await heard(client) == update("bob", "Bob", "busy")


async def test_past_the_limit_only_subscribers_and_own_devices_hear(start_server, tmp_path):
    server = serve(start_server, tmp_path, large_config(limit=2, grace=0.3))
    org = uid("org")
    alice, bob, carol = await crowd(server, org, ["alice", "bob", "carol"], 2)  # 3 > 2: large
    ack = await alice.call("presence:subscribe", {"userIds": ["dave", "bob"]})
    assert ack["ok"] is True and set(ack) == {"ok", "users"}
    assert ack["users"][0] == unknown("dave")  # never seen yet
    assert without_last_seen(ack["users"][1:]) == [update("bob", "Bob", "online")]
    assert TIMESTAMP.match(ack["users"][1]["lastSeen"])

    dave = await connect(server, "dave", org)
    assert await heard(alice) == update("dave", "Dave", "online")  # a subscriber
    assert await heard(dave) == update("dave", "Dave", "online")  # his own device
    await drained([bob, carol])

    await bob.call("presence:update", {"status": "away", "statusText": "lunch"})
    assert await heard(alice) == update("bob", "Bob", "away", None, "lunch")
    assert await heard(bob) == update("bob", "Bob", "away", None, "lunch")
    await drained([carol, dave])

    await dave.close()
    assert await heard(alice) == update("dave", "Dave", "offline")
    await drained([bob, carol])

    # Unsubscribed: alice hears bob no more.
    ack = await alice.call("presence:unsubscribe", {"userIds": ["bob", "nobody"]})
    assert ack == {"ok": True, "userIds": ["bob"]}
    await bob.call("presence:update", {"status": "online"})
    assert await heard(bob) == update("bob", "Bob", "online", None, "lunch")
    await drained([alice, carol])


async def test_the_organization_hears_again_under_the_hysteresis(start_server, tmp_path):
    # limit 4: large past 4 online, small again under 3.6 (3 or fewer).
    server = serve(start_server, tmp_path, large_config(limit=4, grace=0))
    org = uid("org")
    names = ["u1", "u2", "u3", "u4", "u5"]
    clients = dict(zip(names, await crowd(server, org, names, 4), strict=True))
    watcher = clients["u1"]
    await clients["u5"].close()  # 4 left: still large (4 is not under 3.6)
    await drained([watcher])
    await clients["u4"].close()  # 3 left: told to the organization again
    for name in ("u1", "u2", "u3"):
        assert await heard(clients[name]) == update("u4", "U4", "offline")
    await clients["u2"].call("presence:update", {"status": "busy"})
    for name in ("u1", "u2", "u3"):
        assert await heard(clients[name]) == update("u2", "U2", "busy")


async def test_subscribe_acks_presence_and_tells_nothing_of_other_organizations(
    start_server, tmp_path
):
    server = serve(start_server, tmp_path, large_config(limit=1000, grace=0))
    org, other = uid("org"), uid("org")
    alice = await connect(server, "alice", org)
    bob = await connect(server, "bob", org)
    assert await heard(bob) == update("bob", "Bob", "online")  # his connect is done
    await bob.call("presence:update", {"status": "busy", "customStatus": "Deep work"})
    carol = await connect(server, "carol", org)
    # (bob's busy may reach her too: a change in a burst's window leaves after it)
    while (await heard(carol)) != update("carol", "Carol", "online"):
        pass
    await carol.close()  # seen, now offline
    stranger = await connect(server, "stranger", other)  # online, elsewhere
    assert [await heard(alice) for _ in range(5)] == [
        update("alice", "Alice", "online"),
        update("bob", "Bob", "online"),
        update("bob", "Bob", "busy", "Deep work"),
        update("carol", "Carol", "online"),
        update("carol", "Carol", "offline"),
    ]

    ack = await alice.call(
        "presence:subscribe", {"userIds": ["bob", "carol", "stranger", "bob", "ghost"]}
    )
    assert ack["ok"] is True
    users: list[dict[str, Any]] = ack["users"]
    assert [u["userId"] for u in users] == ["bob", "carol", "stranger", "ghost"]  # once each
    assert without_last_seen(users[:2]) == [
        update("bob", "Bob", "busy", "Deep work"),
        update("carol", "Carol", "offline"),
    ]
    assert all(TIMESTAMP.match(u["lastSeen"]) for u in users[:2])
    assert users[2:] == [unknown("stranger"), unknown("ghost")]  # never online
    # The stranger's own organization is not told of alice's subscription, nor alice of him.
    await stranger.call("presence:update", {"status": "away"})
    await alice.nothing("presence:update", within=0.3)


async def test_subscription_limits_are_clear_errors(start_server, tmp_path):
    server = serve(start_server, tmp_path, large_config(limit=1000))
    alice = await connect(server, "alice", uid("org"))
    error = await expect_error(
        alice, "presence:subscribe", {"userIds": [f"u{i}" for i in range(501)]}, "VALIDATION_ERROR"
    )
    assert (
        error["message"] == "userIds: List should have at most 500 items after validation, not 501"
    )
    await expect_error(alice, "presence:subscribe", {"userIds": []}, "VALIDATION_ERROR")
    await expect_error(alice, "presence:subscribe", {"userIds": ["a/b"]}, "VALIDATION_ERROR")
    for start in range(0, 2000, 500):
        ack = await alice.call(
            "presence:subscribe", {"userIds": [f"u{i}" for i in range(start, start + 500)]}
        )
        assert ack["ok"] is True and len(ack["users"]) == 500
    again = await alice.call("presence:subscribe", {"userIds": ["u0", "u1999"]})
    assert again["ok"] is True  # already held: no new subscription
    error = await expect_error(
        alice, "presence:subscribe", {"userIds": ["u0", "u2000"]}, "VALIDATION_ERROR"
    )
    assert error["message"] == (
        "at most 2000 subscriptions per socket: this socket has 2000, 1 more asked"
        " (unsubscribe some first)"
    )
    assert await server.metric("lvng_presence_subscriptions") == 2000
    await alice.close()
    deadline = time.monotonic() + 5
    while await server.metric("lvng_presence_subscriptions") != 0:  # ended with the socket
        assert time.monotonic() < deadline, "subscriptions outlived their socket"


async def test_changes_of_one_user_in_a_window_leave_as_the_last(start_server, tmp_path):
    server = serve(start_server, tmp_path, large_config(limit=1, coalesce_ms=1500))
    org = uid("org")
    alice, bob = await crowd(server, org, ["alice", "bob"], 1)  # 2 > 1: large
    await alice.call("presence:subscribe", {"userIds": ["bob"]})
    before = await server.metric("lvng_presence_superseded_total")
    for status in ("busy", "away", "online", "busy"):
        ack = await bob.call("presence:update", {"status": status})
        assert ack["status"] == status  # the ack is at once
    assert await heard(alice) == update("bob", "Bob", "busy")  # one frame: the last
    assert await heard(bob) == update("bob", "Bob", "busy")
    await drained([alice, bob], within=0.5)
    assert await server.metric("lvng_presence_superseded_total") == before + 3


async def test_pages_cover_everyone_once_in_a_stable_order(start_server, tmp_path):
    server = serve(start_server, tmp_path, large_config(limit=1000, grace=0))
    org = uid("org")
    names = [f"user{i}" for i in (5, 3, 9, 1, 7, 2, 8)]
    clients = [await connect(server, name, org) for name in names]
    await clients[0].close()  # user5: offline, still listed
    reader = clients[1]
    seen, cursor, pages = [], None, 0
    while True:
        ask: dict[str, Any] = {"limit": 3} if cursor is None else {"limit": 3, "cursor": cursor}
        ack = await reader.call("presence:list", ask)
        assert ack["ok"] is True and set(ack) == {"ok", "users", "nextCursor"}, ack
        seen += ack["users"]
        pages += 1
        cursor = ack["nextCursor"]
        if cursor is None:
            break
        assert cursor == ack["users"][-1]["userId"]
    assert pages == 3
    assert [u["userId"] for u in seen] == sorted(names)
    assert {u["userId"]: u["status"] for u in seen}["user5"] == "offline"

    token = server.token("reader", org)
    status, first = await server.http("GET", "/api/v1/presence?limit=4", token=token)
    assert status == 200 and [u["userId"] for u in first["users"]] == sorted(names)[:4]
    status, rest = await server.http(
        "GET", f"/api/v1/presence?limit=4&cursor={first['nextCursor']}", token=token
    )
    assert status == 200 and rest["nextCursor"] is None
    assert [u["userId"] for u in first["users"] + rest["users"]] == sorted(names)
    status, body = await server.http("GET", "/api/v1/presence?limit=501", token=token)
    assert status == 400 and body["error"]["code"] == "VALIDATION_ERROR"
    await expect_error(reader, "presence:list", {"limit": 0}, "VALIDATION_ERROR")

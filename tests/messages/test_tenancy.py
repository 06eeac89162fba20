"""Tenancy, tried as an attacker would: another organization, a token without the
customer, a private channel, spoofed identities, crafted ids."""

from __future__ import annotations

from tests.messages.support import (
    expect_error,
    history,
    in_channel,
    in_conversation,
    send,
    uid,
)


async def test_another_organization_never_meets_a_channel_of_the_same_id(server):
    org_a, org_b, channel = uid("org"), uid("org"), uid("ch")
    target = {"channelId": channel}
    alice = await in_channel(server, org_a, channel, "alice")
    secret = await send(alice, target, "org A only")
    await alice.next("message:new")

    mallory = await server.connect("mallory", org_b)
    # Before joining: nothing can be done in the room.
    await expect_error(mallory, "message:send", {**target, "content": "x"}, "NOT_IN_ROOM")
    await expect_error(
        mallory, "message:react", {**target, "messageId": secret["id"], "emoji": "x"}, "NOT_IN_ROOM"
    )
    await expect_error(
        mallory, "message:read", {**target, "messageId": secret["id"]}, "NOT_IN_ROOM"
    )
    await expect_error(mallory, "typing:start", target, "NOT_IN_ROOM")
    await expect_error(mallory, "channel:history", target, "NOT_IN_ROOM")
    await expect_error(
        mallory, "message:delete", {**target, "messageId": secret["id"]}, "NOT_IN_ROOM"
    )
    # The channel id is org A's: org B may not join it, read it or post to it, and
    # nothing of org B's is created (contract section 4).
    error = await expect_error(mallory, "channel:join", target, "FORBIDDEN")
    assert error["message"] == f"you may not use channel {channel}"
    await mallory.nothing("channel:history")
    for roles in ([], ["admin", "service"]):
        token = server.token("mallory", org_b, roles=roles)
        for method, path in [
            ("GET", f"/api/v1/channels/{channel}/messages"),
            ("POST", f"/api/v1/channels/{channel}/messages"),
            ("GET", f"/api/v1/channels/{channel}/members"),
            ("PUT", f"/api/v1/channels/{channel}/members/mallory"),
            ("DELETE", f"/api/v1/channels/{channel}/members/alice"),
        ]:
            status, body = await server.http(method, path, json={"content": "x"}, token=token)
            assert (status, body["error"]) == (
                403,
                {"code": "FORBIDDEN", "message": f"you may not use channel {channel}"},
            ), (method, path)
    await alice.nothing("message:new")
    await alice.nothing("channel:join")
    assert [m["content"] for m in (await history(server, org_a, channel))["messages"]] == [
        "org A only"
    ]
    status, body = await server.http(
        "GET", f"/api/v1/channels/{channel}/members", token=server.token("alice", org_a)
    )
    assert status == 200 and [m["userId"] for m in body["members"]] == ["alice"]
    # A channel no one has is not found over HTTP (joining would create it).
    status, body = await server.http(
        "GET", f"/api/v1/channels/{uid('ch')}/messages", token=server.token("mallory", org_b)
    )
    assert (status, body["error"]["code"]) == (404, "NOT_FOUND")


async def test_conversation_needs_the_customer_in_the_token(server):
    org, customer, conversation = uid("org"), uid("cust"), uid("conv")
    target = {"conversationId": conversation, "customerId": customer}
    alice = await in_conversation(server, org, customer, conversation, "alice")
    await send(alice, target, "private to the customer")

    eve = await server.connect("eve", org, customers=[uid("other")])
    await expect_error(eve, "conversation:join", target, "FORBIDDEN")
    await expect_error(eve, "conversation:rejoin", target, "FORBIDDEN")
    await expect_error(eve, "message:send", {**target, "content": "x"}, "NOT_IN_ROOM")
    await expect_error(eve, "typing:start", target, "NOT_IN_ROOM")
    await eve.nothing("room:joined")
    await eve.nothing("conversation:rejoined")
    status, body = await server.http(
        "GET",
        f"/api/v1/customers/{customer}/conversations/{conversation}/messages",
        token=server.token("eve", org, customers=["other"]),
    )
    assert (status, body["error"]["code"]) == (403, "FORBIDDEN")
    await alice.nothing("member:joined")

    # An org admin may, without the claim.
    admin = await server.connect("root", org, roles=["admin"])
    assert (await admin.call("conversation:join", target))["ok"] is True
    assert (await alice.next("member:joined"))["userId"] == "root"


async def test_a_customer_belongs_to_the_first_organization_that_used_it(server):
    org_a, org_b = uid("org"), uid("org")
    customer, conversation = uid("cust"), uid("conv")
    target = {"conversationId": conversation, "customerId": customer}
    alice = await in_conversation(server, org_a, customer, conversation, "alice")
    await send(alice, target, "org A's customer")

    # Org B's token may list the customer, even as admin: it is org A's.
    for claims in ({"customers": [customer]}, {"roles": ["admin"]}):
        mallory = await server.connect("mallory", org_b, **claims)
        await expect_error(mallory, "conversation:join", target, "FORBIDDEN")
        await expect_error(mallory, "conversation:rejoin", target, "FORBIDDEN")
        await expect_error(
            mallory,
            "conversation:join",
            {"conversationId": uid("conv"), "customerId": customer},
            "FORBIDDEN",
        )
        await mallory.nothing("conversation:rejoined")
        status, _ = await server.http(
            "GET",
            f"/api/v1/customers/{customer}/conversations/{conversation}/messages",
            token=server.token("mallory", org_b, **claims),
        )
        assert status == 403
    await alice.nothing("member:joined")


async def test_private_channels_keep_non_members_out(server):
    org, channel = uid("org"), uid("ch")
    target = {"channelId": channel}
    owner = await in_channel(server, org, channel, "owner")
    ack = await owner.call("channel:update", {**target, "updates": {"private": True}})
    assert ack["ok"] is True and ack["channel"]["private"] is True
    await send(owner, target, "members only")

    outsider = await server.connect("outsider", org)
    await expect_error(outsider, "channel:join", target, "FORBIDDEN")
    await outsider.nothing("channel:history")
    await expect_error(outsider, "message:send", {**target, "content": "x"}, "NOT_IN_ROOM")
    await expect_error(
        outsider, "channel:update", {**target, "updates": {"private": False}}, "FORBIDDEN"
    )
    token = server.token("outsider", org)
    for method, path, body in [
        ("GET", f"/api/v1/channels/{channel}/messages", None),
        ("POST", f"/api/v1/channels/{channel}/messages", {"content": "x"}),
        ("GET", f"/api/v1/channels/{channel}/members", None),
        ("PUT", f"/api/v1/channels/{channel}/members/outsider", None),
        ("DELETE", f"/api/v1/channels/{channel}/members/owner", None),
    ]:
        status, reply = await server.http(method, path, token=token, json=body)
        assert (status, reply["error"]["code"]) == (403, "FORBIDDEN"), (method, path)
    assert (await history(server, org, channel))["total"] == 1

    # The creator adds a member; the member gets in and sees the history.
    status, reply = await server.http(
        "PUT", f"/api/v1/channels/{channel}/members/outsider", token=server.token("owner", org)
    )
    assert status == 201 and reply["added"] is True
    assert (await outsider.call("channel:join", target))["ok"] is True
    assert [m["content"] for m in (await outsider.next("channel:history"))["messages"]] == [
        "members only"
    ]
    status, reply = await server.http("GET", f"/api/v1/channels/{channel}/members", token=token)
    assert status == 200 and {m["userId"] for m in reply["members"]} == {"owner", "outsider"}

    # Taken out again: the socket leaves the room and hears nothing more.
    status, reply = await server.http(
        "DELETE",
        f"/api/v1/channels/{channel}/members/outsider",
        token=server.token("boss", org, roles=["admin"]),
    )
    assert status == 200 and reply["removed"] is True
    gone = await outsider.next("channel:leave")
    assert gone["userId"] == "outsider" and gone["reason"] == "removed"
    await send(owner, target, "after removal")
    await outsider.nothing("message:new")
    await expect_error(outsider, "message:send", {**target, "content": "x"}, "NOT_IN_ROOM")
    await expect_error(outsider, "channel:join", target, "FORBIDDEN")

    # Org admins and service tokens are not kept out.
    admin = await server.connect("boss", org, roles=["admin"])
    assert (await admin.call("channel:join", target))["ok"] is True
    status, reply = await server.http(
        "POST",
        f"/api/v1/channels/{channel}/messages",
        json={"content": "from the bot"},
        token=server.token("bot", org, roles=["service"]),
    )
    assert status == 201 and reply["userId"] == "bot"
    assert [(await owner.next("message:new"))["content"] for _ in range(3)] == [
        "members only",
        "after removal",
        "from the bot",
    ]


async def test_turning_a_channel_private_keeps_who_is_in_it(server):
    org, channel = uid("org"), uid("ch")
    owner = await in_channel(server, org, channel, "owner")
    await in_channel(server, org, channel, "guest")
    await owner.call("channel:update", {"channelId": channel, "updates": {"private": True}})
    second_device = await server.connect("guest", org)
    assert (await second_device.call("channel:join", {"channelId": channel}))["ok"] is True
    late = await server.connect("late", org)
    await expect_error(late, "channel:join", {"channelId": channel}, "FORBIDDEN")


async def test_only_the_creator_or_an_admin_manages_a_channel(server):
    org, channel = uid("org"), uid("ch")
    target = {"channelId": channel}
    await in_channel(server, org, channel, "creator")
    member = await in_channel(server, org, channel, "member")
    await expect_error(
        member, "channel:update", {**target, "updates": {"name": "mine"}}, "FORBIDDEN"
    )
    status, reply = await server.http(
        "PUT", f"/api/v1/channels/{channel}/members/friend", token=server.token("member", org)
    )
    assert (status, reply["error"]["code"]) == (403, "FORBIDDEN")
    admin = await server.connect("boss", org, roles=["admin"])
    ack = await admin.call("channel:update", {**target, "updates": {"name": "renamed"}})
    assert ack["ok"] is True and ack["channel"]["name"] == "renamed"
    assert (await member.next("channel:update"))["updatedBy"] == "boss"
    # Persisted: the next joiner's ack carries it.
    late = await server.connect("late", org)
    assert (await late.call("channel:join", target))["channel"]["name"] == "renamed"


async def test_client_claims_about_identity_are_ignored(server):
    org, channel = uid("org"), uid("ch")
    target = {"channelId": channel}
    alice = await in_channel(server, org, channel, "alice", name="Alice")
    bob = await in_channel(server, org, channel, "bob", name="Bob")
    spoof = {"userId": "bob", "userName": "Bob", "user": {"id": "bob", "name": "Bob"}}
    ack = await alice.call("message:send", {**target, "content": "it's me", **spoof})
    new = await bob.next("message:new")
    assert (new["userId"], new["userName"]) == ("alice", "Alice")
    # Bob's message cannot be edited by alice claiming to be bob.
    bobs = (await send(bob, target, "bob's"))["id"]
    await expect_error(
        alice, "message:update", {**target, "messageId": bobs, "content": "x", **spoof}, "FORBIDDEN"
    )
    await expect_error(alice, "message:delete", {**target, "messageId": bobs, **spoof}, "FORBIDDEN")
    await alice.call("message:react", {**target, "messageId": ack["id"], "emoji": "🎉", **spoof})
    assert (await bob.next("message:reaction"))["userId"] == "alice"
    await alice.call("message:read", {**target, "messageId": ack["id"], **spoof})
    assert (await bob.next("message:read", timeout=3))["userId"] == "alice"
    status, reply = await server.http(
        "POST",
        f"/api/v1/channels/{channel}/messages",
        json={"content": "http", **spoof},
        token=server.token("alice", org, name="Alice"),
    )
    assert status == 201 and (reply["userId"], reply["userName"]) == ("alice", "Alice")


async def test_crafted_ids_do_not_merge_conversations(server):
    org = uid("org")
    # "customer:a:conversation:b:conversation:c" could name either pair.
    tag = uid("t")
    left = {"customerId": f"a{tag}:conversation:b{tag}", "conversationId": f"c{tag}"}
    right = {"customerId": f"a{tag}", "conversationId": f"b{tag}:conversation:c{tag}"}
    assert (
        f"customer:{left['customerId']}:conversation:{left['conversationId']}"
        == f"customer:{right['customerId']}:conversation:{right['conversationId']}"
    )
    one = await in_conversation(server, org, left["customerId"], left["conversationId"], "one")
    two = await in_conversation(server, org, right["customerId"], right["conversationId"], "two")
    await send(one, left, "left side")
    await two.nothing("message:new")
    await expect_error(two, "message:send", {**left, "content": "x"}, "NOT_IN_ROOM")


async def test_a_service_token_does_not_join_a_private_channel_over_a_socket(server):
    """`service` is for publishing over HTTP; over a socket it is an ordinary user, and a
    private channel keeps it out like any non-member."""
    org, channel = uid("org"), uid("ch")
    target = {"channelId": channel}
    owner = await in_channel(server, org, channel, "owner")
    await owner.call("channel:update", {**target, "updates": {"private": True}})
    await send(owner, target, "members only")
    await owner.next("message:new")

    bot = await server.connect("bot", org, roles=["service"])
    error = await expect_error(bot, "channel:join", target, "FORBIDDEN")
    assert error["message"] == (
        f"channel {channel} is private; ask a member or an admin to add you"
    )
    await expect_error(bot, "message:send", {**target, "content": "x"}, "NOT_IN_ROOM")
    await expect_error(bot, "channel:history", target, "NOT_IN_ROOM")
    # Over HTTP the same token may post (contract section 5), and the room hears it.
    status, reply = await server.http(
        "POST",
        f"/api/v1/channels/{channel}/messages",
        json={"content": "from the bot"},
        token=server.token("bot", org, roles=["service"]),
    )
    assert status == 201 and reply["userId"] == "bot"
    assert (await owner.next("message:new"))["content"] == "from the bot"
    # Anything the refused join had sent would have come before these later replies.
    assert bot.unread("channel:history") == [] and bot.unread("message:new") == []
    assert owner.unread("channel:join") == []

"""Paging forward, the size of a message and of a history page, and who keeps (or never
gets) a right: issues 8 and 9 as they touch messaging."""

from __future__ import annotations

import json

from tests.messages.support import (
    expect_error,
    history,
    in_channel,
    in_conversation,
    send,
    uid,
)


async def test_paging_forward_catches_a_client_up(server):
    org, channel = uid("org"), uid("ch")
    target = {"channelId": channel}
    writer = await in_channel(server, org, channel, "writer")
    ids = [(await send(writer, target, f"m{i}"))["id"] for i in range(12)]

    page = await writer.call("channel:history", {**target, "after": ids[2], "limit": 4})
    assert page["ok"] is True and [m["id"] for m in page["messages"]] == ids[3:7]
    assert (page["hasMore"], page["total"]) == (True, 12)
    page = await writer.call("channel:history", {**target, "after": ids[7], "limit": 4})
    assert [m["id"] for m in page["messages"]] == ids[8:12] and page["hasMore"] is False
    page = await writer.call("channel:history", {**target, "after": ids[11]})
    assert (page["messages"], page["hasMore"]) == ([], False)
    await expect_error(
        writer, "channel:history", {**target, "after": ids[1], "before": ids[5]}, "VALIDATION_ERROR"
    )
    await expect_error(writer, "channel:history", {**target, "after": "msg_unknown"}, "NOT_FOUND")
    body = await history(server, org, channel, after=ids[0], limit=3)
    assert [m["id"] for m in body["messages"]] == ids[1:4] and body["hasMore"] is True

    customer, conversation = uid("cust"), uid("conv")
    talk = {"conversationId": conversation, "customerId": customer}
    agent = await in_conversation(server, org, customer, conversation, "agent")
    said = [(await send(agent, talk, f"c{i}"))["id"] for i in range(3)]
    status, body = await server.http(
        "GET",
        f"/api/v1/customers/{customer}/conversations/{conversation}/messages?after={said[0]}",
        token=server.token("agent", org, customers=[customer]),
    )
    assert status == 200 and [m["id"] for m in body["messages"]] == said[1:]


async def test_a_message_is_at_most_64_kb_of_json(server):
    org, channel = uid("org"), uid("ch")
    target = {"channelId": channel}
    alice = await in_channel(server, org, channel, "alice")
    bob = await in_channel(server, org, channel, "bob")
    attachment = {"name": "a" * 15_000}
    big = {**target, "content": "x" * 10_000, "attachments": [attachment] * 4}
    error = await expect_error(alice, "message:send", big, "PAYLOAD_TOO_LARGE")
    assert error["message"].startswith("a message's content, attachments and metadata are ")
    status, body = await server.http(
        "POST",
        f"/api/v1/channels/{channel}/messages",
        json={k: v for k, v in big.items() if k != "channelId"},
        token=server.token("alice", org),
    )
    assert (status, body["error"]["code"]) == (413, "PAYLOAD_TOO_LARGE")
    # Just under the limit is fine; an edit that would pass it is refused.
    fits = await send(alice, target, "x" * 10_000, attachments=[attachment] * 3)
    assert (await bob.next("message:new"))["id"] == fits["id"]
    await expect_error(
        alice,
        "message:update",
        {
            **target,
            "messageId": fits["id"],
            "content": "y" * 10_000,
            "metadata": {"n": "z" * 16_000},
        },
        "PAYLOAD_TOO_LARGE",
    )
    assert (await history(server, org, channel))["total"] == 1
    await bob.nothing("message:update")


async def test_a_history_page_stays_under_one_megabyte(server):
    org, channel = uid("org"), uid("ch")
    target = {"channelId": channel}
    writer = await in_channel(server, org, channel, "writer")
    attachment = {"blob": "b" * 15_000}
    ids = [
        (await send(writer, target, f"{i}" + "x" * 9_000, attachments=[attachment] * 3))["id"]
        for i in range(20)
    ]

    reader = await server.connect("reader", org)
    await reader.call("channel:join", target)
    joined = await reader.next("channel:history")
    kept = [m["id"] for m in joined["messages"]]
    assert len(json.dumps(joined["messages"])) < 1_000_000
    assert 0 < len(kept) < 20 and kept == ids[-len(kept) :]  # the newest, oldest first
    assert (joined["hasMore"], joined["total"]) == (True, 20)
    older = await reader.call("channel:history", {**target, "before": kept[0]})
    assert [m["id"] for m in older["messages"]] == ids[
        20 - len(kept) - len(older["messages"]) : 20 - len(kept)
    ]
    newer = await reader.call("channel:history", {**target, "after": ids[0], "limit": 100})
    assert [m["id"] for m in newer["messages"]] == ids[1 : 1 + len(newer["messages"])]
    assert newer["hasMore"] is True and len(newer["messages"]) < 19


async def test_blank_content_says_so(server):
    org, channel = uid("org"), uid("ch")
    alice = await in_channel(server, org, channel, "alice")
    error = await expect_error(
        alice, "message:send", {"channelId": channel, "content": " \n\t "}, "VALIDATION_ERROR"
    )
    assert error["message"] == "content: content must not be empty"


async def test_a_removed_creator_loses_the_private_channel(server):
    org, channel = uid("org"), uid("ch")
    target = {"channelId": channel}
    creator = await in_channel(server, org, channel, "creator")
    assert (await creator.call("channel:update", {**target, "updates": {"private": True}}))[
        "ok"
    ] is True
    status, reply = await server.http(
        "DELETE",
        f"/api/v1/channels/{channel}/members/creator",
        token=server.token("boss", org, roles=["admin"]),
    )
    assert (status, reply["removed"]) == (200, True)
    gone = await creator.next("channel:leave")
    assert (gone["userId"], gone["reason"]) == ("creator", "removed")
    await expect_error(creator, "channel:join", target, "FORBIDDEN")
    await expect_error(
        creator, "channel:update", {**target, "updates": {"private": False}}, "FORBIDDEN"
    )
    token = server.token("creator", org)
    for method, path in [
        ("GET", f"/api/v1/channels/{channel}/messages"),
        ("PUT", f"/api/v1/channels/{channel}/members/creator"),
    ]:
        status, reply = await server.http(method, path, token=token)
        assert (status, reply["error"]["code"]) == (403, "FORBIDDEN"), (method, path)
    status, reply = await server.http(
        "GET",
        f"/api/v1/channels/{channel}/members",
        token=server.token("boss", org, roles=["admin"]),
    )
    assert (status, reply["private"], reply["members"]) == (200, True, [])


async def test_an_admin_wildcard_never_claims_a_customer(server):
    org_a, org_b = uid("org"), uid("org")
    customer, conversation = uid("cust"), uid("conv")
    target = {"conversationId": conversation, "customerId": customer}
    squatter = await server.connect("admin", org_b, roles=["admin"])
    error = await expect_error(squatter, "conversation:join", target, "FORBIDDEN")
    assert error["message"] == f"your token does not grant customer {customer}"
    # Unclaimed still: org A's agent, whose token names the customer, claims it.
    agent = await in_conversation(server, org_a, customer, conversation, "agent")
    await send(agent, target, "hello")
    # Now org A's admin may open it without naming it; org B's is told it may not use it.
    owner_admin = await server.connect("boss", org_a, roles=["admin"])
    assert (await owner_admin.call("conversation:join", target))["ok"] is True
    error = await expect_error(squatter, "conversation:join", target, "FORBIDDEN")
    assert error["message"] == f"you may not use customer {customer}"


async def test_a_refresh_without_admin_leaves_private_channels_it_is_no_member_of(server):
    org, channel = uid("org"), uid("ch")
    target = {"channelId": channel}
    owner = await in_channel(server, org, channel, "owner")
    await owner.call("channel:update", {**target, "updates": {"private": True}})
    boss = await in_channel(server, org, channel, "boss", roles=["admin"])
    await owner.next("channel:join")
    ack = await boss.call("auth:refresh", {"token": server.token("boss", org)})
    assert (ack["ok"], ack["left"]) == (True, [f"channel:{channel}"])
    left = await owner.next("channel:leave")
    assert (left["userId"], left["reason"]) == ("boss", "revoked")
    await send(owner, target, "admins only no more")
    await boss.nothing("message:new")
    await expect_error(boss, "channel:join", target, "FORBIDDEN")


async def test_the_longest_channel_id_can_be_joined(server):
    org, channel = uid("org"), "c" * 128
    alice = await in_channel(server, org, f"{org}{channel}"[:128], "alice")
    assert (await alice.call("channel:history", {"channelId": f"{org}{channel}"[:128]}))["ok"]

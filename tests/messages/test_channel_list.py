"""The channel list (issue 28): `channel:list` and `GET /api/v1/channels` with exact unread
and mention counts after sends, edits, deletes and reads; `channel:unread` to a user's
other devices, on two nodes; another organization's channels never listed; `channel:leave
{forget: true}`; pages and their cursor."""

from __future__ import annotations

from typing import Any

from tests.live import Client, LiveServer
from tests.messages.support import TIMESTAMP, expect_error, in_channel, send, uid


def item(
    channel: str,
    unread: int,
    mentions: int,
    last: dict[str, Any] | None,
    last_read: str | None = None,
    *,
    name: str | None = None,
    private: bool = False,
) -> dict[str, Any]:
    """A `channel:list` item; `last` is `{id, userId, userName, content}` or None."""
    return {
        "channelId": channel,
        "name": name or channel,
        "private": private,
        "unreadCount": unread,
        "mentionCount": mentions,
        "lastMessage": last,
        "lastReadMessageId": last_read,
    }


async def listed(client: Client, **page: Any) -> dict[str, Any]:
    """The ack of `channel:list` (ok asserted), each lastMessage's createdAt checked and
    dropped."""
    ack = await client.call("channel:list", page or None)
    assert ack["ok"] is True, ack
    for channel in ack["channels"]:
        if channel["lastMessage"] is not None:
            assert TIMESTAMP.match(channel["lastMessage"].pop("createdAt")), channel
    return ack


def last(ack: dict[str, Any], content: str, user: str, name: str) -> dict[str, Any]:
    return {"id": ack["id"], "userId": user, "userName": name, "content": content}


async def test_counts_are_exact_after_sends_edits_deletes_and_reads(server: LiveServer):
    org, general, random = uid("org"), uid("ch-a"), uid("ch-b")
    alice = await in_channel(server, org, general, "alice", name="Alice")
    bob = await in_channel(server, org, general, "bob", name="Bob")
    await alice.next("channel:join")  # bob's
    first, second = sorted([general, random])
    assert (await alice.call("channel:join", {"channelId": random}))["ok"] is True
    # No activity yet: by id.
    assert await listed(alice) == {
        "ok": True,
        "channels": [item(first, 0, 0, None), item(second, 0, 0, None)],
        "nextCursor": None,
    }
    target = {"channelId": general}
    m1 = await send(bob, target, "one", mentions=["alice"])
    m2 = await send(bob, target, "two")
    mine = await send(alice, target, "mine", mentions=["alice", "bob"])
    m3 = await send(bob, target, "three", mentions=["alice", "carol"])
    # The sender's own message is never unread for it; it mentions itself in vain.
    assert await listed(alice) == {
        "ok": True,
        "channels": [
            item(general, 3, 2, last(m3, "three", "bob", "Bob")),
            item(random, 0, 0, None),
        ],
        "nextCursor": None,
    }
    assert (await listed(bob))["channels"] == [item(general, 1, 1, last(m3, "three", "bob", "Bob"))]
    # Edits change mentions: m1 no longer mentions alice, m2 now does.
    edit = {"channelId": general, "content": "one, edited", "mentions": []}
    assert (await bob.call("message:update", {**edit, "messageId": m1["id"]}))["ok"] is True
    edit = {"channelId": general, "content": "two, edited", "mentions": ["alice"]}
    assert (await bob.call("message:update", {**edit, "messageId": m2["id"]}))["ok"] is True
    # An edit without mentions keeps them.
    edit = {"channelId": general, "content": "three, edited", "messageId": m3["id"]}
    assert (await bob.call("message:update", edit))["ok"] is True
    channels = (await listed(alice))["channels"]
    assert channels[0] == item(general, 3, 2, last(m3, "three, edited", "bob", "Bob"))
    # Deleting the newest message: one less unread, and the last message before it.
    assert (await bob.call("message:delete", {**target, "messageId": m3["id"]}))["ok"]
    assert (await listed(alice))["channels"][0] == item(
        general, 2, 1, last(mine, "mine", "alice", "Alice")
    )
    # Reading m1: m2 (mentioning alice) is still unread.
    ack = await alice.call("message:read", {**target, "messageId": m1["id"]})
    assert ack == {"ok": True, "messageId": m1["id"], "lastReadMessageId": m1["id"]}
    assert (await listed(alice))["channels"][0] == item(
        general, 1, 1, last(mine, "mine", "alice", "Alice"), m1["id"]
    )
    # Reading her own newest message reads all; an older read moves nothing back.
    assert (await alice.call("message:read", {**target, "messageId": mine["id"]}))["ok"]
    assert (await alice.call("message:read", {**target, "messageId": m2["id"]}))[
        "lastReadMessageId"
    ] == mine["id"]
    assert (await listed(alice))["channels"][0] == item(
        general, 0, 0, last(mine, "mine", "alice", "Alice"), mine["id"]
    )
    # A message deleted before the read position changes nothing for the reader.
    assert (await bob.call("message:delete", {**target, "messageId": m2["id"]}))["ok"]
    assert (await listed(alice))["channels"][0]["unreadCount"] == 0
    # Bob: alice's one message is unread, and its mention of him.
    assert (await listed(bob))["channels"] == [
        item(general, 1, 1, last(mine, "mine", "alice", "Alice"))
    ]
    # Over HTTP: the same.
    status, body = await server.http(
        "GET", "/api/v1/channels", token=server.token("bob", org, name="Bob")
    )
    assert status == 200
    assert body["channels"][0]["lastMessage"].pop("createdAt")
    assert body == {
        "channels": [item(general, 1, 1, last(mine, "mine", "alice", "Alice"))],
        "nextCursor": None,
    }


async def test_another_organizations_channels_are_never_listed(server: LiveServer):
    ours, theirs = uid("org"), uid("org")
    channel, other = uid("ch"), uid("ch")
    alice = await in_channel(server, ours, channel, "alice", name="Alice")
    eve = await in_channel(server, theirs, other, "alice", name="Eve")  # the same user id
    await send(eve, {"channelId": other}, "theirs", mentions=["alice"])
    assert (await listed(alice))["channels"] == [item(channel, 0, 0, None)]
    theirs_list = (await listed(eve))["channels"]
    assert [c["channelId"] for c in theirs_list] == [other]
    # Their channel id is not ours to join, so never ours to list.
    await expect_error(alice, "channel:join", {"channelId": other}, "FORBIDDEN")
    assert (await listed(alice))["channels"] == [item(channel, 0, 0, None)]


async def test_pages_follow_the_cursor_newest_activity_first(server: LiveServer):
    org = uid("org")
    channels = [uid(f"ch{i}") for i in range(5)]
    alice = await in_channel(server, org, channels[0], "alice", name="Alice")
    for channel in channels[1:]:
        assert (await alice.call("channel:join", {"channelId": channel}))["ok"] is True
    # Activity order: 3, 1, 4 (newest first), then 0 and 2 by id.
    for i in (4, 1, 3):
        await send(alice, {"channelId": channels[i]}, f"in {i}")
    expected = [channels[3], channels[1], channels[4], *sorted([channels[0], channels[2]])]
    seen: list[str] = []
    cursor = None
    for _ in range(3):
        page = await listed(alice, limit=2, **({"cursor": cursor} if cursor else {}))
        seen += [c["channelId"] for c in page["channels"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == expected and cursor is None
    await expect_error(alice, "channel:list", {"limit": 201}, "VALIDATION_ERROR")
    await expect_error(alice, "channel:list", {"limit": 0}, "VALIDATION_ERROR")
    await expect_error(alice, "channel:list", {"cursor": "nonsense"}, "VALIDATION_ERROR")
    status, body = await server.http(
        "GET", "/api/v1/channels?limit=500", token=server.token("alice", org)
    )
    assert status == 400 and body["error"]["code"] == "VALIDATION_ERROR", body


async def test_leave_with_forget_takes_a_channel_off_the_list(server: LiveServer):
    org, channel = uid("org"), uid("ch")
    alice = await in_channel(server, org, channel, "alice", name="Alice")
    bob = await in_channel(server, org, channel, "bob", name="Bob")
    said = await send(bob, {"channelId": channel}, "while she was here")
    assert await alice.call("channel:leave", {"channelId": channel}) == {
        "ok": True,
        "channelId": channel,
        "left": True,
    }
    # Left, not forgotten: still listed, and counting.
    later = await send(bob, {"channelId": channel}, "after she left")
    assert (await listed(alice))["channels"] == [
        item(channel, 2, 0, last(later, "after she left", "bob", "Bob"))
    ]
    assert await alice.call("channel:leave", {"channelId": channel, "forget": True}) == {
        "ok": True,
        "channelId": channel,
        "left": False,
        "forgotten": True,
    }
    assert (await listed(alice))["channels"] == []
    # Joined again: listed again, with the same counts.
    assert (await alice.call("channel:join", {"channelId": channel}))["ok"] is True
    assert (await listed(alice))["channels"] == [
        item(channel, 2, 0, last(later, "after she left", "bob", "Bob"))
    ]
    assert said["id"] != later["id"]


async def test_a_mention_reaches_a_listed_user_with_no_socket_in_the_room(server: LiveServer):
    org, channel = uid("org"), uid("ch")
    alice = await in_channel(server, org, channel, "alice", name="Alice")
    bob = await in_channel(server, org, channel, "bob", name="Bob")
    assert (await alice.call("channel:leave", {"channelId": channel}))["left"] is True
    elsewhere = await server.connect("alice", org, name="Alice")  # in no room
    await send(bob, {"channelId": channel}, "not for alice")
    await send(bob, {"channelId": channel}, "hey @alice", mentions=["alice"])
    expected = {
        "channelId": channel,
        "unreadCount": 2,
        "mentionCount": 1,
        "lastReadMessageId": None,
    }
    assert await elsewhere.next("channel:unread") == expected
    assert await alice.next("channel:unread") == expected
    # Bob is in the room: a mention of him (he has it listed) is heard as message:new.
    again = await in_channel(server, org, channel, "alice", name="Alice")
    await send(again, {"channelId": channel}, "@bob", mentions=["bob"])
    assert (await bob.next("message:new"))["content"] == "not for alice"
    await bob.nothing("channel:unread")
    # A mentioned user without the channel on the list hears nothing.
    carol = await server.connect("carol", org, name="Carol")
    await send(bob, {"channelId": channel}, "hey @carol", mentions=["carol"])
    await carol.nothing("channel:unread")
    await elsewhere.nothing("channel:unread", within=0)  # only the mention of her


async def test_two_devices_on_two_nodes_stay_in_step(cluster):
    """alice has a phone on node A and a laptop on node B (one PostgreSQL, one Redis): a read
    on one is `channel:unread` on the other, and both list the same counts after sends,
    an edit, a delete and reads from either node."""
    nodes = cluster()
    a, b = nodes.start_node(), nodes.start_node()
    org, channel = uid("org"), uid("ch")
    target = {"channelId": channel}
    phone = await in_channel(a, org, channel, "alice", name="Alice")
    laptop = await in_channel(b, org, channel, "alice", name="Alice")
    bob = await in_channel(b, org, channel, "bob", name="Bob")
    carol = await in_channel(a, org, channel, "carol", name="Carol")
    m1 = await send(bob, target, "one", mentions=["alice"])
    m2 = await send(carol, target, "two")
    m3 = await send(bob, target, "three")
    mine = await send(laptop, target, "mine")
    for device in (phone, laptop):  # every message heard on both nodes before reading
        assert [(await device.next("message:new"))["id"] for _ in range(4)] == [
            m1["id"],
            m2["id"],
            m3["id"],
            mine["id"],
        ]
    newest = last(mine, "mine", "alice", "Alice")
    expected = {"ok": True, "channels": [item(channel, 3, 1, newest)], "nextCursor": None}
    assert await listed(phone) == await listed(laptop) == expected

    # A read on the phone (node A): the laptop (node B) hears the new counts, the phone not.
    ack = await phone.call("message:read", {**target, "messageId": m1["id"]})
    assert ack["lastReadMessageId"] == m1["id"]
    unread = {"channelId": channel, "unreadCount": 2, "mentionCount": 0}
    assert await laptop.next("channel:unread") == {**unread, "lastReadMessageId": m1["id"]}
    await phone.nothing("channel:unread", within=0.2)
    # An edit on node A mentions alice again; a delete on node B takes one unread away.
    edit = {**target, "messageId": m2["id"], "content": "two, @alice", "mentions": ["alice"]}
    assert (await carol.call("message:update", edit))["ok"] is True
    assert (await bob.call("message:delete", {**target, "messageId": m3["id"]}))["ok"] is True
    for device in (phone, laptop):
        assert (await device.next("message:delete"))["messageId"] == m3["id"]
    expected["channels"] = [item(channel, 1, 1, newest, m1["id"])]
    assert await listed(phone) == await listed(laptop) == expected
    # The laptop reads everything: the phone hears it.
    assert (await laptop.call("message:read", {**target, "messageId": mine["id"]}))["ok"]
    assert await phone.next("channel:unread") == {
        "channelId": channel,
        "unreadCount": 0,
        "mentionCount": 0,
        "lastReadMessageId": mine["id"],
    }
    expected["channels"] = [item(channel, 0, 0, newest, mine["id"])]
    assert await listed(phone) == await listed(laptop) == expected
    # Bob, on node B: carol's and alice's messages; over HTTP from node A.
    status, body = await a.http("GET", "/api/v1/channels", token=a.token("bob", org))
    assert status == 200 and body["channels"][0]["unreadCount"] == 2, body


async def test_a_private_channel_is_listed_for_its_members_only(server: LiveServer):
    org, channel = uid("org"), uid("ch")
    alice = await in_channel(server, org, channel, "alice", name="Alice")
    update = {"channelId": channel, "updates": {"private": True}}
    assert (await alice.call("channel:update", update))["ok"] is True
    said = await send(alice, {"channelId": channel}, "members only", mentions=["dave"])
    dave = await server.connect("dave", org, name="Dave")
    assert (await listed(dave))["channels"] == []
    # Added by the creator: listed, its counts from the start of the channel.
    members = f"/api/v1/channels/{channel}/members/dave"
    creator = server.token("alice", org, name="Alice")
    status, _ = await server.http("PUT", members, token=creator)
    assert status == 201
    newest = last(said, "members only", "alice", "Alice")
    assert (await listed(dave))["channels"] == [item(channel, 1, 1, newest, private=True)]
    # A member's forget does not take it off: membership lists it.
    assert await dave.call("channel:leave", {"channelId": channel, "forget": True}) == {
        "ok": True,
        "channelId": channel,
        "left": False,
        "forgotten": False,
    }
    assert len((await listed(dave))["channels"]) == 1
    # Removed: off the list.
    status, _ = await server.http("DELETE", members, token=creator)
    assert status == 200
    assert (await listed(dave))["channels"] == []

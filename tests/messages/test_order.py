"""Order: commit order everywhere; history and recovery oldest first; a rejoin returns
exactly what was missed, none skipped or repeated, also with sends racing it."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import aiohttp

from tests.live import Client
from tests.messages.support import (
    expect_error,
    history,
    in_channel,
    in_conversation,
    send,
    uid,
)


async def test_everyone_hears_messages_in_commit_order(server):
    org, channel = uid("org"), uid("ch")
    target = {"channelId": channel}
    senders = [await in_channel(server, org, channel, f"sender{i}") for i in range(3)]
    listener = await in_channel(server, org, channel, "listener")

    async def burst(client: Client, n: int) -> None:
        for i in range(n):
            await client.emit("message:send", {**target, "content": f"{client.sid} {i}"})

    await asyncio.gather(*(burst(c, 15) for c in senders))
    heard = [(await listener.next("message:new"))["id"] for _ in range(45)]
    for sender in senders:  # every socket hears the same order
        assert [(await sender.next("message:new"))["id"] for _ in range(45)] == heard
    # ... which is the stored order, oldest first.
    assert [m["id"] for m in (await history(server, org, channel, limit=100))["messages"]] == heard
    # One sender's messages keep the order it sent them in.
    for sender in senders:
        mine = [
            m["content"]
            for m in (await history(server, org, channel, limit=100))["messages"]
            if m["content"].startswith(sender.sid)
        ]
        assert mine == [f"{sender.sid} {i}" for i in range(15)]


async def test_channel_history_pages_oldest_first(server):
    org, channel = uid("org"), uid("ch")
    writer = await in_channel(server, org, channel, "writer")
    ids = [(await send(writer, {"channelId": channel}, f"m{i}"))["id"] for i in range(60)]

    reader = await server.connect("reader", org)
    await reader.call("channel:join", {"channelId": channel})
    first = await reader.next("channel:history")
    assert [m["id"] for m in first["messages"]] == ids[10:]  # the last 50
    assert first["hasMore"] is True and first["total"] == 60

    page = await reader.call(
        "channel:history", {"channelId": channel, "before": ids[10], "limit": 7}
    )
    assert page["ok"] is True and [m["id"] for m in page["messages"]] == ids[3:10]
    assert page["hasMore"] is True and page["total"] == 60
    page = await reader.call(
        "channel:history", {"channelId": channel, "before": ids[3], "limit": 100}
    )
    assert [m["id"] for m in page["messages"]] == ids[:3] and page["hasMore"] is False

    await expect_error(
        reader, "channel:history", {"channelId": channel, "limit": 101}, "VALIDATION_ERROR"
    )
    await expect_error(
        reader, "channel:history", {"channelId": channel, "limit": 0}, "VALIDATION_ERROR"
    )

    body = await history(server, org, channel, before=ids[50], limit=5)
    assert [m["id"] for m in body["messages"]] == ids[45:50] and body["hasMore"] is True
    assert body["total"] == 60
    body = await history(server, org, channel)
    assert [m["id"] for m in body["messages"]] == ids[10:]


async def test_rejoin_returns_exactly_the_messages_sent_while_away(server):
    org, customer, conversation = uid("org"), uid("cust"), uid("conv")
    target = {"conversationId": conversation, "customerId": customer}
    alice = await in_conversation(server, org, customer, conversation, "alice")
    bob = await in_conversation(server, org, customer, conversation, "bob")
    last_seen = (await send(alice, target, "before"))["id"]
    assert (await bob.next("message:new"))["id"] == last_seen
    await bob.close()

    away = [(await send(alice, target, f"away {i}"))["id"] for i in range(12)]
    bob = await server.connect("bob", org, customers=[customer])
    ack = await bob.call("conversation:rejoin", {**target, "lastMessageId": last_seen})
    assert ack["ok"] is True and ack["missed"] == 12
    rejoined = await bob.next("conversation:rejoined")
    assert [m["id"] for m in rejoined["missed_messages"]] == away
    assert [m["content"] for m in rejoined["missed_messages"]] == [f"away {i}" for i in range(12)]
    assert rejoined["hasMore"] is False
    # Bob is back in the room.
    after = (await send(alice, target, "after"))["id"]
    assert (await bob.next("message:new"))["id"] == after
    await bob.nothing("message:new")

    # When only a timestamp is known, everything after it.
    status, page = await server.http(
        "GET",
        f"/api/v1/customers/{customer}/conversations/{conversation}/messages",
        token=server.token("bob", org, customers=[customer]),
    )
    assert status == 200
    stamp = next(m["createdAt"] for m in page["messages"] if m["id"] == away[5])
    other = await server.connect("bob", org, customers=[customer])
    await other.call("conversation:rejoin", {**target, "lastMessageTimestamp": stamp})
    since = [m["id"] for m in (await other.next("conversation:rejoined"))["missed_messages"]]
    assert since[-1] == after and set(since) <= set(away[6:] + [after])
    assert since == [i for i in away + [after] if i in since]  # oldest first
    # The same moment written in another zone is the same moment.
    moment = datetime.fromisoformat(stamp).astimezone(timezone(timedelta(hours=2)))
    await other.call("conversation:rejoin", {**target, "lastMessageTimestamp": moment.isoformat()})
    assert [
        m["id"] for m in (await other.next("conversation:rejoined"))["missed_messages"]
    ] == since


async def test_rejoin_racing_sends_neither_skips_nor_repeats(server):
    org, customer, conversation = uid("org"), uid("cust"), uid("conv")
    target = {"conversationId": conversation, "customerId": customer}
    writers = [
        await in_conversation(server, org, customer, conversation, f"w{i}") for i in range(4)
    ]
    last_seen = (await send(writers[0], target, "start"))["id"]

    for round_ in range(3):
        sent: list[str] = []

        async def write(client: Client, n: int, tag: str, into: list[str]) -> None:
            for i in range(n):
                into.append((await send(client, target, f"{tag} {i}"))["id"])

        writing = [
            asyncio.create_task(write(w, 6, f"r{round_}w{k}", sent)) for k, w in enumerate(writers)
        ]
        await asyncio.sleep(0.005 * round_)
        reader = await server.connect("reader", org, customers=[customer])
        ack = await reader.call("conversation:rejoin", {**target, "lastMessageId": last_seen})
        assert ack["ok"] is True
        await asyncio.gather(*writing)
        missed = [m["id"] for m in (await reader.next("conversation:rejoined"))["missed_messages"]]
        live_ids = []
        expected_live = len(sent) - len(missed)
        for _ in range(max(expected_live, 0)):
            live_ids.append((await reader.next("message:new"))["id"])
        await reader.nothing("message:new", within=0.2)
        recovered = missed + live_ids
        assert len(recovered) == len(set(recovered)) == len(sent), (missed, live_ids)
        assert set(recovered) == set(sent)
        # Together they are the stored order.
        status, page = await server.http(
            "GET",
            f"/api/v1/customers/{customer}/conversations/{conversation}/messages?limit=100",
            token=server.token("x", org, roles=["admin"]),
        )
        stored = [m["id"] for m in page["messages"]]
        assert recovered == stored[stored.index(last_seen) + 1 :]
        last_seen = stored[-1]
        await reader.close()
        for w in writers:
            w.unread("message:new")


async def test_join_racing_sends_gives_history_then_live_without_overlap(server):
    org, channel = uid("org"), uid("ch")
    target = {"channelId": channel}
    writers = [await in_channel(server, org, channel, f"w{i}") for i in range(3)]
    sent: list[str] = []

    async def write(client: Client, n: int) -> None:
        for i in range(n):
            sent.append((await send(client, target, f"{client.sid} {i}"))["id"])

    writing = [asyncio.create_task(write(w, 8)) for w in writers]
    await asyncio.sleep(0.01)
    joiner = await server.connect("joiner", org)
    await joiner.call("channel:join", {"channelId": channel})
    await asyncio.gather(*writing)
    past = [m["id"] for m in (await joiner.next("channel:history"))["messages"]]
    live = [(await joiner.next("message:new"))["id"] for _ in range(len(sent) - len(past))]
    await joiner.nothing("message:new", within=0.2)
    assert past + live == [m["id"] for m in (await history(server, org, channel))["messages"]]


async def test_rejoin_with_more_than_500_missed(server):
    org, customer, conversation = uid("org"), uid("cust"), uid("conv")
    target = {"conversationId": conversation, "customerId": customer}
    alice = await in_conversation(server, org, customer, conversation, "alice")
    first = (await send(alice, target, "seen"))["id"]
    await alice.close()
    # A socket may send 100 events a minute: six writers share the work.
    clients = [
        await in_conversation(server, org, customer, conversation, f"bulk{i}") for i in range(6)
    ]
    ids: list[str] = []
    for client in clients:
        for _ in range(86):
            ids.append((await send(client, target, f"bulk {len(ids)}"))["id"])
    assert len(ids) == 516
    bob = await server.connect("bob", org, customers=[customer])
    ack = await bob.call("conversation:rejoin", {**target, "lastMessageId": first})
    assert ack["ok"] is True and ack["hasMore"] is True and ack["missed"] == 500
    rejoined = await bob.next("conversation:rejoined")
    assert rejoined["hasMore"] is True
    assert [m["id"] for m in rejoined["missed_messages"]] == ids[:500]
    # The client pages on from the last one it got.
    await bob.call("conversation:rejoin", {**target, "lastMessageId": ids[499]})
    rest = await bob.next("conversation:rejoined")
    assert [m["id"] for m in rest["missed_messages"]] == ids[500:]
    assert rest["hasMore"] is False
    # Exactly 500 missed: all of them, and nothing more to fetch.
    ack = await bob.call("conversation:rejoin", {**target, "lastMessageId": ids[15]})
    assert ack["ok"] is True and ack["missed"] == 500 and ack["hasMore"] is False
    exact = await bob.next("conversation:rejoined")
    assert [m["id"] for m in exact["missed_messages"]] == ids[16:]
    assert exact["hasMore"] is False


async def test_has_more_is_false_when_the_room_holds_exactly_one_page(server):
    org, channel = uid("org"), uid("ch")
    target = {"channelId": channel}
    writer = await in_channel(server, org, channel, "writer")
    ids = [(await send(writer, target, f"m{i}"))["id"] for i in range(50)]

    reader = await server.connect("reader", org)
    await reader.call("channel:join", target)
    first = await reader.next("channel:history")  # the default page is 50
    assert [m["id"] for m in first["messages"]] == ids
    assert (first["hasMore"], first["total"]) == (False, 50)
    body = await history(server, org, channel)
    assert [m["id"] for m in body["messages"]] == ids and body["hasMore"] is False
    body = await history(server, org, channel, limit=49)
    assert [m["id"] for m in body["messages"]] == ids[1:] and body["hasMore"] is True

    # Paging back: exactly `limit` older messages left, then one more than that.
    page = await reader.call("channel:history", {**target, "before": ids[5], "limit": 5})
    assert [m["id"] for m in page["messages"]] == ids[:5] and page["hasMore"] is False
    page = await reader.call("channel:history", {**target, "before": ids[5], "limit": 4})
    assert [m["id"] for m in page["messages"]] == ids[1:5] and page["hasMore"] is True
    body = await history(server, org, channel, before=ids[5], limit=5)
    assert [m["id"] for m in body["messages"]] == ids[:5] and body["hasMore"] is False
    page = await reader.call("channel:history", {**target, "before": ids[0]})
    assert (page["messages"], page["hasMore"], page["total"]) == ([], False, 50)

    # One message more than a page: now there is more.
    ids.append((await send(writer, target, "m50"))["id"])
    late = await server.connect("late", org)
    await late.call("channel:join", target)
    page = await late.next("channel:history")
    assert [m["id"] for m in page["messages"]] == ids[1:]
    assert (page["hasMore"], page["total"]) == (True, 51)


async def test_http_posts_and_socket_sends_share_one_order(server):
    """Socket sends and HTTP posts racing into one room: one order for every listener,
    which is the stored order, and each sender's messages in the order it sent them."""
    org, channel = uid("org"), uid("ch")
    target = {"channelId": channel}
    listener = await in_channel(server, org, channel, "listener")
    sockets = [await in_channel(server, org, channel, f"talker{i}") for i in range(2)]
    token = server.token("bot", org, roles=["service"])
    by_socket: list[list[str]] = [[], []]
    async with aiohttp.ClientSession() as session:

        async def post(i: int) -> str:
            async with session.post(
                f"{server.url}/api/v1/channels/{channel}/messages",
                json={"content": f"http {i}"},
                headers={"Authorization": f"Bearer {token}"},
            ) as resp:
                assert resp.status == 201
                return (await resp.json())["id"]

        async def talk(k: int) -> None:
            for i in range(10):
                by_socket[k].append((await send(sockets[k], target, f"socket {k} {i}"))["id"])

        results = await asyncio.gather(*(post(i) for i in range(20)), talk(0), talk(1))
    posted = results[:20]
    heard = [(await listener.next("message:new"))["id"] for _ in range(40)]
    assert sorted(heard) == sorted(posted + by_socket[0] + by_socket[1])
    assert heard == [m["id"] for m in (await history(server, org, channel))["messages"]]
    for k, client in enumerate(sockets):
        assert [(await client.next("message:new"))["id"] for _ in range(40)] == heard
        assert [i for i in heard if i in by_socket[k]] == by_socket[k]
    await listener.nothing("message:new", within=0.05)


async def test_rejoin_from_an_unknown_message_joins_nothing(server):
    org, customer, conversation = uid("org"), uid("cust"), uid("conv")
    target = {"conversationId": conversation, "customerId": customer}
    alice = await in_conversation(server, org, customer, conversation, "alice")
    first = (await send(alice, target, "first"))["id"]
    elsewhere = uid("conv")
    other = await in_conversation(server, org, customer, elsewhere, "alice")
    foreign = (await send(other, {**target, "conversationId": elsewhere}, "x"))["id"]

    bob = await server.connect("bob", org, customers=[customer])
    for unknown in ("msg_unknown", foreign):
        await expect_error(
            bob, "conversation:rejoin", {**target, "lastMessageId": unknown}, "NOT_FOUND"
        )
    await expect_error(bob, "message:send", {**target, "content": "x"}, "NOT_IN_ROOM")
    await alice.nothing("member:joined")
    await bob.nothing("conversation:rejoined")
    # With a timestamp as well, an unknown id falls back to the timestamp.
    ack = await bob.call(
        "conversation:rejoin",
        {**target, "lastMessageId": "msg_unknown", "lastMessageTimestamp": "2000-01-01T00:00Z"},
    )
    assert ack["ok"] is True
    assert [m["id"] for m in (await bob.next("conversation:rejoined"))["missed_messages"]] == [
        first
    ]
    status, reply = await server.http(
        "GET",
        f"/api/v1/customers/{customer}/conversations/{uid('conv')}/messages",
        token=server.token("bob", org, customers=[customer]),
    )
    assert (status, reply["error"]["code"]) == (404, "NOT_FOUND")

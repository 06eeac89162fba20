"""Read positions and unread counts: they only move forward, and every socket of a user
subscribed to a customer agrees on the count, on one node and across two."""

from __future__ import annotations

from tests.activity.support import post_item, subscribe, subscribed, uid
from tests.messages.support import in_conversation, send


async def test_a_read_tells_the_users_other_subscribed_sockets_only(server):
    org, customer, other = uid("org"), uid("cust"), uid("cust")
    claims = {"customers": [customer, other], "name": "Ann"}
    tab1, _ = await subscribed(server, org, customer, "ann", **claims)
    tab2, _ = await subscribed(server, org, customer, "ann", **claims)
    elsewhere = await server.connect("ann", org, **claims)  # subscribed to another customer
    await subscribe(elsewhere, other)
    colleague, _ = await subscribed(server, org, customer, "ben")
    items = [await post_item(server, org, customer, summary=f"Step {n}") for n in range(3)]
    for client in (tab1, tab2, colleague):
        assert [await client.next("activity:new") for _ in items] == items

    ack = await tab1.call("activity:read", {"customerId": customer, "itemId": items[1]["id"]})
    assert ack == {
        "ok": True,
        "customerId": customer,
        "unreadCount": 1,
        "lastReadItemId": items[1]["id"],
    }
    assert await tab2.next("activity:unread") == {"customerId": customer, "unreadCount": 1}
    # Reading back does not move the position, and tells nobody.
    ack = await tab2.call("activity:read", {"customerId": customer, "itemId": items[0]["id"]})
    assert ack == {
        "ok": True,
        "customerId": customer,
        "unreadCount": 1,
        "lastReadItemId": items[1]["id"],
    }
    ack = await tab2.call("activity:read", {"customerId": customer, "itemId": items[2]["id"]})
    assert ack == {
        "ok": True,
        "customerId": customer,
        "unreadCount": 0,
        "lastReadItemId": items[2]["id"],
    }
    assert await tab1.next("activity:unread") == {"customerId": customer, "unreadCount": 0}
    # Markers: each socket hears this after anything sent to it before.
    marker = await post_item(server, org, customer)
    mark_other = await post_item(server, org, other)
    assert await tab1.next("activity:new") == await tab2.next("activity:new") == marker
    assert await colleague.next("activity:new") == marker
    assert await elsewhere.next("activity:new") == mark_other
    assert tab1.unread("activity:unread") == tab2.unread("activity:unread") == []
    assert colleague.unread("activity:unread") == elsewhere.unread("activity:unread") == []
    # A new tab starts from the stored position; the colleague's is its own.
    _, snapshot = await subscribed(server, org, customer, "ann", **claims)
    assert snapshot["unreadCount"] == 1
    _, snapshot = await subscribed(server, org, customer, "ben")
    assert snapshot["unreadCount"] == 4


async def test_counts_agree_with_the_stream_and_skip_the_users_own_items(server):
    org, customer, conversation = uid("org"), uid("cust"), uid("conv")
    target = {"customerId": customer, "conversationId": conversation}
    tab1, _ = await subscribed(server, org, customer, "ann", name="Ann")
    tab2, _ = await subscribed(server, org, customer, "ann", name="Ann")
    ann = await in_conversation(server, org, customer, conversation, "ann", name="Ann")
    bob = await in_conversation(server, org, customer, conversation, "bob", name="Bob")
    await send(ann, target, "from Ann")
    await send(bob, target, "from Bob")
    stream = [await tab1.next("activity:new") for _ in range(4)]
    assert [(i["type"], i["actorId"]) for i in stream] == [
        ("conversation.member_joined", "ann"),
        ("conversation.member_joined", "bob"),
        ("message.created", "ann"),
        ("message.created", "bob"),
    ]
    assert [await tab2.next("activity:new") for _ in range(4)] == stream
    # Ann's badge counts Bob's two items, not her own.
    ack = await tab1.call("activity:read", {"customerId": customer, "itemId": stream[0]["id"]})
    assert ack["unreadCount"] == 2
    assert await tab2.next("activity:unread") == {"customerId": customer, "unreadCount": 2}
    ack = await tab2.call("activity:read", {"customerId": customer, "itemId": stream[1]["id"]})
    assert ack["unreadCount"] == 1
    assert await tab1.next("activity:unread") == {"customerId": customer, "unreadCount": 1}


async def test_counts_agree_across_two_nodes(cluster):
    nodes = cluster()
    a, b = nodes.start_node(), nodes.start_node()
    org, customer, conversation = uid("org"), uid("cust"), uid("conv")
    on_a, _ = await subscribed(a, org, customer, "ann", name="Ann")
    on_b, _ = await subscribed(b, org, customer, "ann", name="Ann")
    bob = await in_conversation(a, org, customer, conversation, "bob", name="Bob")
    sent = await send(bob, {"customerId": customer, "conversationId": conversation}, "hi")
    # Items from domain events are made after the source's ack: wait for them first.
    stream = [await on_a.next("activity:new") for _ in range(2)]
    posted = await post_item(b, org, customer)
    stream.append(await on_a.next("activity:new"))
    assert [i["type"] for i in stream] == [
        "conversation.member_joined",
        "message.created",
        "note.added",
    ]
    assert stream[1]["subject"] == {"type": "message", "id": sent["id"]}
    assert stream[2] == posted
    assert [await on_b.next("activity:new") for _ in range(3)] == stream  # once each

    ack = await on_b.call("activity:read", {"customerId": customer, "itemId": stream[0]["id"]})
    assert ack["unreadCount"] == 2
    assert await on_a.next("activity:unread") == {"customerId": customer, "unreadCount": 2}
    ack = await on_a.call("activity:read", {"customerId": customer, "itemId": stream[2]["id"]})
    assert ack["unreadCount"] == 0
    assert await on_b.next("activity:unread") == {"customerId": customer, "unreadCount": 0}
    marker = await post_item(a, org, customer)
    assert await on_a.next("activity:new") == await on_b.next("activity:new") == marker
    assert on_a.unread("activity:unread") == on_b.unread("activity:unread") == []
    # Both nodes read one database: a third tab on either starts from the same count.
    _, on_a2 = await subscribed(a, org, customer, "ann")
    _, on_b2 = await subscribed(b, org, customer, "ann")
    assert on_a2["unreadCount"] == on_b2["unreadCount"] == 1
    assert on_a2["items"] == on_b2["items"] == [marker, *stream[::-1]]

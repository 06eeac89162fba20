"""The feed of contract section 8 with exact payloads: subscribing, items from messages
and from services, paging, unsubscribing."""

from __future__ import annotations

from tests.activity.support import (
    get_page,
    item_like,
    post_item,
    service_token,
    subscribe,
    subscribed,
    uid,
)
from tests.messages.support import in_conversation, send


async def test_subscribe_sends_the_latest_20_newest_first_and_the_unread_count(server):
    org, customer = uid("org"), uid("cust")
    posted = [
        await post_item(server, org, customer, summary=f"Step {n}", data={"n": n})
        for n in range(22)
    ]
    item_like(
        posted[0],
        customerId=customer,
        type="note.added",
        actorId="billing",
        actorName="billing",
        summary="Step 0",
        subject={"type": "customer", "id": customer},
        data={"n": 0},
    )

    viewer, snapshot = await subscribed(server, org, customer, "viewer")
    assert snapshot == {
        "customerId": customer,
        "items": posted[::-1][:20],
        "hasMore": True,
        "unreadCount": 22,
    }
    # Later items arrive live, exactly as the POST answered them.
    later = await post_item(
        server,
        org,
        customer,
        type="invoice.paid",
        summary="Invoice 7 was paid",
        actorId="stripe",
        actorName="Stripe",
        subject={"type": "invoice", "id": "inv_7"},
        data={"amount": 1200},
    )
    item_like(
        later,
        customerId=customer,
        type="invoice.paid",
        actorId="stripe",
        actorName="Stripe",
        summary="Invoice 7 was paid",
        subject={"type": "invoice", "id": "inv_7"},
        data={"amount": 1200},
    )
    assert await viewer.next("activity:new") == later
    assert viewer.unread("activity:new") == []


async def test_messages_and_joins_in_a_customer_conversation_become_items(server):
    org, customer, conversation = uid("org"), uid("cust"), uid("conv")
    viewer, snapshot = await subscribed(server, org, customer, "viewer")
    assert snapshot == {"customerId": customer, "items": [], "hasMore": False, "unreadCount": 0}

    matty = await in_conversation(server, org, customer, conversation, "matty", name="Matty")
    joined = item_like(
        await viewer.next("activity:new"),
        customerId=customer,
        type="conversation.member_joined",
        actorId="matty",
        actorName="Matty",
        summary="Matty joined the conversation",
        subject={"type": "conversation", "id": conversation},
        data={"conversationId": conversation},
    )
    # A channel message is no customer's activity; the conversation message is.
    channel = {"channelId": uid("ch")}
    await matty.call("channel:join", channel)
    await send(matty, channel, "in a channel")
    sent = await send(
        matty, {"conversationId": conversation, "customerId": customer}, "hello customer"
    )
    message = item_like(
        await viewer.next("activity:new"),
        customerId=customer,
        type="message.created",
        actorId="matty",
        actorName="Matty",
        summary="Matty sent a message",
        subject={"type": "message", "id": sent["id"]},
        data={"conversationId": conversation, "messageId": sent["id"]},
    )
    assert viewer.unread("activity:new") == []
    # The same items over HTTP, newest first; and for a new subscriber.
    token = server.token("viewer", org, customers=[customer])
    assert await get_page(server, token, customer) == {
        "customerId": customer,
        "items": [message, joined],
        "hasMore": False,
    }
    _, again = await subscribed(server, org, customer, "viewer")
    assert again == {
        "customerId": customer,
        "items": [message, joined],
        "hasMore": False,
        "unreadCount": 2,
    }
    # The actor's own items are not news to it.
    _, own = await subscribed(server, org, customer, "matty")
    assert own["unreadCount"] == 0


async def test_pages_go_back_with_before_and_limit(server):
    org, customer = uid("org"), uid("cust")
    posted = [await post_item(server, org, customer, summary=f"Step {n}") for n in range(5)]
    newest = posted[::-1]
    token = server.token("viewer", org, customers=[customer])
    assert await get_page(server, token, customer, "?limit=2") == {
        "customerId": customer,
        "items": newest[:2],
        "hasMore": True,
    }
    assert await get_page(server, token, customer, f"?limit=2&before={newest[1]['id']}") == {
        "customerId": customer,
        "items": newest[2:4],
        "hasMore": True,
    }
    assert await get_page(server, token, customer, f"?before={newest[3]['id']}") == {
        "customerId": customer,
        "items": newest[4:],
        "hasMore": False,
    }
    for query, code, status in [
        ("?limit=0", "VALIDATION_ERROR", 400),
        ("?limit=101", "VALIDATION_ERROR", 400),
        ("?before=act_nope", "NOT_FOUND", 404),
    ]:
        body = await get_page(server, token, customer, query, expect=status)
        assert body["error"]["code"] == code, (query, body)
    # A customer no one has claimed yet reads as an empty feed, and stays unclaimed.
    fresh = uid("cust")
    assert await get_page(server, server.token("viewer", org, customers=[fresh]), fresh) == {
        "customerId": fresh,
        "items": [],
        "hasMore": False,
    }
    _, snapshot = await subscribed(server, uid("org"), fresh, "someone-else")
    assert snapshot["items"] == []


async def test_a_post_is_validated(server):
    org, customer = uid("org"), uid("cust")
    token = service_token(server, org, customer)
    for body, where in [
        ({"summary": "x"}, "type"),
        ({"type": "bad type", "summary": "x"}, "type"),
        ({"type": "a.b", "summary": "   "}, "summary"),
        ({"type": "a.b", "summary": "x" * 501}, "summary"),
        ({"type": "a.b", "summary": "x", "data": {"k": "v" * 17_000}}, "data"),
        ({"type": "a.b", "summary": "x", "subject": {"type": "x"}}, "subject.id"),
        ({"type": "a.b", "summary": "x", "actorId": "no spaces"}, "actorId"),
    ]:
        status, answer = await server.http(
            "POST", f"/api/v1/customers/{customer}/activity", json=body, token=token
        )
        assert (status, answer["error"]["code"]) == (400, "VALIDATION_ERROR"), (body, answer)
        assert answer["error"]["message"].startswith(where), (body, answer)
    status, answer = await server.http(
        "POST", f"/api/v1/customers/{customer}/activity", data="not json", token=token
    )
    assert (status, answer["error"]["code"]) == (400, "VALIDATION_ERROR")


async def test_unsubscribe_stops_the_stream(server):
    org, customer = uid("org"), uid("cust")
    viewer, _ = await subscribed(server, org, customer, "viewer")
    other = await server.connect("other", org, customers=[customer])
    await subscribe(other, customer)

    ack = await viewer.call("activity:unsubscribe", {"customerId": customer})
    assert ack == {"ok": True, "customerId": customer, "wasSubscribed": True}
    assert await viewer.next("activity:unsubscribed") == {"customerId": customer}
    posted = await post_item(server, org, customer)
    assert await other.next("activity:new") == posted
    # Had the item reached the viewer, it would have come before this snapshot.
    again = await subscribe(viewer, customer)
    assert again["items"] == [posted]
    assert viewer.unread("activity:new") == []
    # Unsubscribing twice answers, and says it was not subscribed.
    assert (await viewer.call("activity:unsubscribe", {"customerId": customer}))[
        "wasSubscribed"
    ] is True
    await viewer.next("activity:unsubscribed")
    ack = await viewer.call("activity:unsubscribe", {"customerId": customer})
    assert ack == {"ok": True, "customerId": customer, "wasSubscribed": False}
    assert await viewer.next("activity:unsubscribed") == {"customerId": customer}


async def test_items_are_counted_by_type_and_subscribers_by_node(server):
    org, customer, conversation = uid("org"), uid("cust"), uid("conv")
    before_items = await server.metric("lvng_activity_items_total", type="message.created")
    before_custom = await server.metric("lvng_activity_items_total", type="custom")
    subscribers = await server.metric("lvng_activity_subscribers")
    viewer, _ = await subscribed(server, org, customer, "viewer")
    assert await server.metric("lvng_activity_subscribers") == subscribers + 1
    matty = await in_conversation(server, org, customer, conversation, "matty")
    await viewer.next("activity:new")
    await send(matty, {"conversationId": conversation, "customerId": customer}, "hi")
    await viewer.next("activity:new")
    await post_item(server, org, customer, type="whatever.custom")
    await viewer.next("activity:new")
    assert (
        await server.metric("lvng_activity_items_total", type="message.created") == before_items + 1
    )
    assert await server.metric("lvng_activity_items_total", type="custom") == before_custom + 1
    ack = await viewer.call("activity:unsubscribe", {"customerId": customer})
    assert ack["wasSubscribed"] is True
    assert await server.metric("lvng_activity_subscribers") == subscribers

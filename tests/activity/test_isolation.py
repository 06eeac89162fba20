"""The activity plugin works with the others only through domain events: each runs
without the other, and a failing or stuck feed never breaks or delays a message's ack."""

from __future__ import annotations

import asyncpg
import pytest

from tests.activity.support import get_page, item_like, post_item, subscribed, uid
from tests.live import LiveServer
from tests.messages.support import expect_error, in_conversation, send
from tests.services import POSTGRES_HOST, POSTGRES_PORT


async def test_with_activity_disabled_messages_work_unchanged(start_server):
    server = start_server({"LVNG_DISABLED_PLUGINS": "activity"})
    org, customer, conversation = uid("org"), uid("cust"), uid("conv")
    target = {"customerId": customer, "conversationId": conversation}
    alice = await in_conversation(server, org, customer, conversation, "alice", name="Alice")
    bob = await in_conversation(server, org, customer, conversation, "bob", name="Bob")
    assert (await alice.next("member:joined"))["userId"] == "bob"
    sent = await send(alice, target, "no feed here")
    assert (await bob.next("message:new"))["id"] == sent["id"]
    status, body = await server.http(
        "GET",
        f"/api/v1/customers/{customer}/conversations/{conversation}/messages",
        token=server.token("alice", org, customers=[customer]),
    )
    assert status == 200 and [m["content"] for m in body["messages"]] == ["no feed here"]
    # The activity plugin's events, routes and metrics are not there.
    await expect_error(alice, "activity:subscribe", {"customerId": customer}, "UNKNOWN_EVENT")
    status, body = await server.http(
        "GET",
        f"/api/v1/customers/{customer}/activity",
        token=server.token("alice", org, customers=[customer]),
    )
    assert (status, body["error"]["code"]) == (404, "NOT_FOUND")
    status, text = await server.http("GET", "/metrics")
    assert "lvng_activity_" not in text and "lvng_messages_sent_total" in text


async def test_with_messages_disabled_the_feed_serves_posted_items(start_server):
    server = start_server({"LVNG_DISABLED_PLUGINS": "messages"})
    org, customer = uid("org"), uid("cust")
    viewer, snapshot = await subscribed(server, org, customer, "viewer")
    assert snapshot == {"customerId": customer, "items": [], "hasMore": False, "unreadCount": 0}
    posted = item_like(
        await post_item(server, org, customer, summary="Contract signed"),
        customerId=customer,
        summary="Contract signed",
    )
    assert await viewer.next("activity:new") == posted
    ack = await viewer.call("activity:read", {"customerId": customer, "itemId": posted["id"]})
    assert ack == {
        "ok": True,
        "customerId": customer,
        "unreadCount": 0,
        "lastReadItemId": posted["id"],
    }
    page = await get_page(server, server.token("viewer", org, customers=[customer]), customer)
    assert page == {"customerId": customer, "items": [posted], "hasMore": False}
    await expect_error(
        viewer,
        "message:send",
        {"customerId": customer, "conversationId": "c", "content": "x"},
        "UNKNOWN_EVENT",
    )


@pytest.fixture
async def pg_server(scratch_postgres, tmp_path):
    """A server on a PostgreSQL database of its own, and a connection to that database
    for the test to break the activity tables with."""
    server = LiveServer(tmp_path, {"LVNG_DATABASE_URL": scratch_postgres.url}).start()
    conn = await asyncpg.connect(
        host=POSTGRES_HOST, port=POSTGRES_PORT, user="postgres", database=scratch_postgres.name
    )
    try:
        yield server, conn
    finally:
        await conn.close()
        await server.close_clients()
        server.stop()


async def test_a_failing_feed_never_breaks_a_message_send(pg_server):
    server, db = pg_server
    org, customer, conversation = uid("org"), uid("cust"), uid("conv")
    target = {"customerId": customer, "conversationId": conversation}
    viewer, _ = await subscribed(server, org, customer, "viewer")
    matty = await in_conversation(server, org, customer, conversation, "matty", name="Matty")
    bob = await in_conversation(server, org, customer, conversation, "bob", name="Bob")
    assert [(await viewer.next("activity:new"))["actorId"] for _ in range(2)] == ["matty", "bob"]
    failed = await server.metric("lvng_activity_items_failed_total", type="message.created")

    # A database fault for the activity tables only: storing an item of Matty's fails.
    await db.execute("""
        CREATE FUNCTION activity_fault() RETURNS trigger LANGUAGE plpgsql AS
        $$ BEGIN RAISE EXCEPTION 'injected activity fault'; END $$;
        CREATE TRIGGER activity_fault BEFORE INSERT ON activity_item
        FOR EACH ROW WHEN (NEW.actor_id = 'matty') EXECUTE FUNCTION activity_fault();
    """)
    lost = await send(matty, target, "while the feed is broken")
    assert lost["id"].startswith("msg_")
    assert (await bob.next("message:new"))["id"] == lost["id"]
    after = await send(bob, target, "Bob's items still work")
    item = await viewer.next("activity:new")  # a feed's items are made in order
    assert item["subject"] == {"type": "message", "id": after["id"]}
    assert (
        await server.metric("lvng_activity_items_failed_total", type="message.created")
        == failed + 1
    )
    assert "injected activity fault" in server.log()

    await db.execute("DROP TRIGGER activity_fault ON activity_item")
    kept = await send(matty, target, "after the repair")
    item = await viewer.next("activity:new")
    assert item["subject"] == {"type": "message", "id": kept["id"]}
    status, body = await server.http(
        "GET",
        f"/api/v1/customers/{customer}/conversations/{conversation}/messages",
        token=server.token("matty", org, customers=[customer]),
    )
    assert [m["id"] for m in body["messages"]] == [lost["id"], after["id"], kept["id"]]


async def test_a_stuck_feed_never_delays_a_message_send(pg_server):
    server, db = pg_server
    org, customer, conversation = uid("org"), uid("cust"), uid("conv")
    target = {"customerId": customer, "conversationId": conversation}
    viewer, _ = await subscribed(server, org, customer, "viewer")

    # The activity items table is locked: every item being made waits on it.
    lock = db.transaction()
    await lock.start()
    await db.execute("LOCK TABLE activity_item IN ACCESS EXCLUSIVE MODE")
    try:
        # Joining (whose domain event is published inside the room's turn) and sending
        # answer at once: each `call` would time out after 5 s otherwise.
        alice = await in_conversation(server, org, customer, conversation, "alice")
        bob = await in_conversation(server, org, customer, conversation, "bob")
        await alice.next("member:joined")
        sends = [
            await send(alice, target, "one"),
            await send(bob, target, "two"),
            await send(alice, target, "three"),
        ]
        for client in (alice, bob):
            assert [(await client.next("message:new"))["id"] for _ in sends] == [
                s["id"] for s in sends
            ]
        assert viewer.unread("activity:new") == []
    finally:
        await lock.rollback()
    # Released: every item arrives, in the order things happened.
    items = [await viewer.next("activity:new") for _ in range(5)]
    assert [(i["type"], i["actorId"]) for i in items] == [
        ("conversation.member_joined", "alice"),
        ("conversation.member_joined", "bob"),
        ("message.created", "alice"),
        ("message.created", "bob"),
        ("message.created", "alice"),
    ]
    assert [i["subject"]["id"] for i in items[2:]] == [s["id"] for s in sends]

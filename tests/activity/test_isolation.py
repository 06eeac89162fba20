"""The activity plugin works with the others only through domain events: each runs
without the other. A conversation message's feed item is stored in the message's own
transaction (core/derived.py): a refused item fails that message alone, and a locked feed
holds up the messages whose items go into it until it is released."""

from __future__ import annotations

import asyncio

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


async def test_a_refused_feed_item_fails_its_message_alone_and_clearly(pg_server):
    """A conversation message and its feed item are one transaction (docs/decisions.md,
    "Derived writes in the cause's transaction"): an item the database refuses fails its
    message with it, alone: nothing of it is kept, the sends around it are stored."""
    server, db = pg_server
    org, customer, conversation = uid("org"), uid("cust"), uid("conv")
    target = {"customerId": customer, "conversationId": conversation}
    viewer, _ = await subscribed(server, org, customer, "viewer")
    matty = await in_conversation(server, org, customer, conversation, "matty", name="Matty")
    bob = await in_conversation(server, org, customer, conversation, "bob", name="Bob")
    assert [(await viewer.next("activity:new"))["actorId"] for _ in range(2)] == ["matty", "bob"]

    # A database fault for the activity tables only: storing an item of Matty's fails.
    await db.execute("""
        CREATE FUNCTION activity_fault() RETURNS trigger LANGUAGE plpgsql AS
        $$ BEGIN RAISE EXCEPTION 'injected activity fault'; END $$;
        CREATE TRIGGER activity_fault BEFORE INSERT ON activity_item
        FOR EACH ROW WHEN (NEW.actor_id = 'matty') EXECUTE FUNCTION activity_fault();
    """)
    error = await expect_error(
        matty, "message:send", {**target, "content": "while the feed is broken"}, "INTERNAL_ERROR"
    )
    assert error["message"] == (
        "not stored: the database refused this write (it has been logged); nothing of it was kept"
    )
    after = await send(bob, target, "Bob's items still work")
    # Bob's own message is the next one anyone hears: Matty's was never stored.
    assert (await bob.next("message:new"))["id"] == after["id"]
    assert (await matty.next("message:new"))["id"] == after["id"]
    item = await viewer.next("activity:new")
    assert item["subject"] == {"type": "message", "id": after["id"]}
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
    assert [m["id"] for m in body["messages"]] == [after["id"], kept["id"]]
    items = await db.fetch(
        "SELECT subject_id FROM activity_item WHERE customer_id = $1 AND type = $2 ORDER BY seq",
        customer,
        "message.created",
    )
    assert [r["subject_id"] for r in items] == [after["id"], kept["id"]]


async def test_a_stuck_feed_holds_its_items_sends_only_until_it_is_released(pg_server):
    """Joins (no transaction of their own: their items are made after them, off the
    path) answer while the feed's table is locked; a message, whose item is in its own
    transaction, is stored once the lock goes, and the feed keeps the order things
    happened in."""
    server, db = pg_server
    org, customer, conversation = uid("org"), uid("cust"), uid("conv")
    target = {"customerId": customer, "conversationId": conversation}
    viewer, _ = await subscribed(server, org, customer, "viewer")

    # The activity items table is locked: every item being made waits on it.
    lock = db.transaction()
    await lock.start()
    await db.execute("LOCK TABLE activity_item IN ACCESS EXCLUSIVE MODE")
    try:
        # Joining answers at once: each `call` would time out after 5 s otherwise.
        alice = await in_conversation(server, org, customer, conversation, "alice")
        bob = await in_conversation(server, org, customer, conversation, "bob")
        await alice.next("member:joined")
        sending = asyncio.ensure_future(send(alice, target, "one"))
        assert viewer.unread("activity:new") == []
    finally:
        await lock.rollback()
    # Released: the message is stored, every item arrives, in the order things happened.
    sent = await sending
    for client in (alice, bob):
        assert (await client.next("message:new"))["id"] == sent["id"]
    items = [await viewer.next("activity:new") for _ in range(3)]
    assert [(i["type"], i["actorId"]) for i in items] == [
        ("conversation.member_joined", "alice"),
        ("conversation.member_joined", "bob"),
        ("message.created", "alice"),
    ]
    assert items[2]["subject"]["id"] == sent["id"]

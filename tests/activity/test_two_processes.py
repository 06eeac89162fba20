"""Two server processes on one PostgreSQL database without Redis (a misconfiguration the
kit still covers, core/turns.py): `turn.transaction()` takes the room's advisory lock, so
two processes' read-modify-writes of one room take turns and a read position never goes
back.

The interleaving is driven, not hoped for: a deferred constraint trigger added by the test
makes the commit of a read position's update wait for an advisory lock the test holds.
Process A's update is kept at its commit; process B's read of the same feed is sent and
the test waits until it waits too (on the room's lock; without the lock, on A's row, after
having read the old position); then A's commit is let go.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg

from tests.activity.support import post_item, subscribed, uid

HOLD_KEY = (4242, 20)  # the advisory lock (two int4 keys) an update's commit waits for
AT_COMMIT = f"""
CREATE FUNCTION lvng_test_hold_read() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock({HOLD_KEY[0]}, {HOLD_KEY[1]});
  RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER lvng_test_hold_read AFTER UPDATE ON activity_read
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION lvng_test_hold_read();
"""
WAITING = "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'"


async def waiting(conn: asyncpg.Connection, name: str, count: int) -> None:
    """Return once `count` transactions of the database wait for a lock."""
    deadline = time.monotonic() + 5
    while await conn.fetchval(WAITING, name) < count:
        assert time.monotonic() < deadline, f"fewer than {count} transactions came to wait"
        await asyncio.sleep(0.005)


async def test_two_processes_without_redis_take_turns_and_a_read_never_goes_back(
    start_server, scratch_postgres
):
    env = {"LVNG_DATABASE_URL": scratch_postgres.url}
    a, b = start_server(env=env), start_server(env=env)
    org, customer = uid("org"), uid("cust")
    on_a, _ = await subscribed(a, org, customer, "ann", name="Ann")
    on_b, _ = await subscribed(b, org, customer, "ann", name="Ann")
    items = [await post_item(a, org, customer, summary=f"Step {n}") for n in range(3)]
    assert [await on_a.next("activity:new") for _ in items] == items
    first = await on_a.call("activity:read", {"customerId": customer, "itemId": items[0]["id"]})
    assert first["lastReadItemId"] == items[0]["id"]  # the row exists: the next are updates

    conn = await asyncpg.connect(scratch_postgres.url)
    try:
        await conn.execute(AT_COMMIT)
        await conn.execute("SELECT pg_advisory_lock($1, $2)", *HOLD_KEY)
        further = asyncio.ensure_future(
            on_a.call("activity:read", {"customerId": customer, "itemId": items[2]["id"]})
        )
        await waiting(conn, scratch_postgres.name, 1)  # A's update, held at its commit
        back = asyncio.ensure_future(
            on_b.call("activity:read", {"customerId": customer, "itemId": items[1]["id"]})
        )
        await waiting(conn, scratch_postgres.name, 2)  # B waits for A's turn (or row)
        await conn.execute("SELECT pg_advisory_unlock($1, $2)", *HOLD_KEY)
        assert await further == {
            "ok": True,
            "customerId": customer,
            "unreadCount": 0,
            "lastReadItemId": items[2]["id"],
        }
        # B read the position after A's commit: item 1 is behind it, nothing moves.
        assert await back == {
            "ok": True,
            "customerId": customer,
            "unreadCount": 0,
            "lastReadItemId": items[2]["id"],
        }
        stored = await conn.fetch(
            "SELECT item_id FROM activity_read WHERE customer_id = $1 AND user_id = 'ann'",
            customer,
        )
        assert [row["item_id"] for row in stored] == [items[2]["id"]]
    finally:
        await conn.close()

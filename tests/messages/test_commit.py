"""`message:new` goes out after the commit, never before, and a failed commit sends nothing
(contract section 5), on PostgreSQL, where a reader on another connection sees only what
is committed.

A deferred constraint trigger, added by the test to its scratch database, runs at the
commit of each new message: it waits for an advisory lock the test holds, so the test
can keep a commit waiting and look around meanwhile; and it fails the commit of a message
whose content is `fail at commit`.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg

from tests.messages.support import expect_error, history, in_channel, send, uid

HOLD_KEY = (4242, 6)  # the advisory lock (two int4 keys) the commit waits for
AT_COMMIT = f"""
CREATE FUNCTION lvng_test_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.content = 'fail at commit' THEN
    RAISE EXCEPTION 'the test fails this commit';
  END IF;
  PERFORM pg_advisory_xact_lock({HOLD_KEY[0]}, {HOLD_KEY[1]});
  RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER lvng_test_at_commit AFTER INSERT ON messages_message
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION lvng_test_at_commit();
"""
COMMIT_WAITING = f"""
SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
  AND classid = {HOLD_KEY[0]} AND objid = {HOLD_KEY[1]} AND objsubid = 2
"""


async def commit_is_waiting(conn: asyncpg.Connection, timeout: float = 5.0) -> None:
    """Return once a transaction waits for the held lock at its commit."""
    deadline = time.monotonic() + timeout
    while not await conn.fetchval(COMMIT_WAITING):
        assert time.monotonic() < deadline, "no commit came to wait for the lock"
        await asyncio.sleep(0.005)


async def test_message_new_goes_out_after_the_commit_and_not_for_a_failed_one(
    start_server, scratch_postgres
):
    live = start_server(env={"LVNG_DATABASE_URL": scratch_postgres.url})
    conn = await asyncpg.connect(scratch_postgres.url)
    try:
        await conn.execute(AT_COMMIT)  # the server has migrated: the table is there
        org, channel = uid("org"), uid("ch")
        target = {"channelId": channel}
        alice = await in_channel(live, org, channel, "alice")
        bob = await in_channel(live, org, channel, "bob")
        first = await send(alice, target, "committed at once")
        assert (await bob.next("message:new"))["id"] == first["id"]

        await conn.execute("SELECT pg_advisory_lock($1, $2)", *HOLD_KEY)
        await alice.emit("message:send", {**target, "content": "held at commit"})
        await commit_is_waiting(conn)
        # While the commit waits, nothing has gone out: bob's round trip comes back after
        # anything sent to him before it, and no reader sees the message.
        assert (await bob.call("probe:echo", {"text": "barrier"}))["ok"] is True
        assert bob.unread("message:new") == []
        assert [m["id"] for m in (await history(live, org, channel))["messages"]] == [first["id"]]
        await conn.execute("SELECT pg_advisory_unlock($1, $2)", *HOLD_KEY)
        # When message:new arrives, the message is readable over HTTP.
        new = await bob.next("message:new")
        assert new["content"] == "held at commit"
        assert [m["id"] for m in (await history(live, org, channel))["messages"]] == [
            first["id"],
            new["id"],
        ]
        assert (await alice.next("message:sent"))["id"] == first["id"]
        assert (await alice.next("message:sent"))["id"] == new["id"]

        # A commit that fails sends nothing to anyone, and stores nothing.
        sent = await live.metric("lvng_messages_sent_total", target="channel")
        created = await live.metric(
            "lvng_domain_events_total", plugin="messages", name="message.created"
        )
        await expect_error(
            alice, "message:send", {**target, "content": "fail at commit"}, "INTERNAL_ERROR"
        )
        assert (await bob.call("probe:echo", {"text": "barrier"}))["ok"] is True
        assert bob.unread("message:new") == []
        assert alice.unread("message:sent") == []
        assert [m["id"] for m in alice.unread("message:new")] == [first["id"], new["id"]]
        assert [m["id"] for m in (await history(live, org, channel))["messages"]] == [
            first["id"],
            new["id"],
        ]
        assert await live.metric("lvng_messages_sent_total", target="channel") == sent
        assert (
            await live.metric("lvng_domain_events_total", plugin="messages", name="message.created")
            == created
        )
        # The room is not left locked: the next send goes through.
        after = await send(alice, target, "after the failure")
        assert (await bob.next("message:new"))["id"] == after["id"]
    finally:
        await conn.close()
        await live.close_clients()
        live.stop()  # before the database is dropped

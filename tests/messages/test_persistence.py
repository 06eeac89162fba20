"""A restart keeps every acknowledged message: SQLite file and PostgreSQL. Also, the
migrations on disk match the models."""

from __future__ import annotations

from tests.live import LiveServer
from tests.messages.support import history, in_channel, in_conversation, send, uid


async def write_everything(
    live: LiveServer, org: str, channel: str, customer: str, conversation: str
) -> dict[str, list[str]]:
    """Messages, an edit, a delete, a reaction, a read and a private flag: all acked."""
    target = {"conversationId": conversation, "customerId": customer}
    alice = await in_channel(live, org, channel, "alice")
    ids = [
        (await send(alice, {"channelId": channel}, f"c{i}", optimisticId=f"o{i}"))["id"]
        for i in range(5)
    ]
    assert (
        await alice.call(
            "message:update", {"channelId": channel, "messageId": ids[0], "content": "c0 edited"}
        )
    )["ok"]
    assert (await alice.call("message:delete", {"channelId": channel, "messageId": ids[1]}))["ok"]
    assert (
        await alice.call(
            "message:react", {"channelId": channel, "messageId": ids[2], "emoji": "👍"}
        )
    )["ok"]
    assert (await alice.call("message:read", {"channelId": channel, "messageId": ids[4]}))["ok"]
    assert (
        await alice.call(
            "channel:update", {"channelId": channel, "updates": {"topic": "kept", "private": True}}
        )
    )["ok"]
    agent = await in_conversation(live, org, customer, conversation, "agent")
    conv = [(await send(agent, target, f"v{i}"))["id"] for i in range(3)]
    # The server dies without warning: what was acked must be on disk already.
    await live.close_clients()
    return {"channel": ids, "conversation": conv}


async def check_everything(
    live: LiveServer,
    org: str,
    channel: str,
    customer: str,
    conversation: str,
    ids: dict[str, list[str]],
) -> None:
    """Everything written is there; adds one channel message to `ids["later"]`."""
    later = ids.setdefault("later", [])
    page = await history(live, org, channel)
    assert [m["id"] for m in page["messages"]] == [
        i for k, i in enumerate(ids["channel"]) if k != 1
    ] + later
    assert [m["content"] for m in page["messages"]][:4] == ["c0 edited", "c2", "c3", "c4"]
    assert page["messages"][1]["reactions"] == [{"emoji": "👍", "count": 1, "userIds": ["alice"]}]
    alice = await live.connect("alice", org)
    ack = await alice.call("channel:join", {"channelId": channel})
    assert ack["channel"]["topic"] == "kept" and ack["channel"]["private"] is True
    assert ack["lastReadMessageId"] == ids["channel"][4]
    outsider = await live.connect("outsider", org)
    assert await outsider.call("channel:join", {"channelId": channel}) == {
        "ok": False,
        "error": {
            "code": "FORBIDDEN",
            "message": f"channel {channel} is private; ask a member or an admin to add you",
        },
    }
    # Idempotency survives too.
    repeat = await alice.call(
        "message:send", {"channelId": channel, "content": "again", "optimisticId": "o3"}
    )
    assert repeat["id"] == ids["channel"][3] and repeat["duplicate"] is True
    # The customer still belongs to the organization; the conversation recovers.
    agent = await live.connect("agent", org, customers=[customer])
    await agent.call(
        "conversation:rejoin", {"conversationId": conversation, "customerId": customer}
    )
    missed = (await agent.next("conversation:rejoined"))["missed_messages"]
    assert [m["id"] for m in missed] == ids["conversation"]
    intruder = await live.connect("intruder", uid("org"), customers=[customer])
    assert (
        await intruder.call(
            "conversation:join", {"conversationId": conversation, "customerId": customer}
        )
    )["error"]["code"] == "FORBIDDEN"
    # New messages continue the order.
    await alice.next("channel:history")
    newest = await alice.call("message:send", {"channelId": channel, "content": "after"})
    later.append(newest["id"])
    page = await history(live, org, channel)
    assert [m["id"] for m in page["messages"]][-len(later) :] == later
    assert page["total"] == 4 + len(later)
    await live.close_clients()


async def test_sqlite_file_survives_a_kill_and_a_restart(start_server):
    live = start_server()
    org, channel, customer, conversation = uid("org"), uid("ch"), uid("cust"), uid("conv")
    ids = await write_everything(live, org, channel, customer, conversation)
    live.proc.kill()
    live.proc.wait(5)
    live.start()
    assert (live.workdir / "lvng.sqlite3").exists()
    await check_everything(live, org, channel, customer, conversation, ids)
    live.restart()  # and an orderly stop
    await check_everything(live, org, channel, customer, conversation, ids)


async def test_postgres_survives_a_kill_and_a_restart(start_server, scratch_postgres):
    live = start_server(env={"LVNG_DATABASE_URL": scratch_postgres.url})
    try:
        org, channel, customer, conversation = uid("org"), uid("ch"), uid("cust"), uid("conv")
        ids = await write_everything(live, org, channel, customer, conversation)
        live.proc.kill()
        live.proc.wait(5)
        live.start()
        await check_everything(live, org, channel, customer, conversation, ids)
        live.restart()
        await check_everything(live, org, channel, customer, conversation, ids)
    finally:
        live.stop()  # before the database is dropped


async def test_migrations_match_the_models():
    """`tortoise makemigrations` would write nothing: the models are all migrated."""
    from tortoise.context import TortoiseContext
    from tortoise.migrations.autodetector import MigrationAutodetector

    from core.database import tortoise_config

    config = tortoise_config("sqlite://:memory:", {"messages": ["plugins.messages.models"]})
    assert config["apps"]["messages"]["migrations"] == "plugins.messages.migrations"
    async with TortoiseContext() as ctx:
        await ctx.init(config=config)
        writers = await MigrationAutodetector(ctx.apps, config["apps"]).changes()
    assert writers == [], [w.name for w in writers]

"""message:send under group commit (core/commits.py), through a running server, on SQLite
and PostgreSQL: a send the database refuses fails alone with a clear error while the
sends around it are stored and heard; a room's order holds on two nodes; a repeated
optimisticId racing itself is stored once. (tests/test_group_commit.py pins the batching
itself deterministically; tests/messages/test_commit.py that message:new follows COMMIT.)
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.live import LiveServer
from tests.messages.support import REFUSED_WRITE, history, in_channel, uid
from tests.services import ScratchDatabase

SQLITE_POISON = """
CREATE TRIGGER lvng_test_poison BEFORE INSERT ON messages_message
WHEN NEW.content = 'poison' BEGIN SELECT RAISE(ABORT, 'the test refuses this row'); END;
"""
POSTGRES_POISON = """
CREATE FUNCTION lvng_test_poison() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.content = 'poison' THEN RAISE EXCEPTION 'the test refuses this row'; END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER lvng_test_poison BEFORE INSERT ON messages_message
  FOR EACH ROW EXECUTE FUNCTION lvng_test_poison();
"""


@pytest.fixture(params=["sqlite", "postgres"])
async def poisoned(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[LiveServer]:
    """A server whose database refuses any message whose content is `poison`."""
    if request.param == "sqlite":
        live = LiveServer(tmp_path / "server").start()
        with sqlite3.connect(live.workdir / "lvng.sqlite3") as conn:
            conn.executescript(SQLITE_POISON)
        yield live
        await live.close_clients()  # stop() blocks this loop: clients left open would not
        live.stop()  # answer the server's closing handshake, and it waits 10 s for them
        return
    scratch = await (await ScratchDatabase().create()).migrate()
    live = LiveServer(tmp_path / "server", {"LVNG_DATABASE_URL": scratch.url}).start()
    try:
        conn = await asyncpg.connect(scratch.url)
        try:
            await conn.execute(POSTGRES_POISON)
        finally:
            await conn.close()
        yield live
    finally:
        await live.close_clients()
        live.stop()
        await scratch.drop()


async def test_a_refused_send_fails_alone_and_the_others_are_stored(poisoned: LiveServer):
    org = uid("org")
    channels = [uid("ch") for _ in range(6)]
    senders = [await in_channel(poisoned, org, ch, f"s{i}") for i, ch in enumerate(channels)]

    def content(i: int, n: int) -> str:
        return "poison" if (i, n) == (3, 2) else f"{i}.{n}"

    # Six rooms, five sends each, all at once: they share batches with the poison.
    calls = [
        sender.call("message:send", {"channelId": channels[i], "content": content(i, n)})
        for n in range(5)
        for i, sender in enumerate(senders)
    ]
    acks = await asyncio.gather(*calls)
    refused = [a for a in acks if not a["ok"]]
    assert refused == [REFUSED_WRITE]
    for i, (sender, channel) in enumerate(zip(senders, channels, strict=True)):
        wanted = [content(i, n) for n in range(5) if content(i, n) != "poison"]
        stored = [m["content"] for m in (await history(poisoned, org, channel))["messages"]]
        assert stored == wanted
        heard = [(await sender.next("message:new"))["content"] for _ in wanted]
        assert heard == wanted
        await sender.nothing("message:new")  # nothing for the refused one
    # The server goes on serving that room.
    again = await senders[3].call("message:send", {"channelId": channels[3], "content": "3.5"})
    assert again["ok"] is True


async def test_a_rooms_order_holds_on_two_nodes_under_group_commit(cluster):
    nodes = cluster()
    a, b = nodes.start_node(), nodes.start_node()
    org = uid("org")
    rooms = [uid("ch") for _ in range(3)]

    async def member(node: LiveServer, sub: str) -> Any:
        client = await node.connect(sub, org)
        for room in rooms:
            assert (await client.call("channel:join", {"channelId": room}))["ok"] is True
        return client

    alice, bob = await member(a, "alice"), await member(b, "bob")
    carol, dave = await member(a, "carol"), await member(b, "dave")
    for client in (alice, bob, carol, dave):
        client.unread("message:new")  # start from here

    async def burst(client: Any, name: str) -> None:
        for n in range(8):
            for room in rooms:
                await client.emit("message:send", {"channelId": room, "content": f"{name} {n}"})

    await asyncio.gather(burst(alice, "alice"), burst(bob, "bob"))
    total = 2 * 8 * len(rooms)
    for listener in (carol, dave, alice, bob):
        heard = [await listener.next("message:new", timeout=15) for _ in range(total)]
        for room in rooms:
            stored = (await history(a, org, room, limit=100))["messages"]
            in_room = [m["id"] for m in heard if m["channelId"] == room]
            assert in_room == [m["id"] for m in stored]  # commit order, on either node
            for name in ("alice", "bob"):
                mine = [m["content"] for m in stored if m["content"].startswith(name)]
                assert mine == [f"{name} {n}" for n in range(8)]


async def test_a_repeated_optimistic_id_racing_itself_is_stored_once(server):
    org, channel = uid("org"), uid("ch")
    phone = await in_channel(server, org, channel, "ann")
    laptop = await in_channel(server, org, channel, "ann")
    target = {"channelId": channel}
    calls = [
        client.call("message:send", {**target, "content": f"try {i}", "optimisticId": "opt-1"})
        for i, client in enumerate([phone, laptop, phone, laptop])
    ] + [
        phone.call("message:send", {**target, "content": f"other {i}", "optimisticId": f"o{i}"})
        for i in range(4)
    ]
    acks = await asyncio.gather(*calls)
    assert all(ack["ok"] for ack in acks), acks
    repeated = acks[:4]
    assert len({ack["id"] for ack in repeated}) == 1
    assert sorted(ack["duplicate"] for ack in repeated) == [False, True, True, True]
    stored = [m for m in (await history(server, org, channel))["messages"]]
    assert [m["optimisticId"] for m in stored].count("opt-1") == 1
    assert sorted(m["optimisticId"] for m in stored) == ["o0", "o1", "o2", "o3", "opt-1"]

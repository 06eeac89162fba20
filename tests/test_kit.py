"""The realtime kit, unit by unit: tasks and keyed timers, cluster state (in-process and
Redis, one contract), room turns, and the after-ack invariant against python-socketio."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid

import pytest

from core.cluster.local import LocalCluster
from core.cluster.redis_cluster import RedisCluster
from core.tasks import Tasks, Timers
from core.turns import AfterAck, RoomTurns
from tests.live import PROBE_PLUGIN, SECRET, make_token
from tests.services import require_redis

# --- tasks and timers ---------------------------------------------------------------------


async def test_a_failing_task_is_logged_and_cancel_all_ends_the_rest(caplog):
    tasks = Tasks()

    async def fail() -> None:
        raise RuntimeError("boom")

    forever = tasks.spawn(asyncio.Event().wait(), name="forever")
    with caplog.at_level(logging.ERROR, logger="lvng.tasks"):
        failed = tasks.spawn(fail(), name="failing")
        await asyncio.gather(failed, return_exceptions=True)
        await asyncio.sleep(0)
    assert [r.getMessage() for r in caplog.records] == ["background task failing failed"]
    assert len(tasks) == 1
    await tasks.cancel_all()
    assert forever.cancelled() and len(tasks) == 0
    late = tasks.spawn(asyncio.Event().wait())  # after shutdown nothing new runs
    await asyncio.gather(late, return_exceptions=True)
    assert late.cancelled()


async def test_keyed_timers_replace_and_cancel():
    timers = Timers(Tasks())
    fired: list[str] = []
    done = asyncio.Event()

    async def fire(what: str) -> None:
        fired.append(what)
        done.set()

    timers.schedule("k", 10, lambda: fire("old"))
    timers.schedule("k", 0.01, lambda: fire("new"))  # replaces the 10 s one
    timers.schedule("gone", 0.01, lambda: fire("cancelled"))
    assert timers.cancel("gone") is True and timers.cancel("gone") is False
    await done.wait()
    await asyncio.sleep(0.05)
    assert fired == ["new"] and not timers.pending("k")


# --- cluster state ------------------------------------------------------------------------


@pytest.fixture(params=["local", "redis"])
async def two_nodes(request):
    """Two views of one cluster: the same object twice in-process, two Redis nodes."""
    if request.param == "local":
        one = LocalCluster()
        yield one, one
        return
    url = require_redis()
    prefix = f"kit-{uuid.uuid4().hex[:8]}"
    first = RedisCluster(url, prefix=prefix)
    second = RedisCluster(url, prefix=prefix)
    yield first, second
    await first.redis.aclose()
    await second.redis.aclose()


async def test_first_and_last_socket_of_a_user_on_any_node(two_nodes):
    a, b = two_nodes
    assert await a.enter("acme/conv", "alice", "s1", "Alice") is True
    assert await b.enter("acme/conv", "alice", "s2", "Alice") is False
    assert await a.enter("acme/conv", "bob", "s3", "Bob") is True
    assert await b.sockets("acme/conv", "alice") == 2
    assert await b.users("acme/conv") == {"alice": "Alice", "bob": "Bob"}
    assert await a.exit("acme/conv", "alice", "s1") is False
    assert await a.exit("acme/conv", "alice", "s1") is False  # not there any more
    assert await b.exit("acme/conv", "alice", "s2") is True
    assert await a.users("acme/conv") == {"bob": "Bob"}
    assert await a.exit("acme/conv", "nobody", "s9") is False


async def test_key_values_with_compare_and_delete_and_lists(two_nodes):
    a, b = two_nodes
    assert await a.put("k", "one") is True
    assert await b.put("k", "two", only_if_absent=True) is False
    assert await b.get("k") == "one"
    assert await b.delete("k", only_if="two") is False
    assert await b.delete("k", only_if="one") is True
    assert await a.get("k") is None and await a.delete("k") is False
    assert [await a.push("l", "x", ttl=5), await b.push("l", "y", ttl=5)] == [1, 2]
    assert await a.take("l") == ["x", "y"] and await b.take("l") == []
    assert await a.put("short", "v", ttl=0.05) is True
    await asyncio.sleep(0.1)
    assert await b.get("short") is None


async def test_a_dead_nodes_sockets_are_removed_and_announced():
    url = require_redis()
    prefix = f"kit-{uuid.uuid4().hex[:8]}"
    lost: list[tuple[str, str, str]] = []

    async def on_lost(room: str, user: str, name: str) -> None:
        lost.append((room, user, name))

    survivor, dead = RedisCluster(url, prefix=prefix), RedisCluster(url, prefix=prefix)
    await survivor.start(on_member_lost=on_lost)
    await dead.start()
    try:
        await survivor.enter("acme/conv", "carol", "c1", "Carol")
        await dead.enter("acme/conv", "alice", "a1", "Alice")
        await dead.enter("acme/conv", "carol", "c2", "Carol")
        held = await dead.lock("acme/conv")  # it dies holding the room's turn
        dead._heartbeat.cancel()  # it crashed: no goodbye, and its heartbeat expires
        await dead.redis.delete(dead._alive(dead.node_id))
        assert held is not None
        assert await survivor.reap() == [dead.node_id]
        # Its turn is free at once, not after the lock's lease.
        token = await asyncio.wait_for(survivor.lock("acme/conv"), 1)
        await survivor.unlock("acme/conv", token)
        assert lost == [("acme/conv", "alice", "Alice")]  # carol is still on the survivor
        assert await survivor.users("acme/conv") == {"carol": "Carol"}
        assert await survivor.reap() == []
    finally:
        await dead.redis.aclose()
        await survivor.stop()


# --- room turns ---------------------------------------------------------------------------


class Recorder:
    """A stand-in platform whose emits are recorded."""

    def __init__(self) -> None:
        self.emitted: list[str] = []

    async def emit(self, event, data, *, room=None, to=None, skip_sid=None) -> None:
        self.emitted.append(event)


async def test_a_turn_is_held_until_its_after_ack_work_has_run():
    platform = Recorder()
    turns = RoomTurns(LocalCluster())
    first, second = AfterAck(platform), AfterAck(platform)
    async with turns.turn("room", first):
        first.emit("one", {})
    async with turns.turn("room", first):  # the same handler again: no wait for itself
        first.emit("two", {})
    waiting = asyncio.ensure_future(turns.turn("room", second).__aenter__())
    await asyncio.sleep(0.01)
    assert not waiting.done()  # another handler waits for the queued work
    await first.run()
    turn = await waiting
    assert platform.emitted == ["one", "two"]
    await turn.__aexit__(None, None, None)  # nothing queued: released at once
    async with turns.turn("room", AfterAck(platform)):
        pass


async def test_a_failing_turn_is_released_at_once():
    turns = RoomTurns(LocalCluster())
    after = AfterAck(Recorder())
    with pytest.raises(RuntimeError):
        async with turns.turn("room", after):
            after.emit("never", {})
            raise RuntimeError("write failed")
    async with turns.turn("room", AfterAck(Recorder())):
        pass


async def test_a_turn_statement_is_its_own_transaction_on_sqlite_never_anothers(tmp_path):
    """`turn.statement()` on SQLite: no BEGIN/COMMIT of its own, committed when it returns,
    and never run inside another turn's open transaction (which then rolls back)."""
    import sqlite3

    from tortoise import connections
    from tortoise.context import TortoiseContext
    from tortoise.transactions import in_transaction

    path = tmp_path / "kit.sqlite3"
    # A context of its own, closed at the end, and the models under their own app label:
    # a global `Tortoise.init` with another label left the messages models relabelled for
    # every later test of the process (test_migrations_match_the_models saw a migration).
    async with TortoiseContext() as ctx:
        await ctx.init(
            config={
                "connections": {"default": f"sqlite://{path}"},
                "apps": {
                    "messages": {
                        "models": ["plugins.messages.models"],
                        "default_connection": "default",
                    }
                },
            }
        )
        db = connections.get("default")
        await db.execute_script("CREATE TABLE t (x INTEGER)")
        opened, roll_back = asyncio.Event(), asyncio.Event()

        async def other_room() -> None:
            with pytest.raises(RuntimeError):
                async with in_transaction() as connection:
                    await connection.execute_insert("INSERT INTO t VALUES (0)", [])
                    opened.set()
                    await roll_back.wait()
                    raise RuntimeError("this transaction rolls back")

        other = asyncio.ensure_future(other_room())
        await opened.wait()
        turns = RoomTurns(LocalCluster())
        async with turns.turn("room", AfterAck(Recorder())) as turn:
            async with turn.statement() as connection:
                assert connection is db  # no transaction of its own
                writing = asyncio.ensure_future(
                    connection.execute_insert("INSERT INTO t VALUES (1)", [])
                )
                await asyncio.sleep(0.05)
                assert not writing.done()  # waits for the other transaction to end
                roll_back.set()
                await writing
        await other
        rows = sqlite3.connect(path).execute("SELECT x FROM t").fetchall()
        assert rows == [(1,)]  # committed, and not rolled back with the other one


async def test_redis_turns_exclude_each_other_across_nodes():
    url = require_redis()
    prefix = f"kit-{uuid.uuid4().hex[:8]}"
    a, b = RedisCluster(url, prefix=prefix), RedisCluster(url, prefix=prefix)
    try:
        token = await a.lock("room")
        taking = asyncio.ensure_future(b.lock("room"))
        await asyncio.sleep(0.05)
        assert not taking.done()
        await a.unlock("room", token)
        await b.unlock("room", await taking)
    finally:
        await a.redis.aclose()
        await b.redis.aclose()


# --- the after-ack invariant --------------------------------------------------------------


async def test_after_ack_work_leaves_after_the_ack_through_python_socketio():
    """Drive the real python-socketio server of a real app: the ACK packet is queued on
    the socket before any emit the handler queued on its after-ack work."""
    from core.app import create_app
    from core.config import load_settings

    settings = load_settings(
        env={
            "LVNG_JWT_SECRET": SECRET,
            "LVNG_PLUGINS": "probe",
            "LVNG_PLUGIN_MODULES": PROBE_PLUGIN,
            "LVNG_ENTRY_POINTS": "false",
            # The packets as they were before recovery: no offset argument (section 12).
            "LVNG_RECOVERY_WINDOW": "0",
        }
    )
    app = create_app(settings, f"kit_{uuid.uuid4().hex[:6]}")
    sio = app.ctx.platform.sio
    sent: list[str] = []
    got_all = asyncio.Event()

    def record(data: str) -> None:
        sent.append(data)
        if sum('"probe:after"' in p for p in sent) == 3:
            got_all.set()

    async def send(eio_sid: str, data: str) -> None:  # acks and replies
        record(data)

    async def send_packet(eio_sid: str, packet) -> None:  # pre-encoded emits
        record(packet.data)

    def deliver(eio_sid: str, out) -> None:  # core.engine: acks, replies and broadcasts
        record(out.text)

    # Every way a packet is handed to the socket (python-socketio's own and core.engine's
    # delivery), in call order.
    sio.eio.send, sio.eio.send_packet = send, send_packet
    sio.delivery.deliver = deliver
    await sio._handle_eio_connect("e1", {})
    await sio._handle_eio_message("e1", "0" + json.dumps({"token": make_token("u1")}))
    await sio._handle_eio_message("e1", '27["probe:after"]')
    await asyncio.wait_for(got_all.wait(), 5)
    mine = [p for p in sent if p.startswith(("37", '2["probe:after"'))]
    assert mine == [
        '37[{"ok":true,"queued":3}]',
        '2["probe:after",{"n":0}]',
        '2["probe:after",{"n":1}]',
        '2["probe:after",{"n":2}]',
    ]
    await app.ctx.platform.tasks.cancel_all()

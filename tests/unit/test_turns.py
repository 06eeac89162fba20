"""`core.turns`: room turns and after-ack work, in-process (a `LocalCluster`, SQLite), and
the after-ack invariant against python-socketio (a real app's server driven by hand)."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any

import pytest

from core.cluster.local import LocalCluster
from core.rooms import Room
from core.turns import AfterAck, RoomTurns
from tests.live import PROBE_PLUGIN, SECRET, make_token

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


# --- what the mutation run asked for (docs/testing.md) ------------------------------------


class FullRecorder:
    """A stand-in platform recording every emit with its addressing."""

    def __init__(self) -> None:
        self.emitted: list[tuple[str, Any, Any, Any, Any]] = []

    async def emit(self, event, data, *, room=None, to=None, skip_sid=None) -> None:
        self.emitted.append((event, data, room, to, skip_sid))


class CrossNodeCluster(LocalCluster):
    """A `LocalCluster` whose locks are recorded as if they crossed nodes."""

    cross_node = True

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str | None, str | None]] = []

    async def lock(self, key: str) -> str | None:
        self.calls.append(("lock", key, None))
        return f"token-{key}"

    async def unlock(self, key: str, token: str) -> None:
        self.calls.append(("unlock", key, token))


async def test_after_ack_emits_keep_their_room_recipient_and_skipped_socket():
    platform = FullRecorder()
    after = AfterAck(platform)
    room = Room.from_key("acme/channel:general")
    after.emit("one", {"n": 1}, room=room, skip_sid="s1")
    after.emit("two", {"n": 2}, to="s2")
    assert len(after) == 2 and platform.emitted == []  # queued, not sent
    await after.run()
    assert platform.emitted == [
        ("one", {"n": 1}, room, None, "s1"),
        ("two", {"n": 2}, None, "s2", None),
    ]
    assert len(after) == 0


async def test_a_failing_after_ack_item_is_logged_and_the_rest_still_run(caplog):
    platform = FullRecorder()
    after = AfterAck(platform)

    async def bug() -> None:
        raise RuntimeError("a bug")

    async def outage() -> None:
        raise ConnectionRefusedError("no database")

    after.then(bug)
    after.emit("still", {})
    after.then(outage)
    after.emit("and still", {})
    with caplog.at_level(logging.WARNING, logger="lvng.turns"):
        await after.run()
    assert [e[0] for e in platform.emitted] == ["still", "and still"]
    logged = [(r.levelno, r.getMessage(), r.exc_info is not None) for r in caplog.records]
    assert logged == [
        (logging.ERROR, "after-ack work failed", True),  # a bug: with its traceback
        (
            logging.WARNING,
            "after-ack work failed, a store is unavailable: ConnectionRefusedError('no database')",
            False,  # an outage: one line
        ),
    ]


async def test_work_queued_while_running_runs_too():
    platform = FullRecorder()
    after = AfterAck(platform)

    async def more() -> None:
        after.emit("queued while running", {})

    after.then(more)
    await after.run()
    assert [e[0] for e in platform.emitted] == ["queued while running"]


async def test_a_nested_turn_is_released_once_with_the_cross_node_token():
    cluster = CrossNodeCluster()
    turns = RoomTurns(cluster)
    mine, other = AfterAck(FullRecorder()), AfterAck(FullRecorder())
    outer = turns.turn("acme/r", mine)
    await outer.__aenter__()
    assert outer.key == "acme/r"
    inner = turns.turn("acme/r", mine)
    await inner.__aenter__()  # the same handler: no wait, no second cross-node lock
    await inner.__aexit__(None, None, None)
    assert cluster.calls == [("lock", "acme/r", None)]
    waiting = asyncio.ensure_future(turns.turn("acme/r", other).__aenter__())
    await asyncio.sleep(0.01)
    assert not waiting.done()  # the outer turn still holds the room
    await outer.__aexit__(None, None, None)
    held = await waiting
    assert cluster.calls == [
        ("lock", "acme/r", None),
        ("unlock", "acme/r", "token-acme/r"),
        ("lock", "acme/r", None),
    ]
    await held.__aexit__(None, None, None)
    assert cluster.calls[-1] == ("unlock", "acme/r", "token-acme/r")


async def test_three_deep_turns_release_at_the_outermost():
    cluster = CrossNodeCluster()
    turns = RoomTurns(cluster)
    mine = AfterAck(FullRecorder())
    entered = [turns.turn("k", mine) for _ in range(3)]
    for turn in entered:
        await turn.__aenter__()
    for turn in reversed(entered[1:]):
        await turn.__aexit__(None, None, None)
        assert cluster.calls == [("lock", "k", None)]
    await entered[0].__aexit__(None, None, None)
    assert cluster.calls == [("lock", "k", None), ("unlock", "k", "token-k")]


async def test_a_failing_cross_node_lock_leaves_the_room_free():
    class Refusing(CrossNodeCluster):
        async def lock(self, key: str) -> str | None:
            raise RuntimeError("busy")

    turns = RoomTurns(Refusing())
    with pytest.raises(RuntimeError):
        async with turns.turn("k", AfterAck(FullRecorder())):
            pass
    turns.cluster = LocalCluster()
    async with turns.turn("k", AfterAck(FullRecorder())):
        pass  # the in-process lock was given back


async def test_turns_store_through_the_group_commit_with_their_key():
    class Commits:
        def __init__(self) -> None:
            self.inserted: list[tuple[tuple[Any, ...], Any, str]] = []

        async def insert(self, *rows: Any, then: Any = None, key: str) -> None:
            self.inserted.append((rows, then, key))

    commits = Commits()
    turns = RoomTurns(LocalCluster(), commits)  # type: ignore[arg-type]
    assert turns.commits is commits

    async def then(connection: Any) -> None:
        return None

    async with turns.turn("acme/r", AfterAck(FullRecorder())) as turn:
        await turn.insert("row1", "row2", then=then)  # type: ignore[arg-type]
        await turn.insert("row3")  # type: ignore[arg-type]
    assert commits.inserted == [(("row1", "row2"), then, "acme/r"), (("row3",), None, "acme/r")]


def test_turns_without_a_group_commit_make_their_own_on_the_same_cluster():
    from core.commits import GroupCommit
    from core.tasks import Tasks

    cluster = LocalCluster()
    turns = RoomTurns(cluster)
    assert isinstance(turns.commits, GroupCommit)
    assert turns.commits.cluster is cluster and isinstance(turns.commits.tasks, Tasks)

"""`core.turns`: room turns and after-ack work, in-process (a `LocalCluster`, SQLite), and
the after-ack invariant against python-socketio (a real app's server driven by hand)."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from core.cluster.local import LocalCluster
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

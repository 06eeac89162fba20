"""core/transport/ reaches into python-engineio's and Sanic's internals: these tests fail
when what it relies on changes (an upgrade must fail here, not slow or break delivery),
and pin the delivery rules: order per socket, the shared frame, the slow-consumer bound."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from importlib.metadata import version
from types import SimpleNamespace
from typing import Any

import pytest

from core import transport
from core.transport import engine, websocket
from core.transport.delivery import COALESCE_SOCKETS, SLOW_CONSUMER_REASON, Delivery
from core.transport.frames import Outgoing, text_frame
from core.transport.slim import slim


def test_the_pinned_versions_are_installed():
    for package, pinned in transport.PINNED.items():
        assert version(package) == pinned, (
            f"{package} {version(package)} is installed but core/transport/ was checked "
            f"against {pinned}: re-check its internals, then update PINNED and pyproject"
        )


def test_engineio_socket_internals():
    from engineio.async_server import AsyncServer
    from engineio.async_socket import AsyncSocket

    server = AsyncServer(async_mode="sanic")
    socket = AsyncSocket(server, "s1")
    for name in ("queue", "upgraded", "upgrading", "closing", "closed", "sid"):
        assert hasattr(socket, name), name
    assert isinstance(socket.queue, asyncio.Queue)
    # The websocket handler is a bound method of the socket, given the driver's wrapper.
    source = inspect.getsource(AsyncSocket._upgrade_websocket)
    assert "self.server._async['websocket'](" in source
    assert "self._websocket_handler" in source
    handler = inspect.getsource(AsyncSocket._websocket_handler)
    assert "await self.poll()" in handler and "await ws.send(pkt.encode())" in handler
    assert "async def close(self, wait=True, abort=False, reason=None)" in inspect.getsource(
        AsyncSocket
    )
    assert "websocket" in server._async
    # core/transport/eio_input.receive_post replaces the POST handler: what it replaces, and how the
    # server answers the errors it raises (400, the session ended).
    post = inspect.getsource(AsyncSocket.handle_post_request)
    assert "payload.Payload(encoded_payload=body)" in post and "await self.receive(pkt)" in post
    request = inspect.getsource(AsyncServer.handle_request)
    assert "await socket.handle_post_request(environ)" in request
    assert "except exceptions.EngineIOError:" in request


def test_sanic_websocket_internals():
    from engineio.async_drivers import sanic as driver
    from sanic.server.protocols.websocket_protocol import WebSocketProtocol
    from sanic.server.websockets.impl import WebsocketImplProtocol

    assert "self._sock = await protocol.websocket_handshake(request)" in inspect.getsource(
        driver.WebSocket.__call__
    )
    assert list(inspect.signature(driver.WebSocket.__init__).parameters) == [
        "self",
        "handler",
        "server",
    ]
    impl = WebsocketImplProtocol(ws_proto=None)
    assert isinstance(impl.conn_mutex, asyncio.Lock)
    assert hasattr(impl, "io_proto") and hasattr(impl, "ws_proto")
    send = inspect.getsource(WebsocketImplProtocol.send)
    assert "async with self.conn_mutex" in send
    # _websocket_reader: the assembler read in the handler's task, ended as Sanic's recv
    # is, by recv_cancel's cancellation on a close frame or EOF.
    from sanic.server.websockets.frame import WebsocketFrameAssembler

    assert impl.recv_cancel is None and isinstance(impl.assembler, WebsocketFrameAssembler)
    assert "self.recv_cancel.cancel()" in inspect.getsource(WebsocketImplProtocol.process_events)
    assert "self.recv_cancel.cancel()" in inspect.getsource(
        WebsocketImplProtocol.async_eof_received
    )
    assert list(inspect.signature(WebsocketFrameAssembler.get).parameters) == ["self", "timeout"]
    # No websocket extension is negotiated (no permessage-deflate): a shared frame fits.
    handshake = inspect.getsource(WebSocketProtocol.websocket_handshake)
    assert "extensions" not in handshake.split("ServerProtocol(")[1].split(")")[0]


def test_socketio_manager_extension_points():
    import socketio
    from socketio.async_pubsub_manager import AsyncPubSubManager

    params = list(inspect.signature(socketio.AsyncManager.emit).parameters)
    assert params[:8] == [
        "self",
        "event",
        "data",
        "namespace",
        "room",
        "skip_sid",
        "callback",
        "to",
    ]
    assert "await super().emit(message[" in inspect.getsource(AsyncPubSubManager._handle_emit)
    from socketio.base_manager import BaseManager

    assert "def get_participants(self, namespace, room)" in inspect.getsource(BaseManager)
    assert "async def _send_packet(self, eio_sid, pkt)" in inspect.getsource(socketio.AsyncServer)
    # FastManager.basic_disconnect is BaseManager's less its scan of every room: the rest
    # (callbacks, pending connects and disconnects) must be all there is.
    source = inspect.getsource(BaseManager.basic_disconnect)
    assert source.count("self.") == 15, source
    for piece in ("self.callbacks", "self.pending_connect", "self.pending_disconnect"):
        assert piece in source
    assert "self.rooms[namespace].copy().items()" in source


async def test_a_disconnect_leaves_only_the_sockets_own_rooms():
    """FastManager keeps each socket's rooms: a disconnect leaves those (python-socketio
    scans every room), and the rooms and the index agree afterwards."""
    from core.transport.delivery import FastManager

    manager = FastManager()
    ids = iter(["s0", "s1", "s2"])
    eio = SimpleNamespace(generate_id=lambda: next(ids))
    manager.set_server(SimpleNamespace(eio=eio, packet_class=SimpleNamespace(json=None)))
    for n in range(3):
        sid = await manager.connect(f"eio{n}", "/")
        manager.basic_enter_room(sid, "/", "org")
        manager.basic_enter_room(sid, "/", f"user:{n}")
    first, second, third = (manager.sid_from_eio_sid(f"eio{n}", "/") for n in range(3))
    assert sorted(manager.get_rooms(first, "/")) == sorted(["org", "user:0", first])
    manager.basic_disconnect(first, "/")
    assert "user:0" not in manager.rooms["/"] and first not in manager.rooms["/"]
    assert set(manager.rooms["/"]["org"]) == {second, third}
    assert ("/", first) not in manager.rooms_of
    manager.basic_leave_room(second, "/", "org")
    assert sorted(manager.get_rooms(second, "/")) == sorted(["user:1", second])
    manager.basic_disconnect(second, "/")
    manager.basic_disconnect(third, "/")
    assert manager.rooms_of == {} and manager.rooms.get("/", {}) == {}


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 70_000])
def test_the_shared_frame_is_a_websocket_text_frame(size):
    from websockets.frames import Frame, Opcode

    payload = b"4" + b"x" * size
    assert text_frame(payload) == Frame(Opcode.TEXT, payload).serialize(mask=False, extensions=[])


# --- the delivery rules, on stand-ins for Engine.IO's socket and Sanic's websocket --------


class FakeTransport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.aborted = False
        self.eof = False
        self.unsent = 0

    def write(self, data: bytes) -> None:
        if self.eof:  # as uvloop's streams say it
            raise RuntimeError("Cannot call write() after write_eof()")
        self.written.append(data)

    def get_write_buffer_size(self) -> int:
        return self.unsent

    def is_closing(self) -> bool:
        return self.aborted

    def abort(self) -> None:
        self.aborted = True


class FakeWs:
    def __init__(self) -> None:
        self.conn_mutex = asyncio.Lock()
        self.io_proto = type("IO", (), {})()
        self.io_proto.transport = FakeTransport()
        self.ws_proto = type(
            "WS", (), {"extensions": [], "state": type("State", (), {"name": "OPEN"})()}
        )()


class FakeSocket:
    def __init__(self, sid: str, ws: FakeWs | None) -> None:
        self.sid = sid
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.upgraded = ws is not None
        self.upgrading = False
        self.closing = self.closed = False
        self.lvng_ws = ws


def make_delivery(**kwargs: Any) -> tuple[Delivery, dict[str, FakeSocket]]:
    eio = type("Eio", (), {})()
    eio.sockets = {}
    eio._async = {"websocket": None}
    return Delivery(eio, **kwargs), eio.sockets


async def test_an_idle_websocket_gets_the_shared_frame_and_order_is_kept():
    delivery, sockets = make_delivery()
    ws = FakeWs()
    sockets["a"] = socket = FakeSocket("a", ws)
    delivery.deliver("a", Outgoing('2["x",1]'))
    delivery.deliver("a", Outgoing('2["x",2]'))
    assert ws.io_proto.transport.written == []  # written at the end of the iteration,
    await asyncio.sleep(0)
    assert ws.io_proto.transport.written == [  # both in one write
        text_frame(b'42["x",1]') + text_frame(b'42["x",2]')
    ]
    # Something queued (an ack, a ping): the next packet goes behind it, not around it,
    # while what was set aside before it is written first (before the writer runs).
    delivery.deliver("a", Outgoing('2["x",3]'))
    socket.queue.put_nowait("ping")
    delivery.deliver("a", Outgoing('2["x",4]'))
    assert [p if isinstance(p, str) else p.encode() for p in socket.queue._queue] == [
        "ping",
        '42["x",4]',
    ]
    await asyncio.sleep(0)
    assert ws.io_proto.transport.written[-1] == text_frame(b'42["x",3]')
    socket.queue.get_nowait()
    socket.queue.get_nowait()
    # The writer is sending (Sanic's mutex held): queue too.
    async with ws.conn_mutex:
        delivery.deliver("a", Outgoing('2["x",5]'))
    assert socket.queue.qsize() == 1
    socket.queue.get_nowait()
    # A socket with a websocket extension never takes a shared frame.
    ws.ws_proto.extensions = ["permessage-deflate"]
    delivery.deliver("a", Outgoing('2["x",6]'))
    assert socket.queue.get_nowait().encode() == '42["x",6]'


async def test_polling_and_upgrading_sockets_get_one_packet_object_on_their_queue():
    delivery, sockets = make_delivery()
    sockets["p"] = polling = FakeSocket("p", None)
    ws = FakeWs()
    sockets["u"] = upgrading = FakeSocket("u", ws)
    upgrading.upgrading = True
    out = Outgoing('2["x"]')
    delivery.deliver("p", out)
    delivery.deliver("u", out)
    delivery.deliver("gone", out)
    assert polling.queue.get_nowait() is upgrading.queue.get_nowait() is out.packet
    assert ws.io_proto.transport.written == []


async def test_a_slow_consumer_is_dropped_at_the_bound():
    dropped: list[int] = []
    delivery, sockets = make_delivery(
        buffer_limit=1000, queue_limit=3, on_slow_consumer=lambda: dropped.append(1)
    )
    ws = FakeWs()
    sockets["a"] = FakeSocket("a", ws)
    ws.io_proto.transport.unsent = 1001
    delivery.deliver("a", Outgoing('2["x"]'))
    await asyncio.sleep(0)
    assert ws.io_proto.transport.aborted and dropped == [1]
    # A polling client whose queue is full is closed, not grown.
    sockets["p"] = polling = FakeSocket("p", None)
    closed: list[Any] = []

    async def close(**kwargs: Any) -> None:
        closed.append(kwargs)

    polling.close = close
    for n in range(4):
        delivery.deliver("p", Outgoing(f'2["x",{n}]'))
    await asyncio.sleep(0)
    assert polling.queue.qsize() == 4  # three packets and the writer's end (None)
    assert closed == [{"wait": False, "abort": True, "reason": SLOW_CONSUMER_REASON}]
    assert dropped == [1, 1]


async def test_a_websocket_closing_under_a_flush_gets_nothing_and_raises_nothing():
    """The frames set aside in one loop pass meet a connection that began closing in the
    meantime: a close frame already sent, or the transport half-closed (write_eof)."""
    delivery, sockets = make_delivery()
    for name in ("closing", "half-closed", "open"):
        sockets[name] = FakeSocket(name, FakeWs())
        delivery.deliver(name, Outgoing('2["x",1]'))
    sockets["closing"].lvng_ws.ws_proto.state.name = "CLOSING"
    sockets["half-closed"].lvng_ws.io_proto.transport.eof = True
    await asyncio.sleep(0)  # the flush runs, and must not raise
    assert sockets["closing"].lvng_ws.io_proto.transport.written == []
    assert sockets["half-closed"].lvng_ws.io_proto.transport.written == []
    assert sockets["open"].lvng_ws.io_proto.transport.written == [text_frame(b'42["x",1]')]


async def test_after_a_fan_out_the_next_flush_waits_and_coalesces():
    """After a flush to COALESCE_SOCKETS sockets or more, the next one waits the flush
    window: what is emitted meanwhile goes out in one write per socket. A writer that
    wakes for a queued packet meanwhile writes its socket's pending frames first."""
    delivery, sockets = make_delivery(flush_window=0.2)
    names = [f"s{n}" for n in range(COALESCE_SOCKETS)]
    for name in names:
        sockets[name] = FakeSocket(name, FakeWs())
    transport = sockets["s0"].lvng_ws.io_proto.transport

    def fan_out(n: int) -> None:
        out = Outgoing(f'2["x",{n}]')
        for name in names:
            delivery.deliver(name, out)

    fan_out(1)
    await asyncio.sleep(0)  # nothing was flushed lately: written at once
    assert transport.written == [text_frame(b'42["x",1]')]
    loop = asyncio.get_running_loop()
    started = loop.time()
    fan_out(2)
    await asyncio.sleep(0)
    fan_out(3)
    assert transport.written == [text_frame(b'42["x",1]')]  # waiting for the window
    # A packet queued for s1 meanwhile: its writer writes what s1 has pending first.
    delivery.flush_socket(sockets["s1"])
    assert sockets["s1"].lvng_ws.io_proto.transport.written[-1] == text_frame(
        b'42["x",2]'
    ) + text_frame(b'42["x",3]')
    while len(transport.written) == 1:
        await asyncio.sleep(0.01)
    assert loop.time() - started >= 0.2 - 0.02
    assert transport.written[1] == text_frame(b'42["x",2]') + text_frame(b'42["x",3]')
    assert sockets["s1"].lvng_ws.io_proto.transport.written[1:] == [
        text_frame(b'42["x",2]') + text_frame(b'42["x",3]')
    ]  # not twice


async def test_a_window_of_zero_writes_at_once():
    delivery, sockets = make_delivery(flush_window=0)
    names = [f"s{n}" for n in range(COALESCE_SOCKETS)]
    for name in names:
        sockets[name] = FakeSocket(name, FakeWs())
    for n in (1, 2):
        out = Outgoing(f'2["x",{n}]')
        for name in names:
            delivery.deliver(name, out)
        await asyncio.sleep(0)
    assert sockets["s0"].lvng_ws.io_proto.transport.written == [
        text_frame(b'42["x",1]'),
        text_frame(b'42["x",2]'),
    ]


async def test_slim_events_and_queues_behave_as_asyncio_s():
    event = asyncio.Event()
    slim(event)
    assert type(event._waiters) is not type(asyncio.Event()._waiters)
    waiter = asyncio.ensure_future(event.wait())
    await asyncio.sleep(0)
    event.set()
    assert await asyncio.wait_for(waiter, 1) is True

    queue: asyncio.Queue[int] = asyncio.Queue(maxsize=1)
    queue.put_nowait(1)
    slim(queue)  # what it holds stays
    putter = asyncio.ensure_future(queue.put(2))  # waits: the queue is full
    await asyncio.sleep(0)
    assert not putter.done()
    assert await queue.get() == 1
    await asyncio.wait_for(putter, 1)
    getter = asyncio.ensure_future(queue.get())
    assert await asyncio.wait_for(getter, 1) == 2
    getter = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    queue.put_nowait(3)
    assert await asyncio.wait_for(getter, 1) == 3
    queue.task_done()
    queue.task_done()
    queue.task_done()
    await asyncio.wait_for(queue.join(), 1)


# --- LvngSocket: the websocket session's end, on python-engineio's own server -------------


class FakeEioWebSocket:
    """What python-engineio's sanic driver hands the websocket handler."""

    def __init__(self) -> None:
        self.incoming: asyncio.Queue[Any] = asyncio.Queue()
        self.sent: list[str] = []
        self.closed = False

    async def wait(self) -> Any:
        item = await self.incoming.get()
        if isinstance(item, BaseException):
            raise item
        return item

    async def send(self, message: str) -> None:
        self.sent.append(message)

    async def close(self) -> None:
        self.closed = True
        self.incoming.put_nowait(OSError())  # as the driver: no data once closed


def adopted_socket() -> tuple[Any, Any, list[str]]:
    from engineio.async_server import AsyncServer
    from engineio.async_socket import AsyncSocket

    server = AsyncServer(async_mode="sanic")
    reasons: list[str] = []

    async def disconnect(sid: str, reason: str) -> None:
        reasons.append(reason)

    server.on("disconnect", disconnect)
    socket = AsyncSocket(server, "s1")
    server.sockets["s1"] = socket
    engine.adopt(server, "s1")
    assert isinstance(socket, engine.LvngSocket)
    return server, socket, reasons


async def run_session(socket: Any) -> tuple[FakeEioWebSocket, asyncio.Task[None]]:
    ws = FakeEioWebSocket()
    socket.lvng_ws = ws  # as core.transport.websocket's recording driver does
    task = asyncio.ensure_future(socket._websocket_handler(ws))
    while not socket.upgraded:
        await asyncio.sleep(0)
    return ws, task


async def test_a_session_closed_by_engineio_ends_its_websocket():
    """A client that stops answering pings: Engine.IO's service task closes the session
    (with a CLOSE packet); the writer sends it, ends and closes the websocket, and the
    handler ends (no read timeout is needed for it)."""
    server, socket, reasons = adopted_socket()
    ws, task = await run_session(socket)
    await socket.close(wait=False, abort=False, reason=server.reason.PING_TIMEOUT)
    # (not wait_for: its timeout cancels the task, which would end it all the same)
    done, _ = await asyncio.wait({task}, timeout=2)
    assert done == {task}
    assert ws.sent == ["1"] and ws.closed
    assert reasons == [server.reason.PING_TIMEOUT]


async def test_a_lost_connection_closes_the_session_even_when_cancelled_again():
    """Sanic ends a read with CancelledError when a close frame comes, then cancels the
    handler's task when the TCP connection goes, which may come while the handler ends
    the session: the session is closed all the same."""
    server, socket, reasons = adopted_socket()
    ws, task = await run_session(socket)
    ws.incoming.put_nowait(asyncio.CancelledError())
    await asyncio.sleep(0)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, 2)
    while not reasons:
        await asyncio.sleep(0.01)
    assert reasons == [server.reason.TRANSPORT_CLOSE] and socket.closed and ws.closed


async def test_pings_share_one_timer_and_no_task():
    server, socket, _ = adopted_socket()
    other = engine.LvngSocket(server, "s2")
    server.ping_interval = 0.01
    tasks = len(asyncio.all_tasks())
    socket.schedule_ping()
    other.schedule_ping()
    assert len(asyncio.all_tasks()) == tasks
    assert sum(len(due) for due in server.lvng_pings._due.values()) == 2
    for each in (socket, other):  # at most a second late
        packet = await asyncio.wait_for(each.queue.get(), 2)
        assert packet.encode() == "2" and each.last_ping
    assert server.lvng_pings._due == {} and server.lvng_pings._handle is None


async def test_a_direct_session_has_no_writer_task_and_keeps_order():
    """An upgraded websocket session writes every packet, Engine.IO's own too, as a frame
    through Delivery, in the order sent; what was queued before the websocket handler
    ran (the OPEN packet) goes first; closing it closes the websocket after its CLOSE."""
    from engineio import packet as eio_packet

    server, socket, reasons = adopted_socket()
    delivery = Delivery(server)
    socket.queue.put_nowait(eio_packet.Packet(eio_packet.OPEN, {"sid": "s1"}))
    ws = FakeEioWebSocket()
    ws._sock = FakeWs()
    socket.lvng_ws = ws._sock  # as core.transport.websocket's recording driver does
    tasks = len(asyncio.all_tasks())
    handler = asyncio.ensure_future(socket._websocket_handler(ws))
    while not socket.upgraded:
        await asyncio.sleep(0)
    assert socket.lvng_direct and len(asyncio.all_tasks()) == tasks + 1  # the handler only
    delivery.deliver("s1", Outgoing('2["x",1]'))
    socket._ping_due()
    await socket.send(eio_packet.Packet(eio_packet.MESSAGE, data='2["x",2]'))
    await socket.close(wait=False, abort=False)
    done, _ = await asyncio.wait({handler}, timeout=2)
    assert done == {handler} and ws.closed and reasons
    written = b"".join(ws._sock.io_proto.transport.written)
    assert written == b"".join(
        text_frame(p.encode()) for p in ('0{"sid":"s1"}', '42["x",1]', "2", '42["x",2]', "1")
    )
    assert ws.sent == []  # nothing through the driver's send (a writer task's path)


async def test_a_direct_session_is_closed_even_when_its_websocket_cannot_be():
    server, socket, reasons = adopted_socket()
    Delivery(server)
    ws = FakeEioWebSocket()
    ws._sock = FakeWs()

    async def broken_close() -> None:
        raise RuntimeError("the connection went first")

    ws.close = broken_close
    socket.lvng_ws = ws._sock
    handler = asyncio.ensure_future(socket._websocket_handler(ws))
    while not socket.lvng_direct:
        await asyncio.sleep(0)
    ws.incoming.put_nowait(OSError())  # the client's side ends
    done, _ = await asyncio.wait({handler}, timeout=2)
    assert done == {handler} and handler.exception() is None
    assert socket.closed and reasons == [server.reason.TRANSPORT_CLOSE]


class FakeAssembler:
    def __init__(self) -> None:
        self.messages: asyncio.Queue[str] = asyncio.Queue()

    async def get(self, timeout: float | None = None) -> str:
        return await self.messages.get()


def fake_sanic_websocket() -> Any:
    ws = FakeEioWebSocket()
    ws._sock = FakeWs()
    ws._sock.assembler = FakeAssembler()
    ws._sock.recv_cancel = None
    ws._sock.close_timeout = 0.05
    return ws


async def test_a_close_between_reads_ends_the_next_read_and_loses_nothing():
    """Sanic cancels `recv_cancel` on a close frame only once the messages before it were
    fetched; the handler may be busy with the last of them then (not reading)."""
    ws = fake_sanic_websocket()

    async def session() -> list[Any]:
        read = websocket._websocket_reader(ws)
        got: list[Any] = [await read()]
        ws._sock.recv_cancel.cancel()  # the close frame, while this "handles" the message
        await asyncio.sleep(0)
        try:
            await read()
        except OSError:
            got.append("ended")
        return got

    ws._sock.assembler.messages.put_nowait('42["x"]')
    assert await asyncio.wait_for(session(), 1) == ['42["x"]', "ended"]


async def test_a_close_during_a_read_cancels_it():
    ws = fake_sanic_websocket()

    async def session() -> None:
        read = websocket._websocket_reader(ws)
        await read()

    task = asyncio.ensure_future(session())
    await asyncio.sleep(0)
    ws._sock.recv_cancel.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 1)


async def test_a_server_side_close_is_bounded_by_close_timeout():
    """Sanic only sends the close frame; a peer that never answers loses the connection
    after close_timeout, which ends the session's read."""
    ws = fake_sanic_websocket()
    transport = ws._sock.io_proto.transport
    await websocket._close_websocket(ws)
    assert ws.closed and not transport.aborted

    async def aborted() -> None:
        while not transport.aborted:
            await asyncio.sleep(0.01)

    await asyncio.wait_for(aborted(), 1)

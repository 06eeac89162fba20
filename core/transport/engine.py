"""The one place the core reaches into python-engineio's (and Sanic's websocket) internals.

Checked against python-engineio 4.15.1, python-socketio 5.18.1 and Sanic 25.12 (pinned in
pyproject.toml); `tests/test_engine.py` fails when what is used here changes, so an upgrade
fails a test instead of silently slowing or breaking delivery.

**Stopping.** python-socketio can only end a session with a Socket.IO DISCONNECT packet
(the client sees `io server disconnect` and, being told it was sent away, never
reconnects). A stopping server must instead drop the line as a crash or a restart does, so
that clients reconnect by themselves (contract section 1, "stop"): `close_transport`.

**Delivery** (`Delivery`, used by `core.delivery.FastManager` and `LvngServer`): stock
python-socketio starts one task per recipient, encodes the Engine.IO packet per recipient
and wakes one writer task per socket, which calls Sanic's `ws.send` (a mutex and a drain)
per packet. Here a packet is encoded once (`Outgoing`) and, for each recipient:

- an upgraded websocket session gets one websocket frame, built once for all recipients
  (a server's frames are not masked), set aside and written straight to its transport by
  the next flush, with the other frames set aside for it: one system call per socket per
  flush, not per packet. Such a session has no writer task ("direct", `LvngSocket`):
  Engine.IO's own packets to it (pings, CLOSE) are frames set aside the same way, so
  everything to one socket leaves in the order sent.
- everything else (polling clients, a socket mid-upgrade) gets the one pre-encoded
  Engine.IO packet on its queue (no task per recipient).
- a session that keeps Engine.IO's writer task (its websocket negotiated an extension,
  which Sanic never does; or a poll was still waiting at the upgrade) gets the frame only
  when its queue is empty and its writer idle, else the queued packet behind what is
  there; its writer writes what was set aside for it before a queued packet.

**Coalescing.** After a flush to `COALESCE_SOCKETS` sockets or more (a fan-out), the next
one waits until `flush_window` after it (`LVNG_FLUSH_WINDOW_MS`): the frames of the
messages emitted meanwhile go out in one write per socket. Small flushes go at once.

**Per-connection state** (`LvngSocket`, `slim`, `Pings`): stock, an idle websocket
session holds eight tasks (Sanic's connection task, its auto-closer and the task of each
receive; Engine.IO's reader task per packet, its writer, the writer's `wait_for` task and
a task sleeping until the next ping) and twenty-two 760-byte deques (every asyncio `Event`
and `Queue` allocates a 64-slot block at once). Here: the websocket is read in the
handler's task, awaiting Sanic's frame assembler directly (`_websocket_reader`), with no
timeout (Engine.IO's service task closes a client that stops answering pings, and closing
a session closes its websocket, which ends the read); no writer task (above); polls run
under `asyncio.timeout` (no task per poll); pings are on one timer per server (`Pings`);
`slim` gives the idle Events and Queues of the session, Engine.IO's and Sanic's, lists
instead of deques. The bench's connections section measures the result.

**Slow consumers.** `transport.write` never blocks: a client that does not read makes the
transport's buffer grow, and a stuck writer makes the queue grow. A socket with more than
`buffer_limit` bytes in its transport's buffer, or more than `queue_limit` packets in its
Engine.IO queue, is dropped at once (its TCP connection aborted, as a lost connection; a
polling session is closed): memory stays bounded and the others never wait for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import struct
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from engineio import exceptions as eio_exceptions
from engineio import packet as eio_packet
from engineio.async_socket import AsyncSocket

log = logging.getLogger("lvng.engine")

SHUTDOWN_REASON = "server shutdown"
SLOW_CONSUMER_REASON = "slow consumer"

# Defaults of the slow-consumer bound (LVNG_SEND_BUFFER_LIMIT sets the first).
SEND_BUFFER_LIMIT = 1024 * 1024
QUEUE_LIMIT = 1024
# Write coalescing under fan-out load (Delivery._flush): after a flush to this many
# sockets, the next waits this long after it.
COALESCE_SOCKETS = 64
FLUSH_WINDOW = 0.010

# Where this module's Engine.IO/Sanic knowledge lives, for tests/test_engine.py.
PINNED = {"python-engineio": "4.15.1", "python-socketio": "5.18.1"}


async def close_transport(sio: Any, sid: str, reason: str = SHUTDOWN_REASON) -> bool:
    """Close the transport of Socket.IO session `sid` with no goodbye packet at all.

    python-socketio's disconnect handling runs as for a lost connection (our `disconnect`
    handler, hence plugins' hooks, gets `reason`), then the websocket is closed (its
    writer ends on the queue's None) or the pending long-poll is answered empty, and the
    session id is unknown from then on. Returns False when there was no such session.
    """
    try:
        eio_sid = sio.manager.eio_sid_from_sid(sid, "/")
        socket = sio.eio.sockets.get(eio_sid) if eio_sid else None
    except (AttributeError, KeyError) as exc:  # Engine.IO internals changed
        log.warning("cannot close the transport of %s: %r", sid, exc)
        return False
    if socket is None or socket.closed:
        return False
    # abort=True: no Engine.IO CLOSE packet (python-engineio's client treats one as a
    # server disconnect and does not reconnect either).
    await socket.close(wait=False, abort=True, reason=reason)
    socket.queue.put_nowait(None)
    return True


def end_writer(socket: Any) -> None:
    """End an Engine.IO session's transport: its websocket closes (after what was sent
    to it), or its pending long-poll is answered empty."""
    if isinstance(socket, LvngSocket):
        socket.end_websocket()
    else:
        socket.queue.put_nowait(None)


def release_long_poll(sio: Any, sid: str) -> None:
    """Answer a polling client's pending GET now (see Gateway._release_long_poll)."""
    try:
        eio_sid = sio.manager.eio_sid_from_sid(sid, "/")
        socket = sio.eio.sockets.get(eio_sid) if eio_sid else None
        # A socket Engine.IO is closing itself (oversized POST, ping timeout) answers the
        # long-poll with its CLOSE packet; a None ahead of it would swallow that packet
        # and leave Engine.IO waiting for it to be read, for ever.
        if socket is not None and not (socket.upgraded or socket.closed or socket.closing):
            socket.queue.put_nowait(None)
    except (AttributeError, KeyError) as exc:
        log.debug("could not release the long-poll of %s: %r", sid, exc)


def text_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """One unmasked, unfragmented websocket frame (RFC 6455 5.2) of `payload`: text, or
    binary with `opcode` 0x2."""
    size = len(payload)
    first = 0x80 | opcode
    if size < 126:
        head = bytes((first, size))
    elif size < 65536:
        head = struct.pack("!BBH", first, 126, size)
    else:
        head = struct.pack("!BBQ", first, 127, size)
    return head + payload


def frame_of(pkt: Any) -> bytes:
    """The websocket frame of an Engine.IO packet, as python-engineio's writer sends it."""
    encoded = pkt.encode()
    if isinstance(encoded, str):
        return text_frame(encoded.encode())
    return text_frame(encoded, 0x2)


class Outgoing:
    """One encoded Socket.IO packet on its way to one or many sockets; the Engine.IO
    packet and the websocket frame are each built once, when first needed."""

    __slots__ = ("text", "_packet", "_frame")

    def __init__(self, text: str) -> None:
        self.text = text  # the Socket.IO packet, as python-socketio encodes it
        self._packet: Any = None
        self._frame: bytes | None = None

    @property
    def packet(self) -> Any:
        if self._packet is None:
            self._packet = eio_packet.Packet(eio_packet.MESSAGE, data=self.text)
        return self._packet

    @property
    def frame(self) -> bytes:
        if self._frame is None:
            self._frame = text_frame(b"4" + self.text.encode())
        return self._frame


class Delivery:
    """Hands `Outgoing` packets to Engine.IO sessions (see the module docstring)."""

    def __init__(
        self,
        eio: Any,
        *,
        buffer_limit: int = SEND_BUFFER_LIMIT,
        queue_limit: int = QUEUE_LIMIT,
        on_slow_consumer: Callable[[], None] | None = None,
        flush_window: float = FLUSH_WINDOW,
    ) -> None:
        self.sockets: dict[str, Any] = eio.sockets
        self.buffer_limit = buffer_limit
        self.queue_limit = queue_limit
        self.on_slow_consumer = on_slow_consumer
        self._closing: set[asyncio.Task] = set()
        self._pending: dict[Any, list[bytes]] = {}  # socket -> frames not written yet
        self._flush_scheduled = False
        self.flush_window = flush_window
        self._next_flush = 0.0  # loop time before which a flush waits (see _flush)
        _record_websockets(eio)
        eio.lvng_delivery = self  # for LvngSocket's writer (flush_socket)

    def deliver(self, eio_sid: str, out: Outgoing) -> None:
        """Send `out` to Engine.IO session `eio_sid` now, never waiting (no await)."""
        socket = self.sockets.get(eio_sid)
        if socket is None or socket.closing or socket.closed:
            return
        queue = socket.queue
        ws = getattr(socket, "lvng_ws", None)
        if (
            ws is not None
            and socket.upgraded
            and not socket.upgrading
            and (
                getattr(socket, "lvng_direct", False)
                or (queue.empty() and not ws.conn_mutex.locked() and not ws.ws_proto.extensions)
            )
        ):
            self.set_aside(socket, out.frame)
            return
        if queue.qsize() >= self.queue_limit:
            transport = ws.io_proto.transport if ws is not None and ws.io_proto else None
            self._slow_consumer(socket, transport)
            return
        queue.put_nowait(out.packet)

    def set_aside(self, socket: Any, frame: bytes) -> None:
        """Queue `frame` for `socket`'s next flush (see `_flush`)."""
        frames = self._pending.get(socket)
        if frames is None:
            self._pending[socket] = [frame]
            if not self._flush_scheduled:
                self._flush_scheduled = True
                loop = asyncio.get_running_loop()
                if self._next_flush > loop.time():
                    loop.call_at(self._next_flush, self._flush)
                else:
                    loop.call_soon(self._flush)
        else:
            frames.append(frame)

    def _flush(self) -> None:
        """Write the pending frames, one write per socket.

        When nothing was flushed lately, scheduled with call_soon when the first frame is
        set aside: it runs before any writer task woken later by a packet queued behind
        these frames. After a flush to `COALESCE_SOCKETS` sockets or more (a fan-out),
        the next one waits until `flush_window` after it: the frames of the messages
        emitted meanwhile go out in one write per socket, not one each (the system call
        per socket is most of a fan-out's time). A socket's writer that wakes for a
        queued packet meanwhile writes that socket's pending frames first
        (`flush_socket`): order holds either way."""
        self._flush_scheduled = False
        pending, self._pending = self._pending, {}
        write = self._write
        for socket, frames in pending.items():
            write(socket, frames)
        if len(pending) >= COALESCE_SOCKETS:
            self._next_flush = asyncio.get_running_loop().time() + self.flush_window

    def flush_socket(self, socket: Any) -> None:
        """Write `socket`'s pending frames now: its writer is about to send a packet
        queued after them."""
        frames = self._pending.pop(socket, None)
        if frames:
            self._write(socket, frames)

    def _write(self, socket: Any, frames: list[bytes]) -> None:
        ws = getattr(socket, "lvng_ws", None)
        io_proto = ws.io_proto if ws is not None else None
        transport = io_proto.transport if io_proto is not None else None
        if transport is None or transport.is_closing() or ws.ws_proto.state.name != "OPEN":
            return  # the connection is going (a close frame sent): so are its packets
        try:
            transport.write(frames[0] if len(frames) == 1 else b"".join(frames))
        except RuntimeError:  # half-closed under us (write_eof): the socket is going
            return
        if transport.get_write_buffer_size() > self.buffer_limit:
            self._slow_consumer(socket, transport)

    def _slow_consumer(self, socket: Any, transport: Any) -> None:
        log.warning(
            "dropping Engine.IO session %s: a slow consumer (%s bytes unsent, %d packets queued)",
            socket.sid,
            transport.get_write_buffer_size() if transport is not None else "?",
            socket.queue.qsize(),
        )
        if self.on_slow_consumer is not None:
            self.on_slow_consumer()
        if transport is not None:
            # As a lost connection: the buffer is freed now, the websocket's reader ends,
            # and python-engineio runs the disconnect (Socket.IO `transport close`).
            transport.abort()
            return
        task = asyncio.ensure_future(
            socket.close(wait=False, abort=True, reason=SLOW_CONSUMER_REASON)
        )
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
        socket.queue.put_nowait(None)


class _Waiters(list):  # type: ignore[type-arg]
    """A list asyncio's Event and Queue can use where they make a deque: 56 bytes empty,
    not 760. What they hold is short (waiters; a socket's unsent packets, bounded by
    `QUEUE_LIMIT`), so `popleft` copying the rest is cheap."""

    __slots__ = ()

    def popleft(self) -> Any:
        return self.pop(0)


def slim(obj: Any) -> None:
    """Give an asyncio Event or Queue lists instead of its deques (see `_Waiters`)."""
    if isinstance(obj, asyncio.Event):
        if type(obj._waiters) is deque:
            obj._waiters = _Waiters(obj._waiters)
    elif type(obj) is asyncio.Queue:
        for name in ("_getters", "_putters", "_queue"):
            held = getattr(obj, name)
            if type(held) is deque:
                setattr(obj, name, _Waiters(held))
        slim(obj._finished)


_ENDING: set[asyncio.Future[None]] = set()  # websocket sessions being closed


class Pings:
    """Every session's next ping on one timer: sessions are kept in one list per second
    they are due (a ping is at most a second late; Engine.IO's clients wait ping interval
    plus ping timeout). A timer handle per session is ~500 bytes, a list slot 8."""

    def __init__(self) -> None:
        self._due: dict[int, list[Any]] = {}
        self._handle: asyncio.Handle | None = None
        self._when = 0  # the second the handle is for (uvloop's near handles have no when())

    def add(self, socket: Any, delay: float) -> None:
        loop = asyncio.get_running_loop()
        second = math.ceil(loop.time() + delay)
        sockets = self._due.get(second)
        if sockets is None:
            self._due[second] = [socket]
        else:
            sockets.append(socket)
        if self._handle is None or self._when > second:
            if self._handle is not None:
                self._handle.cancel()
            self._handle, self._when = loop.call_at(second, self._tick), second

    def _tick(self) -> None:
        self._handle = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        for second in sorted(s for s in self._due if s <= now + 0.005):
            for socket in self._due.pop(second):
                socket._ping_due()
        if self._due:
            self._when = min(self._due)
            self._handle = loop.call_at(self._when, self._tick)


class LvngSocket(AsyncSocket):
    """Engine.IO's socket with fewer tasks per session (see the module docstring). Made by
    `adopt`, which sets an existing session's class before its first ping is scheduled."""

    # Direct: an upgraded websocket session with no writer task; every packet to it
    # (Engine.IO's too) is a frame set aside in core.engine.Delivery, in order.
    lvng_direct = False
    _lvng_eio_ws: Any = None  # python-engineio's driver object of that websocket

    def schedule_ping(self) -> None:
        # As AsyncSocket.schedule_ping, on the server's one ping timer (`Pings`) instead
        # of a task sleeping per session.
        if self.last_ping:
            self.last_ping = None
            pings = getattr(self.server, "lvng_pings", None)
            if pings is None:
                pings = self.server.lvng_pings = Pings()
            pings.add(self, self.server.ping_interval)

    def _ping_due(self) -> None:
        # As AsyncSocket._send_ping after its sleep: `send` would check the ping timeout,
        # which cannot fail with last_ping set just now, then queue the packet.
        if not self.closing and not self.closed:
            self.last_ping = time.time()
            self._send_now(eio_packet.Packet(eio_packet.PING))

    def _send_now(self, pkt: Any) -> None:
        if self.lvng_direct:
            self.server.lvng_delivery.set_aside(self, frame_of(pkt))
        else:
            self.queue.put_nowait(pkt)

    async def send(self, pkt: Any) -> None:
        if not self.lvng_direct:
            await super().send(pkt)
            return
        # As AsyncSocket.send, straight to the websocket after what was set aside.
        if await self.check_ping_timeout():
            self._send_now(pkt)

    async def close(self, wait: bool = True, abort: bool = False, reason: Any = None) -> None:
        await super().close(wait=wait, abort=abort, reason=reason)
        if getattr(self, "lvng_ws", None) is not None:
            # A websocket session: what was sent before (the CLOSE packet unless aborted)
            # goes out, then the websocket closes, which ends the reader.
            self.end_websocket()

    def end_websocket(self) -> None:
        """Close this session's websocket after what was sent to it; for a polling
        session (or a websocket with a writer task), wake the writer to end."""
        ws = self._lvng_eio_ws
        if self.lvng_direct and ws is not None:
            self.lvng_direct = False
            self._lvng_eio_ws = None  # (the pings' timer may hold this socket a while)
            self.server.lvng_delivery.flush_socket(self)
            _run_to_the_end(_close_websocket(ws))
        else:
            self.queue.put_nowait(None)

    async def poll(self) -> list[Any]:
        # As AsyncSocket.poll, under asyncio.timeout: no task made by wait_for per poll.
        queue = self.queue
        try:
            async with asyncio.timeout(self.server.ping_interval + self.server.ping_timeout):
                packets = [await queue.get()]
            queue.task_done()
        except (TimeoutError, asyncio.CancelledError):
            raise eio_exceptions.QueueEmpty() from None
        if packets == [None]:
            return []
        while True:
            try:
                pkt = queue.get_nowait()
            except asyncio.QueueEmpty:
                break
            queue.task_done()
            if pkt is None:
                queue.put_nowait(None)
                break
            packets.append(pkt)
        return packets

    async def _websocket_handler(self, ws: Any) -> None:
        """As AsyncSocket._websocket_handler (python-engineio 4.15.1), with no task per
        packet read (Engine.IO awaits each read through wait_for) and no timeout on the
        reader or the writer (see below)."""
        server = self.server
        limit = server.max_http_buffer_size
        read = _websocket_reader(ws)

        async def websocket_wait() -> Any:
            data = await read()
            if data and len(data) > limit:
                raise ValueError("packet is too large")
            return data

        if self.connected:
            # the socket was already connected, so this is an upgrade
            self.upgrading = True  # hold packet sends during the upgrade
            try:
                pkt = await websocket_wait()
            except OSError:
                return
            decoded = eio_packet.Packet(encoded_packet=pkt)
            if decoded.packet_type != eio_packet.PING or decoded.data != "probe":
                server.logger.info("%s: Failed websocket upgrade, no PING packet", self.sid)
                self.upgrading = False
                return
            await ws.send(eio_packet.Packet(eio_packet.PONG, data="probe").encode())
            await self.queue.put(eio_packet.Packet(eio_packet.NOOP))  # end poll
            try:
                pkt = await websocket_wait()
            except OSError:
                self.upgrading = False
                return
            decoded = eio_packet.Packet(encoded_packet=pkt)
            if decoded.packet_type != eio_packet.UPGRADE:
                self.upgraded = False
                server.logger.info(
                    "%s: Failed websocket upgrade, expected UPGRADE packet, received %s instead.",
                    self.sid,
                    pkt,
                )
                self.upgrading = False
                return
            self.upgraded = True
            self.upgrading = False
        else:
            self.connected = True
            self.upgraded = True

        async def writer() -> None:
            # Waits with no timeout: a ping is queued every ping interval, and every end
            # of the session queues None (the reader's end, `close`, `close_transport`).
            queue = self.queue
            delivery = getattr(server, "lvng_delivery", None)
            while True:
                packets = [await queue.get()]
                queue.task_done()
                if delivery is not None:  # frames set aside before this packet go first
                    delivery.flush_socket(self)
                while packets[-1] is not None:
                    try:
                        packets.append(queue.get_nowait())
                    except asyncio.QueueEmpty:
                        break
                    queue.task_done()
                if packets[-1] is None:
                    packets.pop()
                    queue.put_nowait(None)  # as poll(): later readers see the end too
                    end = True
                else:
                    end = False
                try:
                    for pkt in packets:
                        await ws.send(pkt.encode())
                except BaseException:  # noqa: BLE001 - as Engine.IO: the writer just ends
                    break
                if end:
                    break
            await ws.close()

        delivery = getattr(server, "lvng_delivery", None)
        impl = getattr(ws, "_sock", None)
        writer_task: asyncio.Future[None] | None = None
        if (
            delivery is not None
            and impl is not None
            and getattr(self, "lvng_ws", None) is impl
            and not impl.ws_proto.extensions
            and not self.queue._getters
        ):
            # Direct (no writer task): what was queued before (the OPEN packet, what
            # came during an upgrade) goes first, set aside in order, with no await
            # since `upgraded` was set. (A poll still waiting on the queue would lose
            # its packets: then the writer task, as Engine.IO.)
            self._lvng_eio_ws = ws
            self.lvng_direct = True
            queue = self.queue
            while not queue.empty():
                pkt = queue.get_nowait()
                queue.task_done()
                if pkt is None:  # the session was ended meanwhile
                    self.end_websocket()
                    break
                delivery.set_aside(self, frame_of(pkt))
        else:
            writer_task = asyncio.ensure_future(writer())
        server.logger.info("%s: Upgrade to websocket successful", self.sid)

        while True:
            # No timeout per read (Engine.IO's is ping interval + ping timeout): its
            # service task closes a session whose client stops answering pings, and
            # `close` then ends the writer, which closes the websocket, which ends this.
            try:
                p = await websocket_wait()
            except BaseException:  # noqa: BLE001 - as Engine.IO: cancel or error ends it
                break
            if p is None:  # connection closed by client
                break
            try:
                await self.receive(eio_packet.Packet(encoded_packet=p))
            except eio_exceptions.UnknownPacketError:
                pass
            except eio_exceptions.SocketIsClosedError:
                server.logger.info("Receive error -- socket is closed")
                break
            except asyncio.CancelledError:  # the connection was lost (Sanic cancels us)
                break
            except Exception:  # noqa: BLE001 - as Engine.IO: log and go on
                server.logger.exception("Unknown receive error")

        if writer_task is not None:
            self.queue.put_nowait(None)  # unlock the writer task so it can exit
        # Sanic cancels this task when the connection is lost, which may come at any
        # await from here (after the close frame ended the read): the end of the session
        # runs to the end in a task of its own, or the session would never be closed.
        await asyncio.shield(_run_to_the_end(self._end_websocket(ws, writer_task)))

    async def _end_websocket(self, ws: Any, writer_task: asyncio.Future[None] | None) -> None:
        if writer_task is not None:
            with contextlib.suppress(Exception):
                await writer_task  # it closes the websocket
        elif self.lvng_direct:
            self.lvng_direct = False
            self._lvng_eio_ws = None
            self.server.lvng_delivery.flush_socket(self)
            # The session first: closing the websocket may wait for a client that does
            # not read (close_timeout), and rooms and plugins must hear of it now.
            await self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_CLOSE)
            await _close_websocket(ws)
            return
        await self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_CLOSE)


async def _close_websocket(ws: Any) -> None:
    """Start the websocket's closing handshake, bounded: Sanic sends the close frame and
    leaves the rest to the peer, so a peer that never answers (a dead phone, a client
    that went silent) has its connection aborted after Sanic's `close_timeout`. The
    session's end never depends on it."""
    impl = getattr(ws, "_sock", None)
    timeout = getattr(impl, "close_timeout", None) or 10.0
    try:
        async with asyncio.timeout(timeout):  # Sanic's send may wait for a full buffer
            await ws.close()
    except Exception as exc:  # noqa: BLE001 - logged; the session is closed all the same
        log.debug("closing a websocket failed: %r", exc)
    io_proto = getattr(impl, "io_proto", None)
    transport = getattr(io_proto, "transport", None)
    if transport is not None and not transport.is_closing():
        asyncio.get_running_loop().call_later(timeout, _abort_if_open, transport)


def _abort_if_open(transport: Any) -> None:
    if not transport.is_closing():
        transport.abort()  # as a lost connection: Sanic ends the handler


def _run_to_the_end(coro: Any) -> asyncio.Future[Any]:
    """A task no cancellation of the caller stops, kept until it ends."""
    task = asyncio.ensure_future(coro)
    _ENDING.add(task)
    task.add_done_callback(_ENDING.discard)
    return task


def _websocket_reader(ws: Any) -> Callable[[], Any]:
    """A read of the next message of a Sanic websocket in the caller's task.

    Sanic's `recv` starts a task per message (its frame assembler's `get`) and waits for
    it or for `recv_cancel`, which Sanic cancels when a close frame or EOF comes. This
    awaits the assembler in the handler's own task, with one `recv_cancel` for the whole
    session: cancelled during a read, it cancels that task (as Sanic's recv raises
    CancelledError then); cancelled between reads (the handler was busy with a message),
    the next read ends at once instead of waiting for a message that will not come. The
    messages before a close frame are not lost: Sanic hands the close over only once
    each of them was fetched. Anything else than Sanic's websocket (or a Sanic without
    these) reads with `ws.wait()`."""
    impl = getattr(ws, "_sock", None)
    assembler = getattr(impl, "assembler", None)
    task = asyncio.current_task()
    if assembler is None or task is None or not hasattr(impl, "recv_cancel"):
        return ws.wait  # type: ignore[no-any-return]
    reading = False
    ended = False

    def closed(_: asyncio.Future[None]) -> None:
        nonlocal ended
        ended = True
        if reading:
            task.cancel()

    cancel: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    cancel.add_done_callback(closed)
    impl.recv_cancel = cancel

    async def read() -> Any:
        nonlocal reading
        if ended or impl.ws_proto.state.name == "CLOSED":
            raise OSError("the websocket is closed")
        reading = True
        try:
            data = await assembler.get()
        finally:
            reading = False
        if not isinstance(data, (bytes, str)):
            raise OSError("no message")
        return data

    return read


def adopt(eio: Any, eio_sid: str) -> None:
    """Make Engine.IO session `eio_sid` an `LvngSocket` with a slim queue; called from the
    Engine.IO connect event, before Engine.IO schedules the session's first ping."""
    socket = eio.sockets.get(eio_sid)
    if socket is not None and type(socket) is AsyncSocket:
        socket.__class__ = LvngSocket
        slim(socket.queue)


def _slim_websocket(ws: Any) -> None:
    """The idle Events and Queues of a Sanic websocket (see `slim`)."""
    assembler = getattr(ws, "assembler", None)
    if assembler is not None:
        for name in ("completed_queue", "message_complete", "message_fetched"):
            slim(getattr(assembler, name, None))
    proto = getattr(ws, "io_proto", None)
    for name in ("_can_write", "_data_received"):
        slim(getattr(proto, name, None))


def _record_websockets(eio: Any) -> bool:
    """Make Engine.IO keep each session's Sanic websocket as `socket.lvng_ws` while its
    websocket handler runs. False when the async mode has no websocket (then every packet
    takes the queue)."""
    drivers = dict(eio._async)  # the driver module's dict is shared: never change it
    base = drivers.get("websocket")
    if base is None:
        return False

    class RecordingWebSocket(base):  # type: ignore[misc, valid-type]
        def __init__(self, handler: Any, server: Any) -> None:
            socket = getattr(handler, "__self__", None)

            async def recording(ws: Any) -> Any:
                _slim_websocket(ws._sock)
                if socket is not None:
                    socket.lvng_ws = ws._sock
                try:
                    return await handler(ws)
                finally:
                    if socket is not None:
                        socket.lvng_ws = None

            super().__init__(recording, server)

    drivers["websocket"] = RecordingWebSocket
    eio._async = drivers
    return True

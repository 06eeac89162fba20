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

- an upgraded websocket whose Engine.IO queue is empty and whose writer is idle (Sanic's
  send mutex free) gets one websocket frame, built once for all recipients (a server's
  frames are not masked), written straight to its transport. The frames a socket gets
  within one loop iteration are written together at its end (one system call per socket
  per iteration, not per packet: under load, iterations hold many broadcasts). Anything
  already queued (an ack, a ping, the handshake) would be overtaken, so then the packet
  is queued behind it instead: everything to one socket leaves in the order emitted.
- everything else (polling clients, a socket mid-upgrade, a busy writer) gets the one
  pre-encoded Engine.IO packet on its queue (no task per recipient).
- Sanic negotiates no websocket extension (no permessage-deflate); a socket that did
  would take the queued path, as a shared frame cannot be compressed per socket.

**Slow consumers.** `transport.write` never blocks: a client that does not read makes the
transport's buffer grow, and a stuck writer makes the queue grow. A socket with more than
`buffer_limit` bytes in its transport's buffer, or more than `queue_limit` packets in its
Engine.IO queue, is dropped at once (its TCP connection aborted, as a lost connection; a
polling session is closed): memory stays bounded and the others never wait for it.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Callable
from typing import Any

from engineio import packet as eio_packet

log = logging.getLogger("lvng.engine")

SHUTDOWN_REASON = "server shutdown"
SLOW_CONSUMER_REASON = "slow consumer"

# Defaults of the slow-consumer bound (LVNG_SEND_BUFFER_LIMIT sets the first).
SEND_BUFFER_LIMIT = 1024 * 1024
QUEUE_LIMIT = 1024

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
    """Wake an Engine.IO session's writer to end: its websocket closes, or its pending
    long-poll is answered empty."""
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


def text_frame(payload: bytes) -> bytes:
    """One unmasked, unfragmented websocket text frame (RFC 6455 5.2) of `payload`."""
    size = len(payload)
    if size < 126:
        head = bytes((0x81, size))
    elif size < 65536:
        head = struct.pack("!BBH", 0x81, 126, size)
    else:
        head = struct.pack("!BBQ", 0x81, 127, size)
    return head + payload


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

    def __init__(self, eio: Any, *, buffer_limit: int = SEND_BUFFER_LIMIT,
                 queue_limit: int = QUEUE_LIMIT,
                 on_slow_consumer: Callable[[], None] | None = None) -> None:
        self.sockets: dict[str, Any] = eio.sockets
        self.buffer_limit = buffer_limit
        self.queue_limit = queue_limit
        self.on_slow_consumer = on_slow_consumer
        self._closing: set[asyncio.Task] = set()
        self._pending: dict[Any, list[bytes]] = {}  # socket -> frames not written yet
        self._flush_scheduled = False
        self.direct = _record_websockets(eio)

    def deliver(self, eio_sid: str, out: Outgoing) -> None:
        """Send `out` to Engine.IO session `eio_sid` now, never waiting (no await)."""
        socket = self.sockets.get(eio_sid)
        if socket is None or socket.closing or socket.closed:
            return
        queue = socket.queue
        ws = getattr(socket, "lvng_ws", None)
        if ws is not None and queue.empty() and socket.upgraded \
                and not socket.upgrading and not ws.conn_mutex.locked() \
                and not ws.ws_proto.extensions:
            frames = self._pending.get(socket)
            if frames is None:
                self._pending[socket] = [out.frame]
                if not self._flush_scheduled:
                    self._flush_scheduled = True
                    asyncio.get_running_loop().call_soon(self._flush)
            else:
                frames.append(out.frame)
            return
        if queue.qsize() >= self.queue_limit:
            transport = ws.io_proto.transport if ws is not None and ws.io_proto else None
            self._slow_consumer(socket, transport)
            return
        queue.put_nowait(out.packet)

    def _flush(self) -> None:
        """Write the frames of this loop iteration, one write per socket.

        Scheduled (call_soon) when the first frame is set aside, so it runs before any
        writer task woken later by a packet queued behind these frames: order holds."""
        self._flush_scheduled = False
        pending, self._pending = self._pending, {}
        limit = self.buffer_limit
        for socket, frames in pending.items():
            ws = getattr(socket, "lvng_ws", None)
            io_proto = ws.io_proto if ws is not None else None
            transport = io_proto.transport if io_proto is not None else None
            if (transport is None or transport.is_closing()
                    or ws.ws_proto.state.name != "OPEN"):
                continue  # the connection is going (a close frame sent): so are its packets
            try:
                transport.write(frames[0] if len(frames) == 1 else b"".join(frames))
            except RuntimeError:  # half-closed under us (write_eof): the socket is going
                continue
            if transport.get_write_buffer_size() > limit:
                self._slow_consumer(socket, transport)

    def _slow_consumer(self, socket: Any, transport: Any) -> None:
        log.warning("dropping Engine.IO session %s: a slow consumer (%s bytes unsent, "
                    "%d packets queued)", socket.sid,
                    transport.get_write_buffer_size() if transport is not None else "?",
                    socket.queue.qsize())
        if self.on_slow_consumer is not None:
            self.on_slow_consumer()
        if transport is not None:
            # As a lost connection: the buffer is freed now, the websocket's reader ends,
            # and python-engineio runs the disconnect (Socket.IO `transport close`).
            transport.abort()
            return
        task = asyncio.ensure_future(socket.close(wait=False, abort=True,
                                                  reason=SLOW_CONSUMER_REASON))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
        socket.queue.put_nowait(None)


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

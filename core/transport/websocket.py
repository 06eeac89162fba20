"""Sanic's websocket, as Engine.IO's sessions use it: read in the handler's own task,
recorded on its session for direct frames, slimmed, and closed with a bound.

Checked against Sanic 25.12 and python-engineio's Sanic driver (`tests/test_engine.py`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from websockets.frames import CloseCode
from websockets.protocol import State

from core.transport.slim import slim

log = logging.getLogger("lvng.engine")

DROP_LINGER = 2.0  # s a dropped line waits for the peer (`drop_line`): LVNG_STOP_LINGER_SECONDS


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


def drop_line(ws: Any, linger: float = DROP_LINGER) -> bool:
    """End a stopping server's websocket after what was written to it: the closing
    handshake (a close frame, 1001 "server shutdown", from Sanic's own protocol state, so
    Sanic sees the websocket closing), then a lingering close (`_Lingering`): the TCP
    connection is closed once the client answered the close frame or closed its side,
    or cut after `linger` s. Sanic's own close (its closing task per socket) was
    most of a stop's work per socket; this costs one write. The client reads every frame
    sent before the close frame, sees the transport close and reconnects (a close frame
    is not a Socket.IO disconnect); Sanic ends the handler on the connection's loss.
    False when there is no such transport (the caller closes as usual). `lines_dropped`
    waits for the ends.

    Neither a FIN nor a close at once: a client that is still writing when the line
    ends may lose what it had received and not read yet. python-engineio's client closes
    its transport on a FIN, its writer then fails, and its reader stops with the frames
    it had received unread (the acks of the stop's last events: tests/test_drain.py);
    a socket closed with received bytes unread is reset by the kernel, and a reset makes
    the peer drop what it had not read."""
    impl = getattr(ws, "_sock", None)
    transport = getattr(getattr(impl, "io_proto", None), "transport", None)
    proto = getattr(impl, "ws_proto", None)
    if transport is None or proto is None:
        return False
    if transport.is_closing():
        return True
    lingering = _Lingering(transport, proto)
    if proto.state is State.OPEN:
        proto.send_close(CloseCode.GOING_AWAY, "server shutdown")
        lingering.send(proto.data_to_send())
    _lingering.add(lingering.closed)
    lingering.closed.add_done_callback(_lingering.discard)
    asyncio.get_running_loop().call_later(linger, lingering.cut)
    return True


_lingering: set[asyncio.Future[None]] = set()  # the dropped lines not closed yet


async def lines_dropped(linger: float = DROP_LINGER) -> None:
    """Wait until every line `drop_line` dropped is closed (at most about `linger` s, as
    given to `drop_line`): a process that ends sooner closes them with the peer's last
    bytes unread, and the kernel turns such a close into a reset (see `drop_line`)."""
    if _lingering:
        log.info("waiting for %d dropped line(s) to be closed by their clients", len(_lingering))
        cut = _Lingering.cuts
        await asyncio.wait(set(_lingering), timeout=linger + 1.0)
        if _Lingering.cuts > cut:
            log.warning(
                "cut %d dropped line(s) whose client neither answered nor closed in %g s",
                _Lingering.cuts - cut,
                linger,
            )


class _Lingering(asyncio.Protocol):
    """A dropped line's protocol from its close frame on, until the connection is closed.
    What the client still sends is read: the frames of a client that kept sending are
    dropped, and its close frame (or its FIN) ends the handshake, when the line is closed
    (RFC 6455: the server closes the TCP connection first; a browser waits for it).
    Sanic's own protocol would hand those bytes to a websocket nobody reads any more,
    which pauses reading when its queue is full: unread bytes, hence a reset at the
    close. The end still reaches Sanic's protocol (`connection_lost`): its handler ends."""

    cuts = 0  # lines cut so far (`cut`), for the stop's log

    def __init__(self, transport: Any, proto: Any) -> None:
        self.transport, self.proto = transport, proto
        self.inner = transport.get_protocol()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        transport.set_protocol(self)
        if not transport.is_reading():  # Sanic's flow control may have paused it
            transport.resume_reading()

    def send(self, chunks: list[bytes]) -> None:
        """Write what the websocket protocol has to send; its end of data closes the line."""
        for chunk in chunks:
            if chunk:
                self.transport.write(chunk)
            else:  # SEND_EOF: the closing handshake is over
                self.transport.close()

    def data_received(self, data: bytes) -> None:
        proto = self.proto
        try:
            proto.receive_data(data)
        except Exception as exc:  # noqa: BLE001 - not a websocket any more: cut it
            log.debug("a dropped line sent what its websocket refused: %r", exc)
            self.cut()
            return
        proto.events_received()  # a stubborn client's frames: dropped
        self.send(proto.data_to_send())

    def eof_received(self) -> bool:
        self.proto.receive_eof()
        self.proto.events_received()
        self.send(self.proto.data_to_send())
        return False  # the transport closes (after what it still has to write)

    def connection_lost(self, exc: Exception | None) -> None:
        try:
            self.inner.connection_lost(exc)
        finally:
            if not self.closed.done():
                self.closed.set_result(None)

    def cut(self) -> None:
        """`linger` s on: a client that neither answered nor closed (or stopped
        reading, leaving a close waiting on its write buffer) is cut off."""
        if not self.closed.done():
            _Lingering.cuts += 1
            self.transport.abort()  # as a lost connection: Sanic ends the handler


def _abort_if_open(transport: Any) -> None:
    if not transport.is_closing():
        transport.abort()  # as a lost connection: Sanic ends the handler


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
    impl: Any = getattr(ws, "_sock", None)
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

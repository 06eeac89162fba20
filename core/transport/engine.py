"""`LvngSocket`: python-engineio's `AsyncSocket` with fewer tasks per session.

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

**Client input** (`core/transport/eio_input.py`): a polling POST takes every packet the
client put in it (python-engineio's 16-packet cap dropped a burst with `200 ok`), and a
malformed packet or frame ends the session with one throttled warning instead of a
traceback.

Adapted from python-engineio 4.15.1 (`AsyncSocket`); `tests/test_engine.py` pins what is
relied on.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from engineio import exceptions as eio_exceptions
from engineio import packet as eio_packet
from engineio.async_socket import AsyncSocket

from core.transport.eio_input import MalformedPacket, decode_packet, receive_post, websocket_peer
from core.transport.eio_input import refuse as refuse_malformed
from core.transport.frames import frame_of
from core.transport.pings import Pings
from core.transport.slim import slim
from core.transport.websocket import DROP_LINGER, _close_websocket, _websocket_reader, drop_line

_ENDING: set[asyncio.Future[None]] = set()  # websocket sessions being closed


class LvngSocket(AsyncSocket):
    """Engine.IO's socket with fewer tasks per session (see the module docstring). Made by
    `adopt`, which sets an existing session's class before its first ping is scheduled."""

    # Direct: an upgraded websocket session with no writer task; every packet to it
    # (Engine.IO's too) is a frame set aside in core.transport.delivery.Delivery, in order.
    lvng_direct = False
    _lvng_eio_ws: Any = None
    # Set by a stopping server (closing.close_transport): the websocket ends without its
    # closing handshake, as the line of a node that went away does (what was sent to it
    # still goes out first).
    lvng_drop_line = False
    # Engine.IO's own attributes this class sets (python-engineio is untyped).
    last_ping: float | None
    connected: bool  # python-engineio's driver object of that websocket

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
            if self.lvng_drop_line and drop_line(
                ws, getattr(self.server, "lvng_drop_linger", DROP_LINGER)
            ):
                return
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

    async def handle_post_request(self, environ: dict[str, Any]) -> None:
        # Every packet of the POST, however many, and a malformed one ends the session
        # with one warning instead of a traceback and a 200 (core/transport/eio_input.py).
        await receive_post(self, environ)

    async def _decoded_or_closed(self, data: Any, ws: Any) -> Any:
        """The packet of an upgrade's frame, or None after closing the session for a
        malformed one (core/transport/eio_input.py)."""
        try:
            return decode_packet(data)
        except MalformedPacket as exc:
            refuse_malformed(self, exc.reason, websocket_peer(ws))
        self.upgrading = False
        await self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_ERROR)
        self.queue.put_nowait(None)  # the polling side's waiting GET answers at once
        return None

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
            except (OSError, ValueError):  # gone, or a frame over the buffer
                self.upgrading = False
                return
            decoded = await self._decoded_or_closed(pkt, ws)
            if decoded is None:
                return
            if decoded.packet_type != eio_packet.PING or decoded.data != "probe":
                server.logger.info("%s: Failed websocket upgrade, no PING packet", self.sid)
                self.upgrading = False
                return
            await ws.send(eio_packet.Packet(eio_packet.PONG, data="probe").encode())
            await self.queue.put(eio_packet.Packet(eio_packet.NOOP))  # end poll
            try:
                pkt = await websocket_wait()
            except (OSError, ValueError):
                self.upgrading = False
                return
            decoded = await self._decoded_or_closed(pkt, ws)
            if decoded is None:
                return
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
        impl: Any = getattr(ws, "_sock", None)
        recorded: Any = getattr(self, "lvng_ws", None)
        writer_task: asyncio.Future[None] | None = None
        if (
            delivery is not None
            and impl is not None
            and recorded is impl
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
                decoded = decode_packet(p)
            except MalformedPacket as exc:  # closed: the end of the session follows
                refuse_malformed(self, exc.reason, websocket_peer(ws))
                break
            try:
                await self.receive(decoded)
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


def _run_to_the_end(coro: Any) -> asyncio.Future[Any]:
    """A task no cancellation of the caller stops, kept until it ends."""
    task: asyncio.Future[Any] = asyncio.ensure_future(coro)
    _ENDING.add(task)
    task.add_done_callback(_ENDING.discard)
    return task


def adopt(eio: Any, eio_sid: str) -> None:
    """Make Engine.IO session `eio_sid` an `LvngSocket` with a slim queue; called from the
    Engine.IO connect event, before Engine.IO schedules the session's first ping."""
    socket = eio.sockets.get(eio_sid)
    if socket is not None and type(socket) is AsyncSocket:
        socket.__class__ = LvngSocket
        slim(socket.queue)

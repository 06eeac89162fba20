"""Socket.IO client managers whose emits neither start a task nor encode per recipient.

python-socketio's client manager is its extension point for delivery: `FastManager`
replaces `AsyncManager.emit` (one node) and `FastRedisManager` (redis_manager.py) puts the
same local delivery under `AsyncRedisManager` (a broadcast from any node, this one included, reaches
this node's sockets through `FastManager.emit`). An emit encodes the packet once and hands
it to every recipient through `Delivery` (below) without awaiting anything, so one
emit's packets are all on their way, in emit order, before any other task runs.

Emits with a callback (an ack asked of the client) keep python-socketio's own path: each
recipient needs its own packet id. The server never asks clients for acks.

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

**Leaving every room at a disconnect.** python-socketio's `basic_disconnect` looks for
the socket in every room of the namespace: one disconnect costs the number of rooms, and
a server with a room per user (`user:{userId}`, presence subscriptions) drops N sockets in
N × rooms steps (a restart of 10,000 sockets: hundreds of millions). `FastManager` keeps
each socket's rooms beside python-socketio's rooms (entered and left through
`basic_enter_room`/`basic_leave_room`, which every other path uses) and leaves just those.

**Slow consumers.** `transport.write` never blocks: a client that does not read makes the
transport's buffer grow, and a stuck writer makes the queue grow. A socket with more than
`buffer_limit` bytes in its transport's buffer, or more than `queue_limit` packets in its
Engine.IO queue, is dropped at once (its TCP connection aborted, as a lost connection; a
polling session is closed): memory stays bounded and the others never wait for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import socketio
from bidict import ValueDuplicationError
from socketio import packet

from core.transport.frames import Outgoing
from core.transport.websocket import _record_websockets

log = logging.getLogger("lvng.engine")

SLOW_CONSUMER_REASON = "slow consumer"

# Defaults of the slow-consumer bound (LVNG_SEND_BUFFER_LIMIT sets the first).
SEND_BUFFER_LIMIT = 1024 * 1024
QUEUE_LIMIT = 1024
# Write coalescing under fan-out load (Delivery._flush): after a flush to this many
# sockets, the next waits this long after it.
COALESCE_SOCKETS = 64
FLUSH_WINDOW = 0.010


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
        self._closing: set[asyncio.Task[None]] = set()
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
        ws = getattr(socket, "lvng_ws", None)
        # A direct session (nearly every socket) first: one attribute, then the checks
        # both ways share; the queue, mutex and extensions only for the others.
        if getattr(socket, "lvng_direct", False):
            if ws is not None and socket.upgraded and not socket.upgrading:
                self.set_aside(socket, out.frame)
                return
        elif (
            ws is not None
            and socket.upgraded
            and not socket.upgrading
            and socket.queue.empty()
            and not ws.conn_mutex.locked()
            and not ws.ws_proto.extensions
        ):
            self.set_aside(socket, out.frame)
            return
        queue = socket.queue
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
        ws: Any = getattr(socket, "lvng_ws", None)
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


class FastManager(socketio.AsyncManager):
    """`AsyncManager` with one-encode, no-task delivery (see the module docstring)."""

    # Told, after each emit this node delivered, its target (a room key or a socket id) and
    # how many of this node's sockets it went to: the inspection page's figures
    # (core/figures.py). Counted once per emit from the room's size, not per recipient.
    on_delivered: Callable[[str, int], None] | None = None

    async def pre_connect(self, eio_sid: str, namespace: str, sid: str | None = None) -> Any:
        """python-socketio's, or with a given `sid` (a recovered socket keeps its id)."""
        if sid is None:
            return await super().pre_connect(eio_sid, namespace)
        try:
            self.basic_enter_room(sid, namespace, None, eio_sid=eio_sid)
        except ValueDuplicationError:
            return None
        self.basic_enter_room(sid, namespace, sid, eio_sid=eio_sid)
        self.pending_connect.setdefault(namespace, []).append(sid)
        return sid

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # (namespace, sid) → the rooms the socket is in (the None and sid rooms included).
        self.rooms_of: dict[tuple[str, str], set[Any]] = {}

    def basic_enter_room(self, sid: str, namespace: str, room: Any, eio_sid: Any = None) -> None:
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        self.rooms_of.setdefault((namespace, sid), set()).add(room)

    def basic_leave_room(self, sid: str, namespace: str, room: Any) -> None:
        super().basic_leave_room(sid, namespace, room)
        held = self.rooms_of.get((namespace, sid))
        if held is not None:
            held.discard(room)
            if not held:
                del self.rooms_of[(namespace, sid)]

    def basic_disconnect(self, sid: str, namespace: str, **kwargs: Any) -> None:
        """python-socketio's, less its scan of every room: the socket's own rooms only."""
        if namespace not in self.rooms:
            return
        for room in list(self.rooms_of.get((namespace, sid), ())):
            self.basic_leave_room(sid, namespace, room)
        self.rooms_of.pop((namespace, sid), None)
        # The rest of python-socketio's basic_disconnect (5.x), as it is there.
        self.callbacks.pop(sid, None)
        for pending in (self.pending_connect, self.pending_disconnect):
            waiting = pending.get(namespace)
            if waiting is not None and sid in waiting:
                waiting.remove(sid)
                if not waiting:
                    del pending[namespace]

    def get_rooms(self, sid: str, namespace: str) -> list[Any]:
        return [r for r in self.rooms_of.get((namespace, sid), ()) if r is not None]

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str,
        room: Any = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: Any = None,
        **kwargs: Any,
    ) -> None:
        server = self.server
        delivery = getattr(server, "delivery", None)
        if callback is not None or delivery is None:
            await super().emit(
                event,
                data,
                namespace,
                room=room,
                skip_sid=skip_sid,
                callback=callback,
                to=to,
                **kwargs,
            )
            return
        room = to or room
        if namespace not in self.rooms:
            return
        if isinstance(data, tuple):
            data = list(data)
        elif data is not None:
            data = [data]
        else:
            data = []
        # Recovery (core/recovery.py): an emit to a room carries the node's next offset as
        # its last argument, encoded once with the packet, which its rooms' logs keep.
        # With Redis the offset is the cluster's (FastRedisManager.emit): an emit that
        # comes here there has none (Redis away, or asked of this node alone).
        recovery = getattr(server, "recovery", None)
        if (
            recovery is not None
            and recovery.enabled
            and room is not None
            and recovery.store is None
        ):
            data.append(recovery.next_offset())
        else:
            recovery = None
        encoded = server.packet_class(
            packet.EVENT, namespace=namespace, data=[event, *data]
        ).encode()
        if not isinstance(encoded, str):  # binary attachments: python-socketio's path
            await super().emit(
                event, tuple(data), namespace, room=room, skip_sid=skip_sid, **kwargs
            )
            return
        if recovery is not None:
            recovery.record(event, room, encoded, skip_sid, self.rooms[namespace])
        to_room(self, delivery, encoded, namespace, room, skip_sid)


def to_room(
    manager: FastManager,
    delivery: Delivery,
    encoded: str,
    namespace: str,
    room: Any,
    skip_sid: Any,
) -> None:
    """Hand the encoded packet to `manager`'s sockets in `room` (no await)."""
    out = Outgoing(encoded)
    deliver = delivery.deliver
    if manager.on_delivered is not None and isinstance(room, str):
        # The recipients get_participants yields below (a copy of the room, which no
        # deliver changes: none awaits), counted once for the emit.
        manager.on_delivered(room, _recipients(manager.rooms[namespace].get(room), skip_sid))
    if skip_sid is None:
        for _sid, eio_sid in manager.get_participants(namespace, room):
            deliver(eio_sid, out)
        return
    skip = set(skip_sid) if isinstance(skip_sid, list) else {skip_sid}
    for sid, eio_sid in manager.get_participants(namespace, room):
        if sid not in skip:
            deliver(eio_sid, out)


def _recipients(members: Any, skip_sid: Any) -> int:
    """How many of a room's `members` (sid → Engine.IO sid, or None for no such room) an
    emit skipping `skip_sid` (a sid, a list of them, or None) goes to."""
    if not members:
        return 0
    if skip_sid is None:
        return len(members)
    skip = set(skip_sid) if isinstance(skip_sid, list) else {skip_sid}
    return len(members) - sum(1 for sid in skip if sid in members)

"""python-socketio's AsyncServer with the client's side of the protocol hardened.

python-socketio looks a client event's handler up by the event's exact name before it
checks reserved names, so a client sending `42["disconnect"]`, `42["connect",{},{…}]` or
`42["*","<sid>",…]` would run the server's own handlers. Here a client's EVENT packet never
goes through that lookup: whatever its name (or none), it goes to the catch-all `*`
handler of its namespace, which answers unknown names like any other unknown event. The
server's own `connect` and `disconnect` handlers run only for real CONNECT packets and
disconnects, as python-socketio calls them itself.

Also, for every Engine.IO session:

- a second Socket.IO CONNECT of a connected socket is refused (no second session);
- packets that do not decode, binary packets (`45-[…]`, and their attachments), events
  with no string name and events for a namespace the socket is not in are handed to the
  catch-all handler as refusals, so they are answered, counted and rate-limited like
  events, never a traceback;
- a session that has not completed the Socket.IO handshake within `handshake_timeout`
  seconds is closed (also when its Socket.IO session ends and it stays open);
- a disconnect is handled to the end in a task of its own: a DISCONNECT packet is handled
  inside the websocket's reader task, which Sanic cancels when the client closes the
  websocket right after it (as socket.io-client's `disconnect()` does), and Engine.IO
  swallows that CancelledError, so the rooms and plugins were left half told.

Checked against python-socketio 5.18 (`AsyncServer._handle_eio_message`, `_handle_event`,
`_handle_event_internal`, `_handle_connect`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import socketio
from socketio import packet

from core.transport.closing import close_transport, end_writer
from core.transport.delivery import FLUSH_WINDOW, SEND_BUFFER_LIMIT, Delivery, FastManager
from core.transport.engine import adopt
from core.transport.frames import Outgoing
from core.wire import Refused, StrictJSON

if TYPE_CHECKING:
    from core.recovery import Recovery

log = logging.getLogger("lvng.socketio")

NAMESPACE = "/"
MAX_SKIPPED_ATTACHMENTS = 10


# What a connected session's environ keeps (see slim_environ): what Engine.IO reads when
# the handshake's request ends, what a later CONNECT authenticates with, and what a log
# or an operator may want of the client.
ENVIRON_KEPT = (
    "REQUEST_METHOD",
    "QUERY_STRING",
    "PATH_INFO",
    "SCRIPT_NAME",
    "RAW_URI",
    "SERVER_PROTOCOL",
    "REMOTE_ADDR",
    "wsgi.url_scheme",
    "sanic.request",
    "HTTP_HOST",
    "HTTP_ORIGIN",
    "HTTP_USER_AGENT",
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_REAL_IP",
    # a second Socket.IO CONNECT on the same Engine.IO session reads these
    "HTTP_AUTHORIZATION",
    "HTTP_COOKIE",
)


def slim_environ(environ: dict[str, Any]) -> None:
    """Once the Socket.IO handshake is done, the WSGI environ python-socketio keeps for the
    session's whole life (every header as an `HTTP_*` key: ~2 KB a session) is cut down
    to ENVIRON_KEPT, in place (Engine.IO's request handler still holds the same dict)."""
    kept = {key: environ[key] for key in ENVIRON_KEPT if key in environ}
    environ.clear()
    environ.update(kept)


class StrictPacket(socketio.packet.Packet):
    """Socket.IO packets whose JSON is strict (see core.wire), and a binary check that
    stops at the first bytes and builds no list per level (python-socketio's reduces a
    list of every value's answer, recursively: ~10% of a stored send's CPU)."""

    json = StrictJSON

    @classmethod
    def data_is_binary(cls, data: Any) -> bool:
        kind = type(data)
        if kind is str or kind is int or data is None:
            return False
        if isinstance(data, bytes | bytearray):
            return True
        if isinstance(data, list):
            return any(cls.data_is_binary(item) for item in data)
        if isinstance(data, dict):
            return any(cls.data_is_binary(item) for item in data.values())
        return False


class LvngServer(socketio.AsyncServer):
    """See the module docstring. The catch-all handler is called as
    `handler(event, sid, *args)`; `event` is None when the packet has no string event name,
    and a refused packet's only argument is a `core.wire.Refused` saying why."""

    def __init__(
        self,
        *args: Any,
        handshake_timeout: float = 10.0,
        send_buffer_limit: int = SEND_BUFFER_LIMIT,
        flush_window: float = FLUSH_WINDOW,
        on_slow_consumer: Any = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("serializer", StrictPacket)
        if kwargs.get("client_manager") is None:
            kwargs["client_manager"] = FastManager()
        super().__init__(*args, **kwargs)
        # Every packet to a client goes through here (core.transport.delivery): broadcasts from the
        # client manager, and acks, handshakes and disconnects from _send_packet.
        self.delivery = Delivery(
            self.eio,
            buffer_limit=send_buffer_limit,
            on_slow_consumer=on_slow_consumer,
            flush_window=flush_window,
        )
        self.handshake_timeout = handshake_timeout
        self.recovery: Recovery | None = None  # core/recovery.py, set by the app
        self._handshake_timers: dict[str, asyncio.TimerHandle] = {}
        self._attachments_to_skip: dict[str, int] = {}
        self._finishing: set[asyncio.Task[Any]] = set()  # disconnects being handled
        self._disconnecting: dict[str, asyncio.Future[None]] = {}  # sid -> its disconnect done
        self._tasks: set[asyncio.Task[Any]] = set()

    async def _send_packet(self, eio_sid: str, pkt: Any) -> None:
        encoded = pkt.encode()
        if not isinstance(encoded, str):  # binary attachments: never sent by this server
            await super()._send_packet(eio_sid, pkt)
            return
        self.delivery.deliver(eio_sid, Outgoing(encoded))

    # --- Engine.IO sessions ------------------------------------------------------------

    async def _handle_eio_connect(self, eio_sid: str, environ: dict[str, Any]) -> Any:
        result = await super()._handle_eio_connect(eio_sid, environ)
        adopt(self.eio, eio_sid)
        # The handshake's empty body, whose class translate_request made for this request
        # alone (2.5 KB a session); a polling POST reads its own request's environ.
        environ.pop("wsgi.input", None)
        self._arm_handshake_timer(eio_sid)
        return result

    async def _handle_eio_disconnect(self, eio_sid: str, reason: Any) -> None:
        if reason == self.reason.CLIENT_DISCONNECT:
            # Engine.IO's CLOSE with no Socket.IO DISCONNECT before it (which would have
            # ended the socket already): the transport was closed, not the socket; as
            # Node's engine.io says, and a reconnect may recover (core/recovery.py).
            reason = self.reason.TRANSPORT_CLOSE
        await self._to_the_end(super()._handle_eio_disconnect(eio_sid, reason))
        timer = self._handshake_timers.pop(eio_sid, None)
        if timer is not None:
            timer.cancel()
        self._attachments_to_skip.pop(eio_sid, None)

    async def _to_the_end(self, coro: Any) -> None:
        """Run `coro` in a task of its own and wait for it; cancelling the caller (the
        transport's task going away under it) does not stop it."""
        task = asyncio.ensure_future(coro)
        self._finishing.add(task)
        task.add_done_callback(self._finishing.discard)
        await asyncio.shield(task)

    def _arm_handshake_timer(self, eio_sid: str) -> None:
        old = self._handshake_timers.pop(eio_sid, None)
        if old is not None:
            old.cancel()
        self._handshake_timers[eio_sid] = asyncio.get_running_loop().call_later(
            self.handshake_timeout, self._handshake_overdue, eio_sid
        )

    def _handshake_overdue(self, eio_sid: str) -> None:
        self._handshake_timers.pop(eio_sid, None)
        if (
            eio_sid in self.eio.sockets
            and self.manager.sid_from_eio_sid(eio_sid, NAMESPACE) is None
        ):
            self._spawn(self._close_unauthenticated(eio_sid))

    async def _close_unauthenticated(self, eio_sid: str) -> None:
        socket = self.eio.sockets.get(eio_sid)
        if socket is not None and self.manager.sid_from_eio_sid(eio_sid, NAMESPACE) is None:
            log.debug(
                "closing Engine.IO session %s: no handshake within %g s",
                eio_sid,
                self.handshake_timeout,
            )
            await self.eio.disconnect(eio_sid)
            # Engine.IO sends its CLOSE packet, then leaves the websocket (or the pending
            # long-poll) open until the client goes; a client that ignores the CLOSE would
            # keep it for the ping timeout. Wake the writer: it closes the websocket.
            end_writer(socket)

    # --- packets -----------------------------------------------------------------------

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        if isinstance(data, bytes | bytearray):
            remaining = self._attachments_to_skip.get(eio_sid, 0)
            if remaining:  # an attachment of a binary packet already refused
                if remaining == 1:
                    del self._attachments_to_skip[eio_sid]
                else:
                    self._attachments_to_skip[eio_sid] = remaining - 1
                return
            await self._refuse(eio_sid, None, "binary data is not accepted")
            return
        self._attachments_to_skip.pop(eio_sid, None)
        try:
            pkt = self.packet_class(encoded_packet=data)
        except Exception:  # noqa: BLE001 - anything a client sends must not raise
            await self._refuse(eio_sid, None, "malformed packet")
            return
        namespace = pkt.namespace or NAMESPACE
        kind = pkt.packet_type
        if kind in (packet.BINARY_EVENT, packet.BINARY_ACK):
            if pkt.attachment_count:
                self._attachments_to_skip[eio_sid] = min(
                    pkt.attachment_count, MAX_SKIPPED_ATTACHMENTS
                )
            await self._refuse(
                eio_sid,
                pkt.id if kind == packet.BINARY_EVENT and namespace == NAMESPACE else None,
                "binary attachments are not accepted",
            )
        elif kind == packet.CONNECT:
            await self._handle_connect(eio_sid, namespace, pkt.data)
        elif kind == packet.DISCONNECT:
            await self._to_the_end(
                self._handle_disconnect(eio_sid, namespace, self.reason.CLIENT_DISCONNECT)
            )
        elif kind == packet.EVENT:
            await self._handle_event(eio_sid, namespace, pkt.id, pkt.data)
        elif kind == packet.ACK:
            await self._handle_ack(eio_sid, namespace, pkt.id, pkt.data)
        else:
            await self._refuse(eio_sid, None, "unexpected packet type")

    async def _handle_connect(self, eio_sid: str, namespace: str | None, data: Any) -> None:
        namespace = namespace or NAMESPACE
        if self.manager.sid_from_eio_sid(eio_sid, namespace) is not None:
            await self._refuse(eio_sid, None, "this socket is already connected")
            return
        await self._connect(eio_sid, namespace, data)
        environ = self.environ.get(eio_sid)
        if environ is not None and self.manager.sid_from_eio_sid(eio_sid, namespace):
            slim_environ(environ)

    async def _connect(self, eio_sid: str, namespace: str, data: Any) -> None:
        """python-socketio's `_handle_connect` (5.18, `always_connect` off), with recovery
        (core/recovery.py): a `{pid, offset}` it can recover keeps its sid; the CONNECT
        reply carries the session's `pid`; the missed packets follow it, before any other."""
        recovery = self.recovery
        if recovery is not None:
            old = recovery.still_connected(data)
            if old is not None:
                # The client saw its transport drop before this node did: the old socket
                # goes now, as a lost connection, and is saved (then claimed below).
                await close_transport(self, old, self.reason.TRANSPORT_CLOSE)
                # Its disconnect may be under way in another task already: wait for it.
                await recovery.gone(data["pid"])
        if recovery is None:
            saved = None
        elif recovery.store is not None:  # with Redis: from any node (core/recovery_store.py)
            from core.recovery_store import claim_cluster

            saved = await claim_cluster(recovery, data)
        else:
            saved = recovery.claim(data)
        going = self._disconnecting.get(saved.sid) if saved is not None else None
        if going is not None:
            # The old socket's disconnect is still being handled (its handler leaves its
            # rooms, then python-socketio forgets the sid): the sid is reused after it.
            try:
                await asyncio.wait_for(asyncio.shield(going), 5.0)
            except TimeoutError:
                log.warning("the disconnect of a recovered socket took over 5 s")
        manager = self.manager
        sid = None
        if namespace in self.handlers:
            if saved is not None and not manager.is_connected(saved.sid, namespace):
                sid = await manager.pre_connect(eio_sid, namespace, sid=saved.sid)
            else:
                sid = await manager.pre_connect(eio_sid, namespace)
        if sid is None:
            if saved is not None and recovery is not None:
                recovery.refuse(saved.sid)
            await self._send_packet(
                eio_sid,
                self.packet_class(
                    packet.CONNECT_ERROR, data="Unable to connect", namespace=namespace
                ),
            )
            return
        fail_reason: Any = socketio.exceptions.ConnectionRefusedError().error_args
        try:
            success = await self._trigger_event(
                "connect", namespace, sid, self.environ[eio_sid], data or None
            )
        except socketio.exceptions.ConnectionRefusedError as exc:
            fail_reason = exc.error_args
            success = False
        if success is False:
            if recovery is not None:
                recovery.refuse(sid)
                recovery.pids.pop(sid, None)
            await self._send_packet(
                eio_sid,
                self.packet_class(packet.CONNECT_ERROR, data=fail_reason, namespace=namespace),
            )
            await manager.disconnect(sid, namespace, ignore_queue=True)
            return
        reply = {"sid": sid}
        pid = recovery.pids.pop(sid, None) if recovery is not None else None
        if pid is not None:
            reply["pid"] = pid
        await self._send_packet(
            eio_sid, self.packet_class(packet.CONNECT, reply, namespace=namespace)
        )
        await manager.connect(sid, namespace)
        if recovery is not None:
            deliver = self.delivery.deliver
            recovery.finish(
                sid,
                lambda key: manager.basic_enter_room(sid, namespace, key),
                lambda encoded: deliver(eio_sid, Outgoing(encoded)),
            )

    async def _handle_disconnect(
        self, eio_sid: str, namespace: str | None, reason: Any = None
    ) -> None:
        namespace = namespace or NAMESPACE
        sid = self.manager.sid_from_eio_sid(eio_sid, namespace)
        if sid is None:
            return
        # A recovery that keeps this sid waits for the end of it (`_connect`): the socket
        # leaves python-socketio's records only once the handler is done.
        done = self._disconnecting.get(sid)
        if done is None:
            done = self._disconnecting[sid] = asyncio.get_running_loop().create_future()
        try:
            await super()._handle_disconnect(eio_sid, namespace, reason)
        finally:
            if self._disconnecting.get(sid) is done:
                del self._disconnecting[sid]
            if not done.done():
                done.set_result(None)
        if eio_sid in self.eio.sockets and not self.manager.sid_from_eio_sid(eio_sid, NAMESPACE):
            # The client ended its Socket.IO session but keeps the Engine.IO one open.
            self._arm_handshake_timer(eio_sid)

    async def _handle_event(
        self, eio_sid: str, namespace: str | None, id: int | None, data: Any
    ) -> None:
        namespace = namespace or NAMESPACE
        sid = self.manager.sid_from_eio_sid(eio_sid, namespace)
        if sid is None or not self.manager.is_connected(sid, namespace):
            await self._refuse(eio_sid, None, f"not connected to namespace {namespace[:64]}")
            return
        if isinstance(data, list) and data and isinstance(data[0], str):
            event, args = data[0], tuple(data[1:])
        elif isinstance(data, Refused):
            event, args = None, (data,)
        else:
            event, args = None, ()
        await self._dispatch(sid, eio_sid, namespace, id, event, args)

    async def _refuse(self, eio_sid: str, id: int | None, reason: str) -> None:
        """Hand a packet that cannot be an event to the catch-all as a refusal of `reason`,
        charged to the socket's session; before the handshake there is none: drop it."""
        sid = self.manager.sid_from_eio_sid(eio_sid, NAMESPACE)
        if sid is None or not self.manager.is_connected(sid, NAMESPACE):
            log.debug("dropped a packet of Engine.IO session %s: %s", eio_sid, reason)
            return
        await self._dispatch(sid, eio_sid, NAMESPACE, id, None, (Refused(reason),))

    async def _dispatch(
        self,
        sid: str,
        eio_sid: str,
        namespace: str,
        id: int | None,
        event: str | None,
        args: tuple[Any, ...],
    ) -> None:
        run = self._handle_client_event(sid, eio_sid, namespace, id, event, args)
        if self.async_handlers:
            self._spawn(run)
        else:
            await run

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle_client_event(
        self,
        sid: str,
        eio_sid: str,
        namespace: str,
        id: int | None,
        event: str | None,
        args: tuple[Any, ...],
    ) -> None:
        handler = self.handlers.get(namespace, {}).get("*")
        try:
            result = await handler(event, sid, *args) if handler is not None else None
        except Exception:
            log.exception("catch-all handler failed: event=%r sid=%s", event, sid)
            return
        # No await between the handler's return and queueing the ack (as in
        # python-socketio): a task the handler started runs after the ack is queued.
        if id is not None:
            if result is None:
                data = []
            elif isinstance(result, tuple):
                data = list(result)
            else:
                data = [result]
            await self._send_packet(
                eio_sid, self.packet_class(packet.ACK, namespace=namespace, id=id, data=data)
            )

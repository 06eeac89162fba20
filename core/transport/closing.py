"""Ending a session's transport: for a stopping server, and for the gateway.

**Stopping.** python-socketio can only end a session with a Socket.IO DISCONNECT packet
(the client sees `io server disconnect` and, being told it was sent away, never
reconnects). A stopping server must instead drop the line as a crash or a restart does, so
that clients reconnect by themselves (contract section 1, "stop"): `close_transport`.
"""

from __future__ import annotations

import logging
from typing import Any

from sanic.server.protocols.websocket_protocol import WebSocketProtocol

from core.transport.engine import LvngSocket

log = logging.getLogger("lvng.engine")

SHUTDOWN_REASON = "server shutdown"


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
    if reason == SHUTDOWN_REASON:
        socket.lvng_drop_line = True  # no websocket closing handshake (engine.py)
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


class RefusingProtocol(WebSocketProtocol):
    """Sanic's connection protocol, which drops a new TCP connection at once while the
    server closes its sockets (`app.ctx.refuse_connections`, set by the stop).

    A stopping server with thousands of sockets is reconnected to by every client it
    dropped (socket.io-client retries after 1 s, then 2, 4, 5: a few times a second in
    all); answering each attempt over HTTP (a request parsed, a 503 written) took a third
    of the stop's CPU (bench/README.md, issue 25). A reset connection is the same to a
    client (it retries) and costs the server nothing beyond the accept. Sanic closes the
    listener only after its before-stop listeners, so it cannot be closed sooner here.
    """

    __slots__ = ("_refused",)  # Sanic's protocols have slots

    def connection_made(self, transport: Any) -> None:
        if getattr(self.app.ctx, "refuse_connections", False):
            self._refused = True
            transport.abort()
            return
        super().connection_made(transport)  # type: ignore[no-untyped-call]

    def connection_lost(self, exc: Exception | None) -> None:
        if getattr(self, "_refused", False):
            return
        super().connection_lost(exc)  # type: ignore[no-untyped-call]

"""Ending a session's transport: for a stopping server, and for the gateway.

**Stopping.** python-socketio can only end a session with a Socket.IO DISCONNECT packet
(the client sees `io server disconnect` and, being told it was sent away, never
reconnects). A stopping server must instead drop the line as a crash or a restart does, so
that clients reconnect by themselves (contract section 1, "stop"): `close_transport`.
"""

from __future__ import annotations

import logging
from typing import Any

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

"""What an Engine.IO client sends, taken defensively (issue 21, findings 1 and 7).

python-engineio 4.15.1 (pinned, see core/transport/__init__.py) decodes client packets so that
anything a client can send may raise: an empty websocket frame (`ValueError: Invalid empty
packet received`), a packet type that is not a digit (`int('x')`), a digit past the last
type (`IndexError` while logging it), undecodable base64 or UTF-8. Each became an `Unknown
receive error` or `post request handler error` traceback, and a polling POST answered
`200 ok` after dropping every packet it carried. Here:

- `decode_packet` raises `MalformedPacket` (with a short reason) for any of those, and
  never anything else;
- `receive_post` is the polling POST: every packet of the body is handled in order, as many
  as the client put there. socket.io-client (engine.io-client 6) sends every queued packet
  in one POST, cut only by the `maxPayload` the handshake announced (the 1 MB buffer):
  python-engineio's cap of 16 packets refused 18 concurrent emits whole. The bound is the
  buffer (at most `max_http_buffer_size` bytes, hence at most half as many packets), and
  each event still passes the rate limit like one from a websocket;
- a malformed packet ends the session (the client sees its transport close; a POST
  carrying one answers 400) with one WARNING line, at most one per `WARN_INTERVAL`
  seconds for the whole server (`ThrottledWarning`): a flood of bad frames costs one line
  per interval, never a traceback.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

from engineio import exceptions as eio_exceptions
from engineio import packet as eio_packet

log = logging.getLogger("lvng.engine")

WARN_INTERVAL = 10.0  # seconds between two warnings about malformed packets
SEPARATOR = "\x1e"  # between the packets of a polling payload (Engine.IO v4)


class MalformedPacket(eio_exceptions.EngineIOError):
    """A packet (or a polling body) a conforming client never sends; `reason` says why.

    An EngineIOError, so that python-engineio, when a POST raises it, answers 400."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def decode_packet(data: str | bytes | bytearray) -> Any:
    """The Engine.IO packet of one websocket frame or one part of a polling payload, or
    MalformedPacket. Binary data is a MESSAGE (python-socketio refuses it as an event)."""
    if isinstance(data, bytes | bytearray):
        return eio_packet.Packet(eio_packet.MESSAGE, data=bytes(data))
    if not data:
        raise MalformedPacket("empty packet")
    kind = data[0]
    if kind == "b":  # base64 binary, in a polling payload
        try:
            return eio_packet.Packet(
                eio_packet.MESSAGE, data=base64.b64decode(data[1:], validate=True)
            )
        except (binascii.Error, ValueError):
            raise MalformedPacket("undecodable base64 packet") from None
    if not ("0" <= kind <= "6"):
        raise MalformedPacket(f"unknown packet type {kind[:1]!r}")
    try:
        return eio_packet.Packet(encoded_packet=data)
    except Exception:  # noqa: BLE001 - whatever the decoder trips on is the client's fault
        raise MalformedPacket("undecodable packet") from None


def payload_parts(body: str) -> Iterator[str]:
    """The packets of a polling body, one at a time (a 1 MB body of tiny packets is never
    held as a list of them)."""
    start = 0
    while True:
        end = body.find(SEPARATOR, start)
        if end < 0:
            yield body[start:]
            return
        yield body[start:end]
        start = end + 1


class ThrottledWarning:
    """One WARNING line per `interval` seconds at most; the lines it held back are
    counted in the next one (and logged at DEBUG)."""

    def __init__(
        self,
        logger: logging.Logger,
        interval: float = WARN_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.interval = interval
        self.clock = clock
        self._last: float | None = None
        self._held = 0

    def warning(self, message: str, *args: Any) -> bool:
        """Log `message % args` now unless a warning went out within the interval; True
        when it was logged as a warning."""
        now = self.clock()
        if self._last is not None and now - self._last < self.interval:
            self._held += 1
            self.logger.debug(message, *args)
            return False
        held, self._held, self._last = self._held, 0, now
        if held:
            message += " (and %d more like it since the last warning)"
            args = (*args, held)
        self.logger.warning(message, *args)
        return True


MALFORMED = ThrottledWarning(log)


def refuse(socket: Any, reason: str, peer: str | None) -> None:
    """Log (throttled) that Engine.IO session `socket` is being closed for a malformed
    packet; the caller closes it."""
    MALFORMED.warning(
        "closing Engine.IO session %s from %s: malformed packet (%s)",
        socket.sid,
        peer or "?",
        reason,
    )


def request_peer(environ: dict[str, Any]) -> str | None:
    """The client's address of a polling request (Engine.IO's environ says 127.0.0.1
    for every Sanic request)."""
    request = environ.get("sanic.request")
    return getattr(request, "remote_addr", None) or getattr(request, "ip", None)


def websocket_peer(ws: Any) -> str | None:
    """The client's address of a websocket (Engine.IO's wrapper around Sanic's)."""
    impl = getattr(ws, "_sock", None)
    transport = getattr(getattr(impl, "io_proto", None), "transport", None)
    peer = transport.get_extra_info("peername") if transport is not None else None
    return str(peer[0]) if isinstance(peer, tuple) and peer else None


async def receive_post(socket: Any, environ: dict[str, Any]) -> None:
    """A polling POST of Engine.IO session `socket` (as `AsyncSocket.handle_post_request`
    of python-engineio 4.15.1, without its 16-packet cap and defensively): every packet,
    in order, until the session closes. Raises ContentTooLongError over the buffer (the
    session is ended and the POST answered 400, as before), MalformedPacket after
    closing the session for a malformed one, and SocketIsClosedError (400 too) when
    packets are left once the session closed under the POST. (python-engineio answers an
    EngineIOError with 400 only while the session id is known: raised only then.)"""
    server = socket.server
    try:
        length = int(environ.get("CONTENT_LENGTH") or "0")
    except ValueError:
        length = -1
    if length > server.max_http_buffer_size:
        raise eio_exceptions.ContentTooLongError()
    try:
        if length < 0:
            raise MalformedPacket("a Content-Length that is not a number")
        try:
            body = (await environ["wsgi.input"].read(length)).decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedPacket("a body that is not UTF-8") from None
        if body.startswith("d="):  # a JSONP form post, as python-engineio reads it
            body = urllib.parse.parse_qs(body).get("d", [""])[0]
        if not body:
            return
        for part in payload_parts(body):
            if socket.closed or socket.closing:
                # Closed under this POST (a CLOSE packet before the rest, or the server
                # dropped the session): what is left is refused with a 400, not a 200.
                if socket.sid in server.sockets:
                    raise eio_exceptions.SocketIsClosedError()
                return
            pkt = decode_packet(part)
            try:
                await socket.receive(pkt)
            except eio_exceptions.UnknownPacketError:
                continue  # a type a client has no reason to send (OPEN, PING): ignored
            if pkt.packet_type == eio_packet.MESSAGE:
                # Let the event's task take its first steps (the rate limit) before the
                # next one starts: a body of thousands of tiny events never piles up
                # thousands of tasks, and a socket sent away stops taking them.
                await asyncio.sleep(0)
    except MalformedPacket as exc:
        refuse(socket, exc.reason, request_peer(environ))
        await socket.close(wait=False, abort=True, reason=server.reason.TRANSPORT_ERROR)
        socket.queue.put_nowait(None)  # a waiting long-poll answers at once
        raise

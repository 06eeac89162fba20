"""Websocket frames and Engine.IO packets, each encoded once for every recipient."""

from __future__ import annotations

import struct
from typing import Any

from engineio import packet as eio_packet


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

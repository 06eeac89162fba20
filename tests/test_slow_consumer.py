"""A client that stops reading is dropped before it costs unbounded memory, and the others
never wait for it (core/transport/delivery.py, "Slow consumers"; docs/decisions.md)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import time

from tests.messages.support import in_channel, uid

LIMIT = 64 * 1024
COUNT = 400
CONTENT = "x" * 9_000  # ~3.6 MB in all: more than the kernel's buffers take on loopback


class StoppedReader:
    """A websocket client written by hand over a socket with a tiny receive buffer: it
    joins a channel, then never reads again."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self, token: str, channel: str) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", self.port))
        self.reader, self.writer = await asyncio.open_connection(sock=sock, limit=16 * 1024)
        key = base64.b64encode(os.urandom(16)).decode()
        self.writer.write(
            (
                f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{self.port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        assert (await self.read_text()).startswith("0{")
        self.send_text("40" + json.dumps({"token": token}))
        while not (await self.read_text()).startswith('42["connected"'):
            pass
        self.send_text("421" + json.dumps(["channel:join", {"channelId": channel}]))
        while not (await self.read_text()).startswith("431["):
            pass

    def send_text(self, text: str) -> None:
        assert self.writer is not None
        data, mask = text.encode(), os.urandom(4)
        size = len(data)
        head = bytes([0x81]) + (
            bytes([0x80 | size]) if size < 126 else bytes([0x80 | 126]) + size.to_bytes(2, "big")
        )
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.writer.write(head + mask + masked)

    async def read_text(self) -> str:
        assert self.reader is not None
        first, second = await self.reader.readexactly(2)
        size = second & 0x7F
        if size == 126:
            size = int.from_bytes(await self.reader.readexactly(2), "big")
        elif size == 127:
            size = int.from_bytes(await self.reader.readexactly(8), "big")
        payload = (await self.reader.readexactly(size)).decode()
        if payload == "2":  # an Engine.IO ping, while it still reads
            self.send_text("3")
        return payload

    async def is_dropped(self, timeout: float) -> bool:
        """Read what the server sent before it cut the line; True at EOF or a reset."""
        assert self.reader is not None
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if not await asyncio.wait_for(self.reader.read(1 << 20), timeout):
                    return True
        except (ConnectionError, TimeoutError):
            return True
        return False

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def test_a_client_that_stops_reading_is_dropped_and_the_others_get_everything(start_server):
    server = start_server(
        {
            "LVNG_SEND_BUFFER_LIMIT": str(LIMIT),
            "LVNG_RATE_LIMIT_EVENTS": "10000",
            "LVNG_RATE_LIMIT_USER_EVENTS": "10000",
        }
    )
    org, channel = uid("org"), uid("ch")
    sender = await in_channel(server, org, channel, "sender")
    websocket_reader = await in_channel(server, org, channel, "reader")
    polling_reader = await server.connect("poller", org, transport="polling")
    assert (await polling_reader.call("channel:join", {"channelId": channel}))["ok"]
    slow = StoppedReader(server.port)
    try:
        await slow.open(server.token("slow", org), channel)
        started = time.monotonic()
        for n in range(COUNT):
            ack = await sender.call(
                "message:send", {"channelId": channel, "content": f"{n} {CONTENT}"}
            )
            assert ack["ok"] is True, ack
        for reader in (websocket_reader, polling_reader):
            got = [
                int((await reader.next("message:new", timeout=20))["content"].split()[0])
                for _ in range(COUNT)
            ]
            assert got == list(range(COUNT))
        # The sends were never held up by the stopped reader.
        assert time.monotonic() - started < 60
        assert await slow.is_dropped(timeout=10)
        assert await server.metric("lvng_slow_consumer_disconnects_total") >= 1
        assert "a slow consumer" in server.log()
    finally:
        slow.close()

"""A Socket.IO v5 client written by hand over one websocket, for packets the standard
client never sends (`42["disconnect"]`, `42[]`, a second `40`, binary packets, NaN...).

Engine.IO pings are answered as they come; everything else is kept for the test to read.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp


class RawSocket:
    def __init__(self, url: str) -> None:
        self.ws_url = url.replace("http://", "ws://", 1) + "/socket.io/?EIO=4&transport=websocket"
        self.session: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.packets: list[str] = []  # Socket.IO packets received ("2[...]"), unread
        self.binary: list[bytes] = []
        self.sid: str | None = None
        self.closed = False

    async def open(
        self,
        token: str | None = None,
        *,
        handshake: bool = True,
        headers: dict[str, str] | None = None,
    ) -> RawSocket:
        """Open the Engine.IO session; with `handshake`, also CONNECT with `token` and wait
        for the server's CONNECT and `connected` event."""
        self.session = aiohttp.ClientSession()
        self.ws = await self.session.ws_connect(self.ws_url, headers=headers or {}, autoping=True)
        opening = await self.ws.receive_str(timeout=5)
        assert opening.startswith("0{"), opening
        if handshake:
            await self.send("0" + json.dumps({"token": token}))
            reply = await self.next_packet(lambda p: p.startswith(("0", "4")))
            assert reply.startswith("0{"), reply
            self.sid = json.loads(reply[1:])["sid"]
            await self.next_event("connected")
        return self

    async def send(self, text: str | bytes) -> None:
        assert self.ws is not None
        if isinstance(text, bytes):
            await self.ws.send_bytes(text)
        else:
            await self.ws.send_str("4" + text)  # an Engine.IO message around it

    async def _read_one(self, timeout: float) -> None:
        assert self.ws is not None
        msg = await self.ws.receive(timeout=timeout)
        if msg.type == aiohttp.WSMsgType.TEXT:
            if msg.data == "2":
                await self.ws.send_str("3")
            elif msg.data.startswith("4"):
                self.packets.append(msg.data[1:])
        elif msg.type == aiohttp.WSMsgType.BINARY:
            self.binary.append(msg.data)
        else:
            self.closed = True

    async def next_packet(self, predicate, timeout: float = 5.0) -> str:
        """The first unread packet matching `predicate` (removed from the unread)."""
        deadline = time.monotonic() + timeout
        while True:
            for index, pkt in enumerate(self.packets):
                if predicate(pkt):
                    return self.packets.pop(index)
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.closed:
                raise AssertionError(
                    f"no matching packet within {timeout} s; "
                    f"got {self.packets}, closed={self.closed}"
                )
            try:
                await self._read_one(remaining)
            except TimeoutError:
                pass

    async def next_event(self, name: str, timeout: float = 5.0) -> Any:
        prefix = "2" + json.dumps([name])[:-1]
        pkt = await self.next_packet(lambda p: p.startswith(prefix), timeout)
        return json.loads(pkt[1:])[1]

    async def ack(self, ack_id: int, timeout: float = 5.0) -> Any:
        pkt = await self.next_packet(lambda p: p.startswith(f"3{ack_id}["), timeout)
        return json.loads(pkt[1 + len(str(ack_id)) :])[0]

    async def call_raw(self, ack_id: int, body: str) -> tuple[Any, Any]:
        """Send `42{ack_id}{body}`: its ack and the `error` event that came with it."""
        await self.send(f"2{ack_id}{body}")
        return await self.ack(ack_id), await self.next_event("error")

    async def wait_closed(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.closed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"still open after {timeout} s")
            try:
                await self._read_one(remaining)
            except TimeoutError:
                pass

    def unread_events(self, name: str) -> list[Any]:
        prefix = "2" + json.dumps([name])[:-1]
        found = [json.loads(p[1:])[1] for p in self.packets if p.startswith(prefix)]
        self.packets = [p for p in self.packets if not p.startswith(prefix)]
        return found

    async def drain(self, within: float = 0.2) -> None:
        """Read whatever arrives within `within` seconds."""
        deadline = time.monotonic() + within
        while not self.closed and (remaining := deadline - time.monotonic()) > 0:
            try:
                await self._read_one(remaining)
            except TimeoutError:
                break

    async def close(self) -> None:
        if self.ws is not None and not self.ws.closed:
            await self.ws.close()
        if self.session is not None:
            await self.session.close()
        await asyncio.sleep(0)

"""A graceful stop (SIGTERM/SIGINT) drops clients as a restart does, so they come back by
themselves (contract section 1, "stop"): never a Socket.IO `disconnect` packet."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal

import pytest
import socketio
from engineio.async_socket import AsyncSocket

from core.transport.closing import close_transport
from tests.live import Client
from tests.test_js_client import JS, node_ready


async def _next_line(proc: asyncio.subprocess.Process, timeout: float = 20) -> dict:
    line = await asyncio.wait_for(proc.stdout.readline(), timeout)
    assert line, (await proc.stderr.read()).decode()
    return json.loads(line)


def _assert_clean_stop(log: str, user: str) -> None:
    """Plugins saw the disconnect, then shutdown ran; nothing destroyed or logged twice."""
    lines = log.splitlines()
    seen = lines.index(next(x for x in lines if f"probe saw {user} disconnect" in x))
    assert lines[seen].endswith(f"probe saw {user} disconnect: server shutdown")
    stopping = lines.index(next(x for x in lines if x.endswith("probe plugin stopping")))
    assert seen < stopping
    assert "Task was destroyed" not in log


@pytest.mark.parametrize("transports", [None, "polling"], ids=["default", "polling"])
async def test_socket_io_client_reconnects_by_itself_after_sigterm_and_restart(
    start_server, transports
):
    node_ready()
    live = start_server()
    args = [str(JS / "reconnect_watch.mjs"), live.url, live.token("js-returner", "acme")]
    proc = await asyncio.create_subprocess_exec(
        "node",
        *args,
        *([transports] if transports else []),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        first = await _next_line(proc)
        assert first["event"] == "connected" and first["userId"] == "js-returner"
        await asyncio.to_thread(live.stop, signal.SIGTERM)
        assert live.proc.returncode == 0
        dropped = await _next_line(proc)
        # Not "io server disconnect", which socket.io-client treats as final.
        expected = "transport close" if transports is None else "transport error"
        assert dropped == {
            "event": "disconnect",
            "reason": expected,
            "active": True,
            "transport": "websocket" if transports is None else "polling",
        }
        _assert_clean_stop(live.log(), "js-returner")
        await asyncio.to_thread(live.start)  # the same port
        assert await _next_line(proc) == {"event": "reconnect"}
        again = await _next_line(proc)
        assert again["event"] == "connected" and again["userId"] == "js-returner"
        # Recovered (contract section 12, issue 23): the graceful stop kept the session
        # beside the SQLite file, so the socket comes back as itself.
        assert again["socketId"] == first["socketId"] and again["recovered"] is True
    finally:
        proc.stdin.close()
        await asyncio.wait_for(proc.wait(), 10)


async def test_python_client_with_reconnection_comes_back_after_sigterm(start_server):
    live = start_server()
    client = Client(live.url, reconnection=True)
    live.clients.append(client)
    await client.connect(live.token("py-returner", "acme"))
    first = client.received["connected"][0]
    await asyncio.to_thread(live.stop, signal.SIGTERM)
    await asyncio.wait_for(client.disconnected.wait(), 5)
    assert client.disconnect_reason == "transport error"
    await asyncio.to_thread(live.start)
    again = await client.next("connected", timeout=20)
    assert again["userId"] == "py-returner" and again["socketId"] != first["socketId"]
    assert (await client.call("probe:echo", {"text": "back"}))["ok"] is True


async def test_in_flight_events_finish_and_new_work_is_refused_during_a_stop(start_server):
    live = start_server()
    holder = await live.connect("holder")
    held = asyncio.create_task(holder.call("probe:hold", timeout=15))
    await holder.next("probe:holding")
    live.proc.send_signal(signal.SIGTERM)
    assert await holder.next("probe:stopping", timeout=10) == {"stopping": True}
    # While the held event finishes: new events and new sessions are refused...
    assert await holder.call("probe:echo", {"text": "late"}) == {
        "ok": False,
        "error": {
            "code": "UNAVAILABLE",
            "message": "the server is stopping; send again once reconnected",
        },
    }
    assert await live.http("GET", "/socket.io/?EIO=4&transport=polling") == (
        503,
        {"error": {"code": "UNAVAILABLE", "message": "the server is stopping"}},
    )
    # ...and the held event still completes, acked before the line drops.
    assert await held == {"ok": True, "held": True}
    await asyncio.wait_for(holder.disconnected.wait(), 5)
    assert holder.disconnect_reason == "transport error"
    assert await asyncio.to_thread(live.proc.wait, 10) == 0
    _assert_clean_stop(live.log(), "holder")


async def test_once_drained_a_new_connection_is_reset_not_answered(start_server, tmp_path):
    """While a stopping server closes its sockets, the clients it dropped retry at once;
    answering each over HTTP (503) took a third of a 5,000-socket stop (issue 25). From
    the end of the drain a new TCP connection is reset instead: no HTTP answer at all,
    while the sockets still being closed are closed as before."""
    release = tmp_path / "release"
    live = start_server(env={"PROBE_RELEASE": str(release)})
    await live.connect("slowstop-1")
    other = await live.connect("plain-1")
    live.proc.send_signal(signal.SIGTERM)
    while "probe holding the disconnect of slowstop-1" not in live.log():
        assert live.proc.poll() is None
        await asyncio.sleep(0.02)
    reader, writer = await asyncio.open_connection("127.0.0.1", live.port)
    writer.write(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        answer = await asyncio.wait_for(reader.read(), 5)
    except ConnectionResetError:
        answer = b""
    writer.close()
    assert answer == b""
    release.write_text("go")
    await asyncio.wait_for(other.disconnected.wait(), 10)
    assert await asyncio.to_thread(live.proc.wait, 10) == 0
    _assert_clean_stop(live.log(), "plain-1")


async def test_close_transport_drops_the_line_without_any_packet():
    """The one wrapper of Engine.IO internals, on a real python-socketio server: the
    session's disconnect handler runs with the reason, nothing but the writer's end marker
    is queued (no Socket.IO DISCONNECT, no Engine.IO CLOSE), the session is gone."""
    sio = socketio.AsyncServer(async_mode="asgi")
    seen = []

    @sio.event
    async def disconnect(sid, reason):
        seen.append((sid, reason))

    sio.manager.initialize()
    socket = AsyncSocket(sio.eio, "eio-1")
    socket.connected = True
    sio.eio.sockets["eio-1"] = socket
    sid = await sio.manager.connect("eio-1", "/")
    assert await close_transport(sio, sid, "server shutdown") is True
    assert seen == [(sid, "server shutdown")]
    assert socket.closed and socket.queue.qsize() == 1 and socket.queue.get_nowait() is None
    assert not sio.manager.is_connected(sid, "/")
    assert await close_transport(sio, sid) is False
    assert await close_transport(sio, "no-such-sid") is False


class TcpWebSocket:
    """An Engine.IO websocket spoken by hand over a TCP stream, to see what the server does
    to the line itself: its frames in order, its close frame, its FIN or a reset."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> TcpWebSocket:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 101"), head
        line = cls(reader, writer)
        assert (await line.frame())[1].startswith(b"0{")  # Engine.IO's open
        return line

    def send(self, text: str, opcode: int = 0x1) -> None:
        """One masked frame (a client's frames are masked): text, or `opcode`'s."""
        data, mask = text.encode("latin-1" if opcode == 0x8 else "utf-8"), os.urandom(4)
        size = (
            bytes([0x80 | len(data)])
            if len(data) < 126
            else bytes([0xFE]) + len(data).to_bytes(2, "big")
        )
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.writer.write(bytes([0x80 | opcode]) + size + mask + masked)

    async def connect(self, token: str) -> None:
        self.send("40" + json.dumps({"token": token}))
        while not (await self.frame())[1].startswith(b'42["connected",'):
            pass

    async def frame(self) -> tuple[int, bytes]:
        """The server's next frame: (opcode, payload)."""
        first, second = await asyncio.wait_for(self.reader.readexactly(2), 5)
        size = second & 0x7F
        if size >= 126:
            size = int.from_bytes(await self.reader.readexactly(2 if size == 126 else 8), "big")
        return first & 0x0F, await self.reader.readexactly(size)

    async def texts_until_close(self) -> tuple[list[str], tuple[int, str]]:
        """Every text frame before the close frame, and the close frame's code and reason."""
        texts = []
        while True:
            opcode, payload = await self.frame()
            if opcode == 0x8:
                return texts, (int.from_bytes(payload[:2], "big"), payload[2:].decode())
            texts.append(payload.decode())


async def test_a_dropped_line_closes_only_after_the_client_answered_or_closed(start_server):
    """A stopping server ends a websocket with a close frame (1001) after what it sent, then
    closes the line only once the client answered it (a browser waits for the server to
    close first) or closed its side. A client still writing when the line ends reads
    every ack first: python-engineio's client, told a FIN while its writer runs, stops
    reading with frames received and unread; and a server that closes with the client's
    last bytes unread makes the kernel reset the line, which drops what the client had
    not read yet (the acks of the stop's last events: tests/test_drain.py). The linger is
    long here: no line is cut, each is closed because its client answered or closed."""
    live = start_server(env={"LVNG_STOP_LINGER_SECONDS": "30"})
    line, polite = await TcpWebSocket.open(live.port), await TcpWebSocket.open(live.port)
    await line.connect(live.token("lingerer", "acme"))
    await polite.connect(live.token("polite", "acme"))
    line.send('420["probe:hold"]')
    while not (await line.frame())[1].startswith(b'42["probe:holding",{}'):
        pass
    live.proc.send_signal(signal.SIGTERM)
    # A stubborn client: it goes on sending, and reads nothing until the server is waiting
    # for the lines it dropped.
    for n in range(1, 30):
        line.send(f'42{n}["probe:echo",{{"text":"late {n}"}}]')
        await line.writer.drain()
    while "waiting for 2 dropped line(s) to be closed by their clients" not in live.log():
        assert live.proc.poll() is None
        await asyncio.sleep(0.02)
    texts, close = await line.texts_until_close()
    assert any(t.startswith('42["probe:stopping",{"stopping":true}') for t in texts), texts
    assert '430[{"ok":true,"held":true}]' in texts, texts
    assert close == (1001, "server shutdown")
    assert not line.reader.at_eof()  # no FIN yet: the server waits for the client
    line.send('4299["probe:echo",{"text":"after the close frame"}]')  # read, not reset
    await line.writer.drain()
    line.writer.write_eof()
    assert await asyncio.wait_for(line.reader.read(), 5) == b""  # a FIN, not a reset
    line.writer.close()
    # The polite client answers the close frame and waits, its side open: the server closes.
    assert (await polite.texts_until_close())[1] == (1001, "server shutdown")
    polite.send((1001).to_bytes(2, "big").decode("latin-1"), opcode=0x8)
    assert await asyncio.wait_for(polite.reader.read(), 5) == b""
    polite.writer.close()
    assert await asyncio.to_thread(live.proc.wait, 10) == 0
    _assert_clean_stop(live.log(), "lingerer")
    assert "dropped line(s) whose client neither answered nor closed" not in live.log()


async def test_a_client_that_never_answers_the_close_frame_is_cut_after_the_linger(
    start_server,
):
    """`LVNG_STOP_LINGER_SECONDS` bounds the wait for a client that neither answers its
    close frame nor closes (a dead phone): its line is cut, the stop says so and ends."""
    live = start_server(env={"LVNG_STOP_LINGER_SECONDS": "0.3"})
    silent = await TcpWebSocket.open(live.port)
    await silent.connect(live.token("silent", "acme"))
    live.proc.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(live.proc.wait, 10) == 0
    assert (await silent.texts_until_close())[1] == (1001, "server shutdown")
    assert "cut 1 dropped line(s) whose client neither answered nor closed in 0.3 s" in (live.log())
    silent.writer.close()

"""A real server in a subprocess (`python -m core.cli serve`) and real Socket.IO clients.

Tests talk to the server only over the network, as an app would.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import socketio

REPO = Path(__file__).resolve().parent.parent
SECRET = "test-secret-0123456789abcdef0123456789"
PROBE_PLUGIN = "probe=tests.support.probe_plugin"


def _port_slice() -> range:
    """Where this pytest process picks the ports its servers listen on: below Linux's
    ephemeral range, so no client's outgoing connection can take a port between its pick
    and the server's bind, and one slice per xdist worker (`make test` runs two), so two
    workers never pick the same one."""
    try:
        ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral = 32768
    low = 10000
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    index = int(worker) if worker.isdigit() else 0
    width = (ephemeral - low) // max(count, 1)
    if width < 500:  # an unusual machine: the kernel's own pick
        return range(0)
    return range(low + index * width, low + (index + 1) * width)


PORTS = _port_slice()
_picked: set[int] = set()


def free_port() -> int:
    """A port nothing listens on, picked at random in this process's slice and never
    twice (a stopped server's port may still be in TIME_WAIT)."""
    rng = random.SystemRandom()
    for _ in range(200) if PORTS else ():
        port = rng.choice(PORTS)
        if port in _picked:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _picked.add(port)
        return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# Servers started by one pytest process share a cluster name of their own on the shared
# Redis: servers of another run (an xdist worker, a second checkout) never join them.
CLUSTER_NAME = f"tests-{os.getpid()}"


def make_token(
    sub: str = "u1",
    org: str = "acme",
    *,
    secret: str = SECRET,
    ttl: float = 3600,
    alg: str = "HS256",
    exact: bool = False,
    **claims: Any,
) -> str:
    """A signed token; `exact` keeps a fractional exp so short lifetimes are precise."""
    exp = time.time() + ttl
    payload: dict[str, Any] = {"sub": sub, "org": org, "exp": exp if exact else int(exp), **claims}
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, secret, algorithm=alg)


class Client:
    """An AsyncClient that records every event it receives, for `await next(event)`."""

    def __init__(
        self,
        url: str,
        *,
        reconnection: bool = False,
        http_session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.url = url
        # `http_session`: e.g. one bound to another loopback source address.
        self.sio = socketio.AsyncClient(reconnection=reconnection, http_session=http_session)
        self.received: dict[str, list[Any]] = defaultdict(list)
        self.arrivals: list[str] = []  # every event's name, in the order they arrived
        self._read: dict[str, int] = defaultdict(int)
        self._arrived = asyncio.Event()
        self.connect_error: Any = None
        self.disconnected = asyncio.Event()
        self.disconnect_reason: str | None = None

        self.offsets: list[str] = []  # the recovery offsets (contract section 12), in order

        @self.sio.on("*")
        async def record(event: str, *args: Any) -> None:
            if len(args) > 1 and isinstance(args[-1], str):
                self.offsets.append(args[-1])
                args = args[:-1]
            self.received[event].append(args[0] if len(args) == 1 else list(args))
            self.arrivals.append(event)
            self._arrived.set()

        @self.sio.event
        async def connect_error(data: Any) -> None:
            self.connect_error = data

        @self.sio.event
        async def disconnect(reason: Any = None) -> None:
            self.disconnect_reason = reason
            self.disconnected.set()

    @property
    def sid(self) -> str | None:
        return self.sio.get_sid()

    async def connect(
        self,
        token: str | None = None,
        *,
        transport: str = "websocket",
        auth: dict | None = None,
        headers: dict | None = None,
        wait: bool = True,
    ) -> Client:
        if auth is None and token is not None:
            auth = {"token": token}
        await self.sio.connect(
            self.url, auth=auth, headers=headers or {}, transports=[transport], wait_timeout=5
        )
        if wait:
            await self.next("connected")
        return self

    async def next(self, event: str, timeout: float = 5.0) -> Any:
        """The next not yet read payload of `event`, waiting for it if needed."""
        deadline = time.monotonic() + timeout
        while True:
            index = self._read[event]
            if len(self.received[event]) > index:
                self._read[event] = index + 1
                return self.received[event][index]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {event!r} within {timeout} s; got {dict(self.received)}")
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                pass

    async def nothing(self, event: str, within: float = 0.3) -> None:
        """Assert that no new `event` arrives within `within` seconds."""
        before = len(self.received[event]) - self._read[event]
        await asyncio.sleep(within)
        extra = self.received[event][self._read[event] :]
        assert len(extra) == before == 0, f"unexpected {event!r}: {extra}"

    def unread(self, event: str) -> list[Any]:
        items = self.received[event][self._read[event] :]
        self._read[event] = len(self.received[event])
        return items

    async def call(self, event: str, data: Any = None, timeout: float = 5.0) -> Any:
        if data is None:
            return await self.sio.call(event, timeout=timeout)
        return await self.sio.call(event, data, timeout=timeout)

    async def emit(self, event: str, data: Any = None) -> None:
        await self.sio.emit(event, data)

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()
        await asyncio.sleep(0)


class LiveServer:
    """`lvng serve` on a free port in a scratch directory, stopped by `stop()`."""

    instances: list[LiveServer] = []  # every server of the session, for client clean-up

    def __init__(
        self, workdir: Path, env: dict[str, str] | None = None, args: list[str] | None = None
    ) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.secret = SECRET
        self.env = {
            "LVNG_JWT_SECRET": SECRET,
            "LVNG_PLUGIN_MODULES": PROBE_PLUGIN,
            "LVNG_ENTRY_POINTS": "false",
            "LVNG_STRICT_DOMAIN_EVENTS": "true",  # a bad domain event fails its handler
            "LVNG_CLUSTER_NAME": CLUSTER_NAME,
            **(env or {}),
        }
        self.args = args or []
        self.proc: subprocess.Popen | None = None
        self.log_path = workdir / f"server-{self.port}.log"
        self.clients: list[Client] = []
        LiveServer.instances.append(self)

    def command(self) -> list[str]:
        return [sys.executable, "-m", "core.cli", "serve", "--port", str(self.port), *self.args]

    def process_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LVNG_")}
        env.update(self.env)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        return env

    def start(self, timeout: float = 30.0) -> LiveServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.command(),
            cwd=self.workdir,
            env=self.process_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server did not start within {timeout} s:\n{self.log()}")

    def stop(self, sig: signal.Signals = signal.SIGINT) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def kill(self) -> None:
        """End the server as a crash would (SIGKILL): no goodbye to anyone."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def restart(self) -> LiveServer:
        self.stop()
        return self.start()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def token(self, sub: str = "u1", org: str = "acme", **claims: Any) -> str:
        return make_token(sub, org, secret=self.secret, **claims)

    async def connect(
        self, sub: str = "u1", org: str = "acme", *, transport: str = "websocket", **claims: Any
    ) -> Client:
        """A connected client for a fresh token of `sub` in `org`."""
        client = Client(self.url)
        self.clients.append(client)
        return await client.connect(self.token(sub, org, **claims), transport=transport)

    def client(self) -> Client:
        client = Client(self.url)
        self.clients.append(client)
        return client

    async def close_clients(self) -> None:
        for client in self.clients:
            try:
                await client.close()
            except Exception:  # noqa: BLE001 - best effort at teardown
                pass
        self.clients.clear()

    async def http(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json: Any = None,
        data: Any = None,
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with aiohttp.ClientSession() as session:
            async with session.request(
                method, self.url + path, headers=headers, json=json, data=data
            ) as resp:
                text = await resp.text()
                try:
                    body: Any = await resp.json(content_type=None)
                except ValueError:
                    body = text
                return resp.status, body

    async def metric(self, name: str, /, **labels: str) -> float:
        """The current value of one sample in /metrics (0 when absent)."""
        status, text = await self.http("GET", "/metrics")
        assert status == 200
        return sample_value(text, name, **labels)


def sample_value(text: str, name: str, /, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        metric, _, value = line.rpartition(" ")
        if "{" in metric:
            metric_name, _, label_text = metric.partition("{")
            found = dict(part.split("=", 1) for part in label_text.rstrip("}").split(",") if part)
            found = {k: v.strip('"') for k, v in found.items()}
        else:
            metric_name, found = metric, {}
        if metric_name == name and found == labels:
            return float(value)
    return 0.0

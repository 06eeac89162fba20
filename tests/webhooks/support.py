"""The webhooks tests' receiver: a real HTTP server in the test's process (aiohttp) that
records every POST and answers as the test says; and the config that points at it."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from standardwebhooks import Webhook

from tests.live import free_port

SECRET = "whsec_" + base64.b64encode(b"lvng-webhooks-test-key-0123456789").decode()


@dataclass
class Received:
    endpoint: str
    headers: dict[str, str]
    body: str
    status: int  # what the receiver answered
    at: float = field(default_factory=time.monotonic)

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    def verified(self, secret: str = SECRET) -> Any:
        """The payload, as the app's `standardwebhooks` check gives it (raises if bad)."""
        return Webhook(secret).verify(self.body, self.headers)


class Receiver:
    """POST /{endpoint}: recorded; answered with `status[endpoint]` (200 when unset) after
    `delay[endpoint]` seconds."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[Received] = []
        self.status: dict[str, int] = {}
        self.delay: dict[str, float] = {}
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None

    def url(self, endpoint: str) -> str:
        return f"http://127.0.0.1:{self.port}/{endpoint}"

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/{endpoint}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        endpoint = request.match_info["endpoint"]
        body = await request.text()
        if self.delay.get(endpoint):
            await asyncio.sleep(self.delay[endpoint])
        status = self.status.get(endpoint, 200)
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.received.append(Received(endpoint, headers, body, status))
        self._changed.set()
        return web.Response(status=status)

    def at(self, endpoint: str) -> list[Received]:
        return [r for r in self.received if r.endpoint == endpoint]

    def accepted(self, endpoint: str) -> list[Received]:
        return [r for r in self.at(endpoint) if 200 <= r.status < 300]

    async def until(self, check: Callable[[], bool], timeout: float = 20.0) -> None:
        """Wait for deliveries until `check()` holds (each arrival looks again)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not check():
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise AssertionError(f"not within {timeout} s; received: {self.summary()}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                pass

    def summary(self) -> list[tuple[str, int, str]]:
        return [(r.endpoint, r.status, r.webhook_id) for r in self.received]


def endpoint_toml(
    receiver: Receiver,
    name: str,
    *,
    events: tuple[str, ...] = ("*",),
    organizations: tuple[str, ...] | None = None,
    secret: str = SECRET,
) -> str:
    lines = [
        "[[plugins.webhooks.endpoints]]",
        f'name = "{name}"',
        f'url = "{receiver.url(name)}"',
        f'secret = "{secret}"',
        f"events = {json.dumps(list(events))}",
    ]
    if organizations is not None:
        lines.append(f"organizations = {json.dumps(list(organizations))}")
    return "\n".join(lines) + "\n"


def config(settings: dict[str, float], endpoints: list[str]) -> str:
    head = "[plugins.webhooks]\n" + "".join(f"{k} = {v}\n" for k, v in settings.items())
    return head + "\n" + "\n".join(endpoints)


def write_config(directory: Path, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "lvng.toml"
    path.write_text(text)
    return path


async def send_messages(client: Any, channel: str, count: int, prefix: str = "m") -> list[str]:
    """`count` messages in `channel` (joined here); their ids, in order."""
    assert (await client.call("channel:join", {"channelId": channel}))["ok"]
    ids = []
    for n in range(count):
        ack = await client.call("message:send", {"channelId": channel, "content": f"{prefix}{n}"})
        assert ack["ok"], ack
        ids.append(ack["id"])
    return ids


def contents(received: list[Received]) -> list[str]:
    return [r.verified()["data"]["message"]["content"] for r in received]


async def eventually(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 15) -> None:
    """Poll `check` until it holds: the courier records a delivery (the row's state, the
    counters) just after the receiver answered, so a test that saw the POST asks until the
    record is there too."""
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        await asyncio.sleep(0.05)

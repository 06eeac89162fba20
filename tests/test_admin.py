"""The inspection page (`GET /admin`) and its admin-only routes; the page driven in
headless Chromium (Debian's `chromium`) over the DevTools protocol."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.services import IN_CI

ORG = "inspect-org"


async def test_the_data_routes_are_for_admins_of_their_own_organization(server):
    status, body = await server.http("GET", "/api/v1/admin/overview")
    assert (status, body["error"]["code"]) == (401, "AUTH_REQUIRED")
    status, body = await server.http(
        "GET", "/api/v1/admin/overview", token=server.token("plain", "acme-a")
    )
    assert (status, body["error"]["code"]) == (403, "FORBIDDEN")

    await server.connect("someone", "acme-other")
    mine = await server.connect("watched", "acme-a")
    assert (await mine.call("no:such", {}))["ok"] is False
    status, body = await server.http(
        "GET", "/api/v1/admin/overview", token=server.token("boss", "acme-a", roles=["admin"])
    )
    assert status == 200
    assert body["organizationId"] == "acme-a"
    assert [c["userId"] for c in body["connections"]] == ["watched"]  # not acme-other's
    assert {"room": "org:acme-a", "kind": "org", "sockets": 1, "users": 1} in body["rooms"]
    assert body["errors"][0]["code"] == "UNKNOWN_EVENT"
    assert body["errors"][0]["event"] == "no:such"
    assert set(body["sections"]) >= {"presence", "calls", "swarm"}
    by_name = {p["name"]: p for p in body["plugins"]}
    assert "message:send" in by_name["messages"]["events"]
    assert "message:new" in by_name["messages"]["emits"]
    assert any(m["name"] == "lvng_connections_active" for m in by_name["core"]["metrics"])

    status, page = await server.http("GET", "/admin")
    assert status == 200 and "<title>LVNG inspection</title>" in page
    status, script = await server.http("GET", "/admin/socket.io.min.js")
    assert status == 200 and "Socket.IO v4" in script


# --- the page in Chromium ----------------------------------------------------------------


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    message = "chromium is not installed (apt-get install chromium; .ci/run does)"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


class Page:
    """One tab over the DevTools protocol: evaluate JavaScript, wait for a condition."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = itertools.count(1)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        number = next(self.ids)
        await self.ws.send_json({"id": number, "method": method, "params": params})
        while True:
            message = await asyncio.wait_for(self.ws.receive_json(), 10)
            if message.get("id") == number:
                assert "error" not in message, message
                return message["result"]

    async def eval(self, expression: str) -> Any:
        result = await self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    async def text(self, element_id: str) -> str:
        # Empty until the page has loaded (navigating returns before it has).
        found = f"document.getElementById({json.dumps(element_id)})"
        return await self.eval(f"{found} ? {found}.innerText : ''")

    async def wait_for_text(self, element_id: str, pattern: str, timeout: float = 10) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = await self.text(element_id)
            if re.search(pattern, text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"#{element_id} never showed {pattern!r}: {text!r}")
            await asyncio.sleep(0.2)  # polling the page's DOM, not waiting for the server


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[Page]:
    process = subprocess.Popen(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-dev-shm-usage",
            "--remote-debugging-port=0",
            f"--user-data-dir={tmp_path / 'profile'}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        deadline = time.monotonic() + 30
        endpoint = None
        while endpoint is None and time.monotonic() < deadline:
            line = await asyncio.to_thread(process.stderr.readline)
            match = re.search(r"DevTools listening on (ws://\S+)", line)
            if match:
                endpoint = match.group(1)
            elif not line and process.poll() is not None:
                break
        assert endpoint, "chromium did not start"
        port = re.search(r":(\d+)/", endpoint).group(1)
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/json/list") as answer:
                targets = await answer.json()
            target = next(t for t in targets if t["type"] == "page")
            async with session.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                page = Page(ws)
                await page.send("Runtime.enable")
                yield page
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


async def test_the_page_shows_the_server_live_and_its_playground_talks(server, browser):
    service = server.token("agent", ORG, roles=["service"])
    alice = await server.connect("alice", ORG, name="Alice")
    assert (await alice.call("channel:join", {"channelId": "inspect-general"}))["ok"]
    assert (await alice.next("channel:join"))["userId"] == "alice"
    assert (await alice.call("call:join", {"roomName": "standup"}))["ok"]
    assert (await alice.call("presence:update", {"status": "busy", "customStatus": "Inspecting"}))[
        "ok"
    ]
    status, _ = await server.http(
        "POST",
        "/api/v1/swarm/sessions/inspect-swarm-1/events",
        token=service,
        json={"type": "session.started", "agent": "planner"},
    )
    assert status == 201
    assert (await alice.call("swarm:subscribe", {"sessionId": "inspect-swarm-1"}))["ok"]
    assert (await alice.call("call:leave", {"roomName": "no-such-call-here"}))["ok"]
    assert (await alice.call("message:send", {"channelId": "not-joined", "content": "x"}))[
        "ok"
    ] is False

    admin = server.token("inspector", ORG, name="Inspector", roles=["admin"])
    await browser.send("Page.navigate", url=f"{server.url}/admin#token={admin}")
    await browser.wait_for_text("status", rf"organization {ORG}")
    assert "token=" not in await browser.eval("location.href")  # out of the address bar
    connections = await browser.wait_for_text("connections", "Alice")
    assert "channel:inspect-general" in connections and "websocket" in connections
    assert re.search(r"channel:inspect-general\s+1\s+1", await browser.text("rooms"))
    assert re.search(r"Alice \(alice\)\s+busy\s+Inspecting", await browser.text("presence"))
    assert re.search(r"standup\s+call_\S+\s+Alice", await browser.text("calls"))
    assert re.search(r"inspect-swarm-1\s+running\s+1\s+alice", await browser.text("swarm"))
    assert "NOT_IN_ROOM" in await browser.text("errors")
    plugins = await browser.text("plugins")
    assert "→ message:new" in plugins and "lvng_messages_" in plugins
    assert "lvng_connections_active" in plugins

    # The playground: connect with the page's token, join alice's channel, send a message.
    await browser.eval("document.getElementById('play-connect').click()")
    await browser.wait_for_text("play-state", r"^connected ")
    await browser.eval(
        "document.getElementById('play-room').value = 'inspect-general';"
        "document.getElementById('play-join').click()"
    )
    joined = await alice.next("channel:join")
    assert (joined["userId"], joined["userName"]) == ("inspector", "Inspector")
    await browser.wait_for_text("play-log", r"ack channel:join .*\"ok\":true")
    await browser.eval(
        "document.getElementById('play-payload').value = JSON.stringify("
        "{channelId: 'inspect-general', content: 'hello from the page'});"
        "document.getElementById('play-send').click()"
    )
    message = await alice.next("message:new")
    assert (message["userId"], message["content"]) == ("inspector", "hello from the page")
    await browser.wait_for_text("play-log", r"← message:new .*hello from the page")
    # The page's own socket is now one of the connections it lists.
    await browser.wait_for_text("connections", r"Inspector \(inspector\)")

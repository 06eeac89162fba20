"""The inspection page (`GET /admin`) and its admin-only routes; the page driven in
headless Chromium (Debian's `chromium`) over the DevTools protocol."""

from __future__ import annotations

import asyncio
import base64
import io
import itertools
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.messages.support import in_channel, uid
from tests.services import IN_CI

ORG = "inspect-org"


async def test_the_data_routes_are_for_admins_of_their_own_organization(server):
    org, other = uid("acme"), uid("other")
    status, body = await server.http("GET", "/api/v1/admin/overview")
    assert (status, body["error"]["code"]) == (401, "AUTH_REQUIRED")
    for roles in ([], ["operator"], ["service"]):
        status, body = await server.http(
            "GET", "/api/v1/admin/overview", token=server.token("plain", org, roles=roles)
        )
        assert (status, body["error"]) == (
            403,
            {"code": "FORBIDDEN", "message": "this needs a token with the admin role"},
        )

    await server.connect("someone", other)
    mine = await server.connect("watched", org)
    assert (await mine.call("no:such", {}))["ok"] is False
    assert (await mine.call("probe:echo", {"text": "x"}))["ok"] is True
    status, body = await server.http(
        "GET", "/api/v1/admin/overview", token=server.token("boss", org, roles=["admin"])
    )
    assert status == 200
    assert body["organizationId"] == org
    assert [c["userId"] for c in body["connections"]] == ["watched"]  # not the other org's
    assert {"room": f"org:{org}", "kind": "org", "sockets": 1, "users": 1} in body["rooms"]
    assert body["connections"][0]["rooms"] == [
        {"room": f"org:{org}", "scope": f"org:{org}", "removable": False},
        {"room": "user:watched", "scope": "user:watched", "removable": False},
    ]
    assert body["errors"][0]["code"] == "UNKNOWN_EVENT"
    assert body["errors"][0]["event"] == "no:such"
    assert set(body["sections"]) >= {"presence", "calls", "swarm"}
    # The organization's own figures on this node: its socket, its two events (one failed),
    # what was delivered to its sockets (connected, error, probe:echoed, its presence).
    figures = body["figures"]
    assert (figures["connections"], figures["events"], figures["errors"]) == (1, 2, 1)
    assert figures["deliveries"] >= 3
    assert "node" not in body
    by_name = {p["name"]: p for p in body["plugins"]}
    assert "message:send" in by_name["messages"]["events"]
    assert "message:new" in by_name["messages"]["emits"]
    assert "metrics" not in by_name["core"]  # the node's values: for operators

    status, page = await server.http("GET", "/admin")
    assert status == 200 and "<title>LVNG inspection</title>" in page
    status, script = await server.http("GET", "/admin/socket.io.min.js")
    assert status == 200 and "Socket.IO v4" in script


async def test_node_wide_figures_and_metrics_need_the_operator_role(server):
    org = uid("ops")
    admin = server.token("boss", org, roles=["admin"])
    operator = server.token("ops", org, roles=["operator"])
    status, body = await server.http("GET", "/api/v1/admin/node", token=admin)
    assert (status, body["error"]["message"]) == (403, "this needs a token with the operator role")
    await server.connect("counted", org)
    status, node = await server.http("GET", "/api/v1/admin/node", token=operator)
    assert status == 200
    assert node["figures"]["connections"] >= 1 and node["organizations"] >= 1
    assert node["figures"]["events"] >= node["figures"]["errors"] >= 0
    core = next(p for p in node["plugins"] if p["name"] == "core")
    assert any(m["name"] == "lvng_connections_active" for m in core["metrics"])
    # The plugins route: events for both roles, metric values for operators only.
    status, listed = await server.http("GET", "/api/v1/admin/plugins", token=admin)
    assert status == 200 and all("metrics" not in p for p in listed["plugins"])
    status, listed = await server.http("GET", "/api/v1/admin/plugins", token=operator)
    assert status == 200 and all("metrics" in p for p in listed["plugins"])
    # An operator sees no organization's users: the overview is an admin's.
    status, _ = await server.http("GET", "/api/v1/admin/overview", token=operator)
    assert status == 403


# --- actions ------------------------------------------------------------------------------


async def test_an_admin_disconnects_its_own_users_sockets_and_no_one_elses(server):
    org, other = uid("acme"), uid("other")
    phone = await server.connect("alice", org, name="Alice")
    laptop = await server.connect("alice", org, name="Alice")
    namesake = await server.connect("alice", other)  # same user id, another organization
    path = "/api/v1/admin/users/alice/disconnect"
    for token in (server.token("bob", org), server.token("ops", org, roles=["operator"])):
        status, body = await server.http("POST", path, token=token)
        assert (status, body["error"]["code"]) == (403, "FORBIDDEN")
    assert phone.sio.connected and laptop.sio.connected

    status, body = await server.http(
        "POST", path, token=server.token("boss", org, name="Boss", roles=["admin"])
    )
    assert status == 202
    assert body == {"action": "disconnect", "userId": "alice", "organizationId": org}
    for client in (phone, laptop):
        await asyncio.wait_for(client.disconnected.wait(), 5)
        assert client.disconnect_reason == "server disconnect"  # final: no reconnection
    assert namesake.sio.connected
    assert (await namesake.call("probe:echo", {"text": "still"}))["ok"] is True
    assert (
        f"disconnecting 2 socket(s) of user alice (organization {org}), "
        f"asked by boss (admin of {org})"
    ) in server.log()
    status, body = await server.http(
        "POST",
        "/api/v1/admin/users/not%20an%20id/disconnect",
        token=server.token("boss", org, roles=["admin"]),
    )
    assert (status, body["error"]["code"]) == (400, "VALIDATION_ERROR")


async def test_an_admin_removes_a_user_from_a_room_and_each_domain_tells_it(server):
    """Every domain through the kit's own path (`lvng_client_left_room`, reason
    `removed`): the room hears the user leave as the domain tells a leave, and the removed
    socket is told too; the user may join again."""
    org, channel, customer = uid("acme"), uid("ch"), uid("cust")
    admin = server.token("boss", org, name="Boss", roles=["admin"])
    claims = {"customers": [customer]}
    alice = await server.connect("alice", org, name="Alice", **claims)
    bob = await server.connect("bob", org, name="Bob", **claims)
    conversation = {"conversationId": uid("conv"), "customerId": customer}
    for client in (alice, bob):
        assert (await client.call("channel:join", {"channelId": channel}))["ok"]
        assert (await client.call("conversation:join", conversation))["ok"]
        assert (await client.call("call:join", {"roomName": "standup"}))["ok"]
        assert (await client.call("swarm:subscribe", {"sessionId": f"{org}-s1"}))["ok"]
        assert (await client.call("activity:subscribe", {"customerId": customer}))["ok"]

    async def remove(scope: str) -> None:
        status, body = await server.http(
            "POST", "/api/v1/admin/users/alice/remove", token=admin, json={"room": scope}
        )
        assert status == 202, body
        assert body["room"] == scope and body["userId"] == "alice"

    await remove(f"channel:{channel}")
    left = await bob.next("channel:leave")
    assert (left["userId"], left["channelId"], left["reason"]) == ("alice", channel, "removed")
    assert (await alice.next("channel:leave"))["reason"] == "removed"
    refused = await alice.call("message:send", {"channelId": channel, "content": "x"})
    assert refused["error"]["code"] == "NOT_IN_ROOM"

    await remove(f"customer:{customer}:conversation:{conversation['conversationId']}")
    assert (await bob.next("member:left"))["userId"] == "alice"
    assert (await alice.next("member:left"))["userId"] == "alice"

    await remove("call:standup")
    gone = await bob.next("call:participant_left")
    assert (gone["userId"], gone["reason"]) == ("alice", "left")
    told = await alice.next("call:participant_left")
    assert (told["userId"], told["reason"], told["callId"]) == ("alice", "removed", gone["callId"])

    await remove(f"swarm:{org}-s1")
    assert await alice.next("swarm:unsubscribed") == {"sessionId": f"{org}-s1"}
    await remove(f"activity:{customer}")
    assert await alice.next("activity:unsubscribed") == {"customerId": customer}
    await bob.nothing("swarm:unsubscribed", within=0.05)
    await bob.nothing("activity:unsubscribed", within=0.05)

    # A kick, not a ban: alice joins again.
    assert (await alice.call("channel:join", {"channelId": channel}))["ok"]
    assert f"from channel:{channel}, asked by boss (admin of {org})" in server.log()
    # The org and user rooms are left by disconnecting, not by a removal.
    status, body = await server.http(
        "POST", "/api/v1/admin/users/alice/remove", token=admin, json={"room": f"org:{org}"}
    )
    assert (status, body["error"]["code"]) == (400, "VALIDATION_ERROR")
    status, body = await server.http(
        "POST",
        "/api/v1/admin/users/alice/remove",
        token=server.token("bob", org),
        json={"room": f"channel:{channel}"},
    )
    assert status == 403


async def test_actions_reach_the_users_sockets_on_every_node(cluster):
    nodes = cluster()
    a, b = nodes.start_node(), nodes.start_node()
    org, channel = uid("org"), uid("ch")
    alice_b = await in_channel(b, org, channel, "alice", name="Alice")
    bob_a = await in_channel(a, org, channel, "bob", name="Bob")
    admin = a.token("boss", org, roles=["admin"])
    status, _ = await a.http(
        "POST", "/api/v1/admin/users/alice/remove", token=admin, json={"room": f"channel:{channel}"}
    )
    assert status == 202
    left = await bob_a.next("channel:leave")
    assert (left["userId"], left["reason"]) == ("alice", "removed")
    assert (await alice_b.next("channel:leave"))["reason"] == "removed"
    status, _ = await a.http("POST", "/api/v1/admin/users/alice/disconnect", token=admin)
    assert status == 202
    await asyncio.wait_for(alice_b.disconnected.wait(), 5)
    assert bob_a.sio.connected
    assert f"disconnecting 1 socket(s) of user alice (organization {org})" in b.log()


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

    async def click(self, selector: str) -> None:
        await self.eval(f"document.querySelector({json.dumps(selector)}).click()")

    async def wait_until(self, expression: str, timeout: float = 15) -> Any:
        """Poll the page until `expression` is truthy (the page refreshes every 3 s)."""
        deadline = time.monotonic() + timeout
        while not (value := await self.eval(expression)):
            if time.monotonic() > deadline:
                raise AssertionError(f"never true: {expression}")
            await asyncio.sleep(0.2)  # polling the page's DOM, not waiting for the server
        return value

    async def screenshot(self, element_id: str) -> tuple[bytes, dict[str, float]]:
        """A PNG of one element, scrolled into view, at one device pixel per CSS pixel."""
        box = await self.eval(
            f"(() => {{ const e = document.getElementById({json.dumps(element_id)});"
            "e.scrollIntoView(); const r = e.getBoundingClientRect();"
            "return {x: r.x + scrollX, y: r.y + scrollY, width: r.width, height: r.height}; })()"
        )
        shot = await self.send(
            "Page.captureScreenshot",
            format="png",
            captureBeyondViewport=True,
            clip={**box, "scale": 1},
        )
        return base64.b64decode(shot["data"]), box

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
            "--disable-quic",
            "--no-first-run",
            # This machine has no network but loopback: without these, Chromium's own
            # background requests are refused, many at a time.
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--window-size=1400,1000",
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

    admin = server.token("inspector", ORG, name="Inspector", roles=["admin", "operator"])
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
    assert "lvng_connections_active" in plugins  # an operator's token: the node's metrics
    assert re.search(
        r"process\s+pid \d+\s+connections\s+\d+ of \d+ organization", await browser.text("node")
    )

    # Readable times: relative, on one line, the exact time on hover; no scroll box inside
    # the page's own.
    since = await browser.eval(
        "[...document.querySelectorAll('#connections time')].map(t => [t.innerText, t.title,"
        " getComputedStyle(t).whiteSpace])"
    )
    assert since and all(
        re.fullmatch(r"just now|\d+ s ago", text) and "Z)" in title and space == "nowrap"
        for text, title, space in since
    ), since
    assert (
        await browser.eval(
            "[...document.querySelectorAll('body *:not(textarea)')].filter(e => ['auto', 'scroll']"
            ".includes(getComputedStyle(e).overflowY)).map(e => e.id || e.tagName)"
        )
        == []
    )
    # The charts: the page's own samples, the organization's and the node's.
    await browser.wait_until(
        "document.querySelector('#chart-events polyline[data-series=org]')"
        "?.dataset.points >= 2 && document.querySelector('#chart-events "
        "polyline[data-series=node]')?.dataset.points >= 2"
    )

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

    # Acting: remove alice from the channel, then disconnect her (each button asks to be
    # clicked again to confirm).
    remove = (
        "[...document.querySelectorAll('#connections .chip')]"
        ".find(c => c.firstChild.textContent === 'channel:inspect-general'"
        " && c.closest('tr').innerText.startsWith('Alice')).querySelector('button')"
    )
    await browser.eval(f"{remove}.click()")
    assert await browser.eval(f"{remove}.textContent") == "confirm?"
    await browser.eval(f"{remove}.click()")
    left = await alice.next("channel:leave")
    assert (left["userId"], left["reason"]) == ("alice", "removed")
    await browser.wait_for_text("action-status", "asked every node to remove alice")
    disconnect = (
        "[...document.querySelectorAll('#connections tr')]"
        ".find(r => r.innerText.startsWith('Alice')).querySelector('td:last-child button')"
    )
    await browser.eval(f"{disconnect}.click(); {disconnect}.click()")
    await asyncio.wait_for(alice.disconnected.wait(), 5)
    await browser.wait_for_text("action-status", "asked every node to disconnect alice")
    await browser.wait_until(
        "!document.getElementById('connections').innerText.includes('Alice (alice)')"
    )
    assert "asked by inspector (admin of inspect-org)" in server.log()


async def test_the_page_refuses_a_token_without_the_roles_and_an_operator_sees_no_users(
    server, browser
):
    org = uid("plain")
    await server.connect("carol", org, name="Carol")
    await browser.send(
        "Page.navigate", url=f"{server.url}/admin#token={server.token('carol', org)}"
    )
    status = await browser.wait_for_text("status", "FORBIDDEN")
    assert "needs a token with the admin role" in status
    assert await browser.eval("document.querySelectorAll('button.act').length") == 0
    assert await browser.eval("document.getElementById('card-connections').hidden") is True

    operator = server.token("ops", org, roles=["operator"])
    await browser.eval(f"sessionStorage.setItem('lvng-admin-token', {json.dumps(operator)})")
    # Loaded again by the protocol, which answers once the new page is committed: a
    # `location.reload()` in the page let the next evaluation land on the page going away
    # ("Inspected target navigated or closed", once in a shuffled run).
    await browser.send("Page.navigate", url=f"{server.url}/admin")
    await browser.wait_for_text("status", r"node pid \d+")
    assert await browser.eval("document.getElementById('card-node').hidden") is False
    assert await browser.eval("document.getElementById('card-connections').hidden") is True
    assert await browser.eval("document.querySelectorAll('button.act').length") == 0
    assert "lvng_connections_active" in await browser.text("plugins")


# Every card of the page, as it is laid out with data in it.
CARDS = [
    "card-activity",
    "card-node",
    "card-connections",
    "card-rooms",
    "card-presence",
    "card-calls",
    "card-swarm",
    "card-errors",
    "card-plugins",
    "card-sections",
    "playground",
]


async def test_a_screenshot_of_each_card(server, browser, tmp_path):
    """Each card rendered in Chromium: a picture of its own size, with something drawn in
    it (text, the charts' lines in their colours). The pictures are kept in
    $LVNG_SCREENSHOTS when set, to look at."""
    from PIL import Image

    org = uid("shots")
    service = server.token("agent", org, roles=["service"])
    alice = await server.connect("alice", org, name="Alice")
    bob = await server.connect("bob", org, name="Bob")
    for client in (alice, bob):
        assert (await client.call("channel:join", {"channelId": f"{org}-general"}))["ok"]
        assert (await client.call("call:join", {"roomName": "standup"}))["ok"]
    assert (await alice.call("presence:update", {"status": "busy", "customStatus": "Lunch"}))["ok"]
    status, _ = await server.http(
        "POST",
        f"/api/v1/swarm/sessions/{org}-swarm/events",
        token=service,
        json={"type": "session.started", "agent": "planner"},
    )
    assert status == 201
    assert (await bob.call("swarm:subscribe", {"sessionId": f"{org}-swarm"}))["ok"]
    assert (await bob.call("message:send", {"channelId": "elsewhere", "content": "x"}))[
        "ok"
    ] is False
    token = server.token("inspector", org, name="Inspector", roles=["admin", "operator"])
    await browser.send("Page.navigate", url=f"{server.url}/admin#token={token}")
    await browser.wait_for_text("connections", "Bob")
    # Traffic between samples, so that the rate charts have something to draw.
    for n in range(3):
        await browser.wait_until(
            f"document.querySelector('#chart-events polyline[data-series=org]')"
            f"?.dataset.points >= {n + 1}"
        )
        await alice.call("message:send", {"channelId": f"{org}-general", "content": f"m{n}"})

    folder = Path(os.environ.get("LVNG_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    for card in CARDS:
        png, box = await browser.screenshot(card)
        (folder / f"{card}.png").write_bytes(png)
        image = Image.open(io.BytesIO(png)).convert("RGB")
        assert abs(image.width - round(box["width"])) <= 1, (card, image.size, box)
        assert abs(image.height - round(box["height"])) <= 1, (card, image.size, box)
        assert image.height > 40, (card, box)  # a heading and content, not an empty box
        colours = image.getcolors(maxcolors=1 << 16) or []
        assert len(colours) > 20, (card, len(colours))  # text was drawn in it
        if card == "card-activity":
            # The organization's line is drawn in the events chart itself (not only in
            # the legend), in its colour.
            chart = await browser.eval(
                "(() => { const c = document.getElementById('chart-events')"
                ".getBoundingClientRect(), d = document.getElementById('card-activity')"
                ".getBoundingClientRect(); return [c.x - d.x, c.y - d.y, c.right - d.x,"
                " c.bottom - d.y].map(Math.round); })()"
            )
            drawn = {colour for _, colour in image.crop(tuple(chart)).getcolors(1 << 16)}
            assert (0x2F, 0x6F, 0xDF) in drawn, (card, chart)

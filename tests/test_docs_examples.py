"""Every example of the domain pages (docs/events/*.md) run against a live server.

An example is a fenced block whose info string is `json example`: one JSON object, a step.
In a step's `data`, `$token:NAME` stands for a token of the cast's NAME (see below).

    {"as": "alice", "emit": "message:send", "data": {...},     a client event (with an ack)
     "ack": {...},                                               the ack, when given
     "receive": {"alice": [["message:sent", {...}], ...]}}      what each user then receives
    {"as": "agent", "http": "POST /api/v1/...", "body": {...}, "status": 201, "response": {...}}
    {"connect": "carol"}  /  {"disconnect": "bob"}  (then "receive" as above)

The cast: each page's one `json cast` block, `{user: claims}`: every token of the page,
socket or HTTP, is made of exactly those claims (plus `exp`), so an example runs with the
token its page describes. alice and bob connect before a page's first step. A page's steps
run in order on one server.

Comparison: objects have exactly the keys shown; a server-made id (`msg_…`, `act_…`,
`seg_…`, `call_…`) matches any id of that kind and stands for it in later steps, and an
ISO timestamp matches any timestamp. What a user receives is checked per event name, in
order; what a step does not list is not checked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.live import Client, LiveServer, make_token

DOCS = Path(__file__).resolve().parent.parent / "docs" / "events"
PAGES = ["connection", "messages", "presence", "calls", "swarm", "activity"]
BLOCK = re.compile(r"^```json example\n(.*?)^```", re.M | re.S)
CAST_BLOCK = re.compile(r"^```json cast\n(.*?)^```", re.M | re.S)
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
SERVER_ID = re.compile(r"^(msg|act|seg|call)_[0-9a-f-]+$")


def examples(page: str) -> list[dict[str, Any]]:
    text = (DOCS / f"{page}.md").read_text()
    steps = []
    for number, match in enumerate(BLOCK.finditer(text), 1):
        try:
            steps.append(json.loads(match.group(1)))
        except ValueError as exc:
            raise AssertionError(f"docs/events/{page}.md, example {number}: {exc}") from None
    assert steps, f"docs/events/{page}.md has no example"
    return steps


def cast(page: str) -> dict[str, dict[str, Any]]:
    """The page's cast: each user's token claims, as the page shows them."""
    blocks = CAST_BLOCK.findall((DOCS / f"{page}.md").read_text())
    assert len(blocks) == 1, f"docs/events/{page}.md needs one json cast block"
    claims: dict[str, dict[str, Any]] = json.loads(blocks[0])
    for name, given in claims.items():
        assert {"sub", "org"} <= set(given) and "exp" not in given, (page, name)
    return claims


def compare(expected: Any, actual: Any, ids: dict[str, str], where: str) -> list[str]:
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where}: expected an object, got {actual!r}"]
        problems = []
        missing, extra = set(expected) - set(actual), set(actual) - set(expected)
        if missing or extra:
            problems.append(
                f"{where}: keys missing {sorted(missing)}, not documented "
                f"{sorted(extra)}; actual {json.dumps(actual)[:600]}"
            )
        for key in set(expected) & set(actual):
            problems += compare(expected[key], actual[key], ids, f"{where}.{key}")
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{where}: expected {len(expected)} items, got {json.dumps(actual)[:600]}"]
        return [
            p
            for i, (e, a) in enumerate(zip(expected, actual, strict=True))
            for p in compare(e, a, ids, f"{where}[{i}]")
        ]
    if isinstance(expected, str) and TIMESTAMP.match(expected):
        ok = isinstance(actual, str) and TIMESTAMP.match(actual)
        return [] if ok else [f"{where}: expected a timestamp, got {actual!r}"]
    if isinstance(expected, str) and SERVER_ID.match(expected):
        kind = expected.split("_", 1)[0] + "_"
        if not (isinstance(actual, str) and actual.startswith(kind)):
            return [f"{where}: expected a {kind}… id, got {actual!r}"]
        if ids.setdefault(expected, actual) != actual:
            return [f"{where}: {expected} stood for {ids[expected]}, got {actual!r}"]
        return []
    if expected != actual:
        return [f"{where}: expected {expected!r}, got {actual!r}"]
    return []


def substitute(value: Any, ids: dict[str, str], tokens: Any = None) -> Any:
    """A documented id replaced by the server's own; `$token:NAME` by the token of the
    cast's NAME (`tokens`)."""
    if isinstance(value, dict):
        return {k: substitute(v, ids, tokens) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, ids, tokens) for v in value]
    if isinstance(value, str) and value.startswith("$token:") and tokens is not None:
        return tokens(value.removeprefix("$token:"))
    return ids.get(value, value) if isinstance(value, str) else value


@pytest.fixture
def docs_server(tmp_path) -> Iterator[LiveServer]:
    """A server of each page's own (the pages claim ids such as `general` for `acme`, and
    the presence page's first connect must be announced: on a server shared with the
    page before, alice came back within the grace period, in shuffled order), with the
    presence grace the presence page documents for its test server."""
    config = tmp_path / "lvng.toml"
    config.write_text("[plugins.presence]\noffline_grace_seconds = 0.5\n")
    live = LiveServer(tmp_path / "server", args=["--config", str(config)]).start()
    yield live
    live.stop()


class Run:
    def __init__(self, live: LiveServer, claims: dict[str, dict[str, Any]]) -> None:
        self.live = live
        self.claims = claims
        self.clients: dict[str, Client] = {}
        self.ids: dict[str, str] = {}

    def token(self, user: str) -> str:
        """The token of the page's cast for `user`, exactly (an `exp` an hour ahead)."""
        claims = dict(self.claims[user])
        return make_token(claims.pop("sub"), claims.pop("org"), secret=self.live.secret, **claims)

    async def connect(self, user: str) -> None:
        client = self.live.client()
        self.clients[user] = await client.connect(self.token(user))

    def drain(self) -> None:
        for client in self.clients.values():
            for event in list(client.received):
                client.unread(event)

    async def step(self, step: dict[str, Any], where: str) -> list[str]:
        self.drain()
        problems: list[str] = []
        if "connect" in step:
            await self.connect(step["connect"])
        elif "disconnect" in step:
            await self.clients.pop(step["disconnect"]).close()
        elif "http" in step:
            method, path = step["http"].split(" ", 1)
            token = self.token(step["as"])
            status, body = await self.live.http(
                method,
                substitute(path, self.ids),
                token=token,
                json=substitute(step.get("body"), self.ids),
            )
            if status != step["status"]:
                problems.append(f"{where}: status {status}, documented {step['status']}: {body}")
            if "response" in step:
                problems += compare(step["response"], body, self.ids, f"{where} response")
        else:
            client = self.clients[step["as"]]
            data = substitute(step.get("data"), self.ids, self.token)
            ack = await client.call(step["emit"], data)
            if "ack" in step:
                problems += compare(step["ack"], ack, self.ids, f"{where} ack")
        for user, events in step.get("receive", {}).items():
            for event, payload in events:
                got = await self.clients[user].next(event)
                problems += compare(payload, got, self.ids, f"{where} {user} ← {event}")
        return problems


@pytest.mark.parametrize("page", PAGES)
async def test_every_example_of_the_page_runs_as_documented(docs_server, page):
    run = Run(docs_server, cast(page))
    for user in ("alice", "bob"):
        await run.connect(user)
    if page == "presence":
        # A connect's `online` is announced by a task after `connected`: it may reach alice
        # after the first step's drain. A `presence:update {}` (nothing changes) takes the
        # user's presence turn, so its ack comes after that announcement was sent.
        for user in ("alice", "bob"):
            assert (await run.clients[user].call("presence:update", {}))["ok"] is True
    try:
        problems: list[str] = []
        for number, step in enumerate(examples(page), 1):
            problems += await run.step(step, f"docs/events/{page}.md example {number}")
            assert not problems, "\n".join(problems)
    finally:
        for client in run.clients.values():
            await client.close()

"""Derived writes in the cause's transaction (core/derived.py; docs/decisions.md, "Derived
writes in the cause's transaction (issues 26, 29)"), through live servers: a SIGKILL right
after acks, with sends still in flight, leaves every stored conversation message with its
feed item and its webhook outbox row, and nothing derived from a message not stored; after
the restart the feed and the outbox show them. A refused outbox row fails its message
alone, with the error every refused write has."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.live import LiveServer, free_port
from tests.messages.support import REFUSED_WRITE, in_conversation, uid
from tests.services import ScratchDatabase
from tests.webhooks.support import SECRET

SENDERS = 4
SENDS = 20  # per sender, all asked at once (80: one page of the feed)
KILL_AFTER = 30  # acks seen before the SIGKILL


def config(workdir: Path) -> Path:
    """An endpoint that never answers (nothing listens on its port): every outbox row
    stays pending, and the courier is quiet (one retry a minute)."""
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "lvng.toml"
    path.write_text(
        "[plugins.webhooks]\n"
        "retry_initial_seconds = 60\n"
        "timeout_seconds = 1\n\n"
        "[[plugins.webhooks.endpoints]]\n"
        'name = "app"\n'
        f'url = "http://127.0.0.1:{free_port()}/hooks"\n'
        f'secret = "{SECRET}"\n'
        'events = ["message.created"]\n'
    )
    return path


QUERIES = (
    "SELECT message_id FROM messages_message WHERE organization_id = {0}",
    "SELECT subject_id FROM activity_item WHERE organization_id = {0} AND type = 'message.created'",
    "SELECT body FROM webhooks_delivery WHERE organization_id = {0}",
)


def stored(database: Path, org: str) -> dict[str, set[str]]:
    """Message ids: stored, with a feed item, with an outbox row (read from the file)."""
    with sqlite3.connect(database) as conn:
        found = [[r[0] for r in conn.execute(q.format("?"), (org,))] for q in QUERIES]
    return _books(*found)


async def stored_in(url: str, org: str) -> dict[str, set[str]]:
    """`stored`, read from a PostgreSQL database."""
    conn = await asyncpg.connect(url)
    try:
        found = [[r[0] for r in await conn.fetch(q.format("$1"), org)] for q in QUERIES]
    finally:
        await conn.close()
    return _books(*found)


def _books(messages: list[str], items: list[str], bodies: list[str]) -> dict[str, set[str]]:
    outbox = [json.loads(b)["data"]["messageId"] for b in bodies]
    assert len(items) == len(set(items)) and len(outbox) == len(set(outbox))  # one each
    return {"messages": set(messages), "items": set(items), "outbox": set(outbox)}


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[str | None]:
    """None: the server's own SQLite file; else a migrated PostgreSQL database's url."""
    if request.param == "sqlite":
        yield None
        return
    scratch = await (await ScratchDatabase().create()).migrate()
    try:
        yield scratch.url
    finally:
        await scratch.drop()


async def test_a_sigkill_right_after_acks_leaves_every_message_with_its_item_and_webhook(
    tmp_path: Path, store: str | None
) -> None:
    workdir = tmp_path / "server"
    env = {} if store is None else {"LVNG_DATABASE_URL": store}
    live = LiveServer(workdir, env, ["--config", str(config(workdir))]).start()
    try:
        org, customer = uid("org"), uid("cust")
        conversations = [uid("conv") for _ in range(SENDERS)]
        senders = [
            await in_conversation(live, org, customer, conversation, f"s{i}")
            for i, conversation in enumerate(conversations)
        ]
        acked: list[str] = []
        enough = asyncio.Event()

        async def one(i: int, n: int) -> None:
            target = {"customerId": customer, "conversationId": conversations[i]}
            try:
                ack = await senders[i].call("message:send", {**target, "content": f"{i}.{n}"})
            except Exception:  # noqa: BLE001 - the server is gone: not acked
                return
            if ack.get("ok"):
                acked.append(ack["id"])
                if len(acked) >= KILL_AFTER:
                    enough.set()

        sends = [asyncio.ensure_future(one(i, n)) for n in range(SENDS) for i in range(SENDERS)]
        await asyncio.wait_for(enough.wait(), 30)
        live.kill()  # right after the 30th ack, with sends still in flight
        seen = list(acked)
        await asyncio.gather(*sends)
        await live.close_clients()

        if store is None:
            found = stored(workdir / "lvng.sqlite3", org)
        else:
            found = await stored_in(store, org)
        assert set(seen) <= found["messages"]  # acked means committed
        assert found["items"] == found["messages"], {
            "without item": found["messages"] - found["items"],
            "item without message": found["items"] - found["messages"],
        }
        assert found["outbox"] == found["messages"], {
            "without webhook": found["messages"] - found["outbox"],
            "webhook without message": found["outbox"] - found["messages"],
        }
        print(f"{len(seen)} acked, {len(found['messages'])} stored at the SIGKILL")

        # After the restart the feed and the outbox show them.
        live.start()
        reader = live.token("reader", org, customers=[customer])
        status, page = await live.http(
            "GET", f"/api/v1/customers/{customer}/activity?limit=100", token=reader
        )
        assert status == 200, page
        feed = {i["subject"]["id"] for i in page["items"] if i["type"] == "message.created"}
        assert set(seen) <= feed
        admin = live.token("admin", org, roles=["admin"])
        status, listing = await live.http(
            "GET", "/api/v1/admin/webhooks?state=pending", token=admin
        )
        assert status == 200, listing
        assert listing["pending"] == len(found["messages"])
    finally:
        await live.close_clients()
        live.stop()


SQLITE_REFUSE_OUTBOX = """
CREATE TRIGGER lvng_test_refuse BEFORE INSERT ON webhooks_delivery
WHEN NEW.body LIKE '%refuse my webhook%' BEGIN SELECT RAISE(ABORT, 'the test refuses it'); END;
"""


@pytest.fixture
async def refusing(tmp_path: Path) -> Any:
    workdir = tmp_path / "server"
    live = LiveServer(workdir, args=["--config", str(config(workdir))]).start()
    with sqlite3.connect(workdir / "lvng.sqlite3") as conn:
        conn.executescript(SQLITE_REFUSE_OUTBOX)
    try:
        yield live
    finally:
        await live.close_clients()
        live.stop()


async def test_a_refused_outbox_row_fails_its_message_alone(refusing: LiveServer) -> None:
    """Six conversations, five sends each, all at once: they share group-commit batches
    with the one whose outbox row the database refuses. That send fails, clearly; every
    other is stored with its item and its outbox row; nothing of the refused one is kept."""
    live = refusing
    org, customer = uid("org"), uid("cust")
    conversations = [uid("conv") for _ in range(6)]
    senders = [
        await in_conversation(live, org, customer, conversation, f"s{i}")
        for i, conversation in enumerate(conversations)
    ]

    def content(i: int, n: int) -> str:
        return "refuse my webhook" if (i, n) == (3, 2) else f"{i}.{n}"

    calls = [
        sender.call(
            "message:send",
            {"customerId": customer, "conversationId": conversations[i], "content": content(i, n)},
        )
        for n in range(5)
        for i, sender in enumerate(senders)
    ]
    acks = await asyncio.gather(*calls)
    refused = [a for a in acks if not a["ok"]]
    assert refused == [REFUSED_WRITE]
    kept = {a["id"] for a in acks if a["ok"]}
    assert len(kept) == 29
    found = stored(live.workdir / "lvng.sqlite3", org)
    assert found == {"messages": kept, "items": kept, "outbox": kept}
    assert "the test refuses it" in live.log()
    # The refused send is never heard: the room hears its other four, in order.
    heard = [(await senders[3].next("message:new"))["content"] for _ in range(4)]
    assert heard == ["3.0", "3.1", "3.3", "3.4"]

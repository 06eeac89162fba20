"""Upgrades by migration (issue 14): `lvng migrate` brings an empty database to head on
SQLite and PostgreSQL; `lvng serve` refuses a PostgreSQL database with pending migrations,
naming the command that fixes it; rows written at the previous head survive the upgrade
and read back through the HTTP API."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap

from tests.live import REPO, SECRET, LiveServer, make_token
from tests.messages.support import uid
from tests.test_cli import run_lvng

HEAD = sorted(
    [
        (path.parent.parent.name, path.stem)
        for name in ("messages", "presence", "calls", "swarm", "activity", "webhooks")
        for path in (REPO / "plugins" / name / "migrations").glob("0*.py")
    ]
    + [("core", path.stem) for path in (REPO / "core" / "customers" / "migrations").glob("0*.py")]
)
# What an earlier release had: the first migration of each plugin, no core app.
NEWEST = [
    ("activity", "0002_customer_owners_in_core"),
    ("calls", "0002_one_call_in_progress"),
    ("core", "0001_customers"),
    ("messages", "0002_channel_id_owned"),
    ("messages", "0003_customer_owners_in_core"),
    ("webhooks", "0001_initial"),
]
PREVIOUS = [m for m in HEAD if m not in NEWEST]


def _env(database_url: str) -> dict[str, str]:
    return {
        "LVNG_JWT_SECRET": SECRET,
        "LVNG_DATABASE_URL": database_url,
        "LVNG_ENTRY_POINTS": "false",
    }


# Run in a process of its own (Tortoise is process-global): migrate to PREVIOUS with
# Tortoise's own targets, then write a channel and two messages with that schema.
AT_PREVIOUS_HEAD = textwrap.dedent("""
    import asyncio, sys
    from datetime import UTC, datetime
    from tortoise import Tortoise
    from tortoise.migrations.api.migrate import migrate
    from core.cli import _database_config
    from core.clock import new_id
    from core.config import load_settings

    async def main(org, channel):
        config = _database_config(load_settings(None))
        for target in ("messages.0001_initial", "calls.0001_initial", "presence", "swarm",
                       "activity.0001_initial"):
            if target.split(".")[0] in config["apps"]:
                await migrate(config=config, target=target)
                await Tortoise.close_connections()
        from plugins.messages.models import Channel, ChannelMember, Message
        from plugins.messages.target import Target
        await Tortoise.init(config=config)
        moment = datetime.now(UTC)
        await Channel.create(organization_id=org, channel_id=channel, name=channel,
                             created_by="old", created_at=moment, updated_at=moment)
        await ChannelMember.create(organization_id=org, channel_id=channel, user_id="old",
                                   added_by="old", created_at=moment)
        for text in ("written before the upgrade", "and a second one"):
            await Message.create(message_id=new_id("msg"),
                                 **Target.channel(org, channel).rows(), channel_id=channel,
                                 user_id="old", user_name="Old Timer", content=text,
                                 created_at=moment, updated_at=moment)
        await Tortoise.close_connections()

    asyncio.run(main(*sys.argv[1:]))
""")


def _applied_sqlite(path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as conn:
        return sorted(conn.execute("SELECT app, name FROM tortoise_migrations").fetchall())


async def _applied_postgres(database) -> list[tuple[str, str]]:
    import asyncpg

    conn = await asyncpg.connect(database.url)
    try:
        if await conn.fetchval("SELECT to_regclass('tortoise_migrations')") is None:
            return []
        rows = await conn.fetch("SELECT app, name FROM tortoise_migrations")
    finally:
        await conn.close()
    return sorted((row["app"], row["name"]) for row in rows)


def test_serve_on_sqlite_migrates_an_empty_database_itself(tmp_path):
    live = LiveServer(tmp_path, {"LVNG_ENTRY_POINTS": "false"}).start()
    try:
        assert _applied_sqlite(tmp_path / "lvng.sqlite3") == HEAD
        assert "applied migration messages.0002_channel_id_owned" in live.log()
    finally:
        live.stop()


async def test_serve_refuses_pending_migrations_on_postgres_until_lvng_migrate(
    empty_postgres, tmp_path
):
    env = _env(empty_postgres.url)
    refused = run_lvng("serve", "--port", "1", env=env, cwd=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr.splitlines() == [
        f"lvng: error: the database has {len(HEAD)} pending migration(s) "
        "(core.0001_customers, activity.0001_initial, activity.0002_customer_owners_in_core and "
        f"{len(HEAD) - 3} more): run lvng migrate with the same settings, then start again"
    ]
    assert await _applied_postgres(empty_postgres) == []  # refusing wrote nothing at all

    migrated = run_lvng("migrate", env=env, cwd=tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    assert migrated.stdout.startswith(
        "lvng: applied webhooks.0001_initial, core.0001_customers, activity.0001_initial, "
    )
    assert await _applied_postgres(empty_postgres) == HEAD
    live = LiveServer(tmp_path, env).start()
    try:
        alice = await live.connect("alice", "acme")
        assert (await alice.call("channel:join", {"channelId": "general"}))["ok"] is True
        sent = await alice.call("message:send", {"channelId": "general", "content": "hi"})
        assert sent["ok"] is True
    finally:
        await live.close_clients()
        live.stop()


def _build_previous_head(env: dict[str, str], cwd, org: str, channel: str) -> None:
    full = {k: v for k, v in __import__("os").environ.items() if not k.startswith("LVNG_")}
    full.update(env, PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-c", AT_PREVIOUS_HEAD, org, channel],
        env=full,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


async def _read_back(live: LiveServer, org: str, channel: str) -> list[tuple[str, str]]:
    status, body = await live.http(
        "GET", f"/api/v1/channels/{channel}/messages", token=make_token("reader", org)
    )
    assert status == 200, body
    return [(m["userName"], m["content"]) for m in body["messages"]]


async def test_rows_of_the_previous_head_survive_the_upgrade_on_postgres(empty_postgres, tmp_path):
    env = _env(empty_postgres.url)
    org, channel = uid("org"), uid("ch")
    _build_previous_head(env, tmp_path, org, channel)
    assert await _applied_postgres(empty_postgres) == PREVIOUS

    refused = run_lvng("serve", "--port", "1", env=env, cwd=tmp_path)
    assert (refused.returncode, refused.stderr.splitlines()) == (
        2,
        [
            "lvng: error: the database has 6 pending migration(s) (core.0001_customers, "
            "activity.0002_customer_owners_in_core, calls.0002_one_call_in_progress and 3 "
            "more): run lvng migrate with the same settings, then start again"
        ],
    )
    migrated = run_lvng("migrate", env=env, cwd=tmp_path)
    assert (migrated.returncode, migrated.stdout) == (
        0,
        (
            "lvng: applied webhooks.0001_initial, core.0001_customers, "
            "activity.0002_customer_owners_in_core, "
            "calls.0002_one_call_in_progress, messages.0002_channel_id_owned, "
            "messages.0003_customer_owners_in_core; "
            "schema up to date for core, webhooks, activity, calls, swarm, messages\n"
        ),
    ), migrated.stderr
    assert await _applied_postgres(empty_postgres) == HEAD

    live = LiveServer(tmp_path, env).start()
    try:
        assert await _read_back(live, org, channel) == [
            ("Old Timer", "written before the upgrade"),
            ("Old Timer", "and a second one"),
        ]
        # The new unique index holds: the old channel id stays the old organization's.
        other = await live.connect("eve", uid("other-org"))
        assert (await other.call("channel:join", {"channelId": channel}))["error"][
            "code"
        ] == "FORBIDDEN"
    finally:
        await live.close_clients()
        live.stop()


async def test_rows_of_the_previous_head_survive_serve_upgrading_sqlite(tmp_path):
    database = tmp_path / "lvng.sqlite3"
    env = _env(f"sqlite://{database}")
    org, channel = uid("org"), uid("ch")
    _build_previous_head(env, tmp_path, org, channel)
    assert _applied_sqlite(database) == PREVIOUS
    live = LiveServer(tmp_path, env).start()  # SQLite: serve applies the rest itself
    try:
        assert _applied_sqlite(database) == HEAD
        assert await _read_back(live, org, channel) == [
            ("Old Timer", "written before the upgrade"),
            ("Old Timer", "and a second one"),
        ]
    finally:
        live.stop()

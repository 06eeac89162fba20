"""Issue 21, finding 5: a customer id could belong to two organizations. Org A subscribed
to the activity of customer `c`; org B then joined a conversation of `c` and got `ok`, and
org A's own `conversation:join` of `c` became `FORBIDDEN`: the messages plugin and the
activity plugin each kept their own owners. Now one registry in the core answers for
every plugin (contract sections 4 and 13), and the migrations fold the plugins' old
tables into it, first owner wins."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap

from tests.live import REPO, SECRET, LiveServer
from tests.messages.support import uid
from tests.test_cli import run_lvng

NOT_YOURS = "you may not use customer {}"


def refusal(message: str) -> dict:
    return {"ok": False, "error": {"code": "FORBIDDEN", "message": message}}


async def test_an_activity_claim_holds_for_conversations(server):
    customer, org_a, org_b = uid("cust"), uid("org-a"), uid("org-b")
    a = await server.connect("ann", org_a, customers=[customer])
    b = await server.connect("bob", org_b, customers=[customer])
    assert (await a.call("activity:subscribe", {"customerId": customer}))["ok"] is True
    join = {"customerId": customer, "conversationId": "conv-1"}
    assert await b.call("conversation:join", join) == refusal(NOT_YOURS.format(customer))
    assert (await a.call("conversation:join", join))["ok"] is True
    # Over HTTP too: B reads nothing of A's customer.
    status, body = await server.http(
        "GET",
        f"/api/v1/customers/{customer}/conversations/conv-1/messages",
        token=server.token("bob", org_b, customers=[customer]),
    )
    assert (status, body["error"]["code"]) == (403, "FORBIDDEN")


async def test_a_conversation_claim_holds_for_the_activity_feed(server):
    customer, org_a, org_b = uid("cust"), uid("org-a"), uid("org-b")
    b = await server.connect("bob", org_b, customers=[customer])
    join = {"customerId": customer, "conversationId": "conv-1"}
    assert (await b.call("conversation:join", join))["ok"] is True
    a = await server.connect("ann", org_a, customers=[customer])
    ack = await a.call("activity:subscribe", {"customerId": customer})
    assert ack == refusal(NOT_YOURS.format(customer))
    service = server.token("crm", org_a, roles=["service"], customers=[customer])
    status, body = await server.http(
        "POST",
        f"/api/v1/customers/{customer}/activity",
        token=service,
        json={"type": "note.added", "summary": "a note"},
    )
    assert (status, body["error"]["code"]) == (403, "FORBIDDEN")
    # B's own feed works, and got B's conversation join as its first item.
    assert (await b.call("activity:subscribe", {"customerId": customer}))["ok"] is True
    subscribed = await b.next("activity:subscribed")
    assert [item["type"] for item in subscribed["items"]] == ["conversation.member_joined"]


# --- the migration: the plugins' old tables folded into the core's ----------------------

# Run in a process of its own (Tortoise is process-global): the schema as it was before
# issue 21 (each plugin with its own owners), and the owners given as JSON.
AT_THE_OLD_SCHEMA = textwrap.dedent("""
    import asyncio, json, sys
    from tortoise import Tortoise
    from tortoise.migrations.api.migrate import migrate
    from core.cli import _database_config
    from core.config import load_settings

    async def main(rows):
        config = _database_config(load_settings(None))
        for target in ("messages.0002_channel_id_owned", "calls.0002_one_call_in_progress",
                       "swarm", "activity.0001_initial"):
            await migrate(config=config, target=target)
            await Tortoise.close_connections()
        await Tortoise.init(config=config)
        connection = Tortoise.get_connection("default")
        for table, customer, org, moment in rows:
            await connection.execute_script(
                f"INSERT INTO {table} (customer_id, organization_id, created_at) "
                f"VALUES ('{customer}', '{org}', '{moment}')"
            )
        await Tortoise.close_connections()

    asyncio.run(main(json.loads(sys.argv[1])))
""")


def old_owners(org_a: str, org_b: str, ids: dict[str, str]) -> list[list[str]]:
    """c1: A first in messages, B later in activity (A). c2: B in activity only (B). c3: A
    in both (A, no conflict). c4: both at the same moment (messages, listed first: A).
    c5: B in activity an hour before A in messages (B)."""
    m, a = "messages_customer", "activity_customer"
    return [
        [m, ids["c1"], org_a, "2026-01-01 10:00:00+00:00"],
        [a, ids["c1"], org_b, "2026-01-02 10:00:00+00:00"],
        [a, ids["c2"], org_b, "2026-01-01 10:00:00+00:00"],
        [m, ids["c3"], org_a, "2026-01-03 10:00:00+00:00"],
        [a, ids["c3"], org_a, "2026-01-01 10:00:00+00:00"],
        [m, ids["c4"], org_a, "2026-01-05 10:00:00+00:00"],
        [a, ids["c4"], org_b, "2026-01-05 10:00:00+00:00"],
        [m, ids["c5"], org_a, "2026-01-01 10:00:00+00:00"],
        [a, ids["c5"], org_b, "2026-01-01 09:00:00+00:00"],
    ]


def build_old_schema(env: dict[str, str], cwd, rows: list[list[str]]) -> None:
    full = {k: v for k, v in __import__("os").environ.items() if not k.startswith("LVNG_")}
    full.update(env, PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-c", AT_THE_OLD_SCHEMA, json.dumps(rows)],
        env=full,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


async def check_the_owners(live: LiveServer, org_a: str, org_b: str, ids: dict[str, str]) -> None:
    """Each customer answers for its first owner only, in both plugins."""
    everything = list(ids.values())
    a = await live.connect("ann", org_a, customers=everything)
    b = await live.connect("bob", org_b, customers=everything)
    owners = {"c1": "a", "c2": "b", "c3": "a", "c4": "a", "c5": "b"}
    for key, owner in owners.items():
        customer = ids[key]
        join = {"customerId": customer, "conversationId": "v"}
        mine, theirs = (a, b) if owner == "a" else (b, a)
        assert (await mine.call("conversation:join", join))["ok"] is True, key
        assert (await mine.call("activity:subscribe", {"customerId": customer}))["ok"], key
        assert await theirs.call("conversation:join", join) == refusal(
            NOT_YOURS.format(customer)
        ), key
        assert await theirs.call("activity:subscribe", {"customerId": customer}) == refusal(
            NOT_YOURS.format(customer)
        ), key


def conflicts_logged(log: str, org_a: str, org_b: str, ids: dict[str, str]) -> None:
    assert "3 conflicting customer claim(s) resolved to the first owner" in log, log[-3000:]
    for key, owner, loser, table in [
        ("c1", org_a, org_b, "activity_customer"),
        ("c4", org_a, org_b, "activity_customer"),
        ("c5", org_b, org_a, "messages_customer"),
    ]:
        assert (
            f"customer {ids[key]} belongs to organization {owner} (its first claim); the claim "
            f"of organization {loser} in {table} is not honoured, its rows are kept"
        ) in log, key


async def test_serve_on_sqlite_folds_the_old_owners_in_first_owner_wins(tmp_path):
    database = tmp_path / "lvng.sqlite3"
    env = {
        "LVNG_JWT_SECRET": SECRET,
        "LVNG_DATABASE_URL": f"sqlite://{database}",
        "LVNG_ENTRY_POINTS": "false",
    }
    org_a, org_b = uid("org-a"), uid("org-b")
    ids = {key: uid(key) for key in ("c1", "c2", "c3", "c4", "c5")}
    build_old_schema(env, tmp_path, old_owners(org_a, org_b, ids))
    live = LiveServer(tmp_path, env).start()  # SQLite: serve migrates first
    try:
        with sqlite3.connect(database) as conn:
            rows = dict(conn.execute("SELECT customer_id, organization_id FROM core_customer"))
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert rows == {
            ids["c1"]: org_a,
            ids["c2"]: org_b,
            ids["c3"]: org_a,
            ids["c4"]: org_a,
            ids["c5"]: org_b,
        }
        assert {"messages_customer", "activity_customer"} & tables == set()
        conflicts_logged(live.log(), org_a, org_b, ids)
        await check_the_owners(live, org_a, org_b, ids)
    finally:
        await live.close_clients()
        live.stop()


async def test_lvng_migrate_on_postgres_folds_the_old_owners_in(empty_postgres, tmp_path):
    env = {
        "LVNG_JWT_SECRET": SECRET,
        "LVNG_DATABASE_URL": empty_postgres.url,
        "LVNG_ENTRY_POINTS": "false",
    }
    org_a, org_b = uid("org-a"), uid("org-b")
    ids = {key: uid(key) for key in ("c1", "c2", "c3", "c4", "c5")}
    build_old_schema(env, tmp_path, old_owners(org_a, org_b, ids))
    migrated = run_lvng("migrate", env=env, cwd=tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    # The old schema predates the webhooks plugin too: its first migration comes first.
    assert migrated.stdout.startswith(
        "lvng: applied webhooks.0001_initial, core.0001_customers, "
    ), migrated.stdout
    conflicts_logged(migrated.stderr, org_a, org_b, ids)
    import asyncpg

    conn = await asyncpg.connect(empty_postgres.url)
    try:
        rows = dict(await conn.fetch("SELECT customer_id, organization_id FROM core_customer"))
        gone = await conn.fetchval(
            "SELECT count(*) FROM pg_tables WHERE tablename IN "
            "('messages_customer', 'activity_customer')"
        )
    finally:
        await conn.close()
    assert rows == {
        ids["c1"]: org_a,
        ids["c2"]: org_b,
        ids["c3"]: org_a,
        ids["c4"]: org_a,
        ids["c5"]: org_b,
    }
    assert gone == 0
    live = LiveServer(tmp_path, env).start()
    try:
        await check_the_owners(live, org_a, org_b, ids)
    finally:
        await live.close_clients()
        live.stop()


# --- two nodes on one database and one Redis ---------------------------------------------


async def test_two_nodes_agree_on_one_owner_even_when_claiming_at_once(cluster):
    import asyncio

    nodes = cluster()
    a, b = nodes.start_node(), nodes.start_node()
    # A claim on one node binds the other (whose cache knew nothing of it).
    customer, org_a, org_b = uid("cust"), uid("org-a"), uid("org-b")
    ann = await a.connect("ann", org_a, customers=[customer])
    bob = await b.connect("bob", org_b, customers=[customer])
    assert (await ann.call("activity:subscribe", {"customerId": customer}))["ok"] is True
    join = {"customerId": customer, "conversationId": "v"}
    assert await bob.call("conversation:join", join) == refusal(NOT_YOURS.format(customer))
    # Ten customers claimed at once from both nodes by two organizations: each has one
    # owner, and every answer agrees with it.
    customers = [uid("race") for _ in range(10)]
    ann2 = await a.connect("ann", org_a, customers=customers)
    bob2 = await b.connect("bob", org_b, customers=customers)
    for customer in customers:
        join = {"customerId": customer, "conversationId": "v"}
        first, second = await asyncio.gather(
            ann2.call("conversation:join", join),
            bob2.call("activity:subscribe", {"customerId": customer}),
        )
        assert [first["ok"], second["ok"]].count(True) == 1, (first, second)
        winner, loser = (ann2, bob2) if first["ok"] else (bob2, ann2)
        assert (await winner.call("activity:subscribe", {"customerId": customer}))["ok"]
        assert await loser.call("conversation:join", join) == refusal(NOT_YOURS.format(customer))

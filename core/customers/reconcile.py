"""Folding the customer owners plugins kept before issue 21 (`messages_customer`,
`activity_customer`) into the core's registry, `core_customer`: what the migrations run
(core/customers/migrations/0001_customers.py and each plugin's own), first owner wins
(see docs/decisions.md).
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("lvng.customers")

# The tables plugins kept before issue 21, in the order a tie (same created_at) is won.
OLD_TABLES = ("messages_customer", "activity_customer")


async def existing_tables(client: Any, names: tuple[str, ...]) -> list[str]:
    """Which of `names` exist in the database of `client` (a Tortoise connection), in
    the order given."""
    listed = ", ".join(f"'{name}'" for name in names)
    if client.capabilities.dialect == "sqlite":
        query = f"SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ({listed})"
    else:
        query = (
            "SELECT tablename AS name FROM pg_tables "
            f"WHERE schemaname = current_schema() AND tablename IN ({listed})"
        )
    found = {row["name"] for row in await client.execute_query_dict(query)}
    return [name for name in names if name in found]


async def reconcile(client: Any, tables: tuple[str, ...] = OLD_TABLES) -> tuple[int, int]:
    """Fold the owners of the old `tables` that exist into `core_customer`: a customer
    no one owns there yet goes to its earliest claim (by `created_at`; a tie to the table
    listed first); a claim of another organization than the owner is a conflict, logged
    (the first 20, and how many) and not honoured. Idempotent. Returns (owners added,
    conflicts)."""
    present = await existing_tables(client, tables)
    if not present:
        return 0, 0
    claims = " UNION ALL ".join(
        f"SELECT customer_id, organization_id, created_at, {rank} AS source FROM {table}"
        for rank, table in enumerate(present)
    )
    before = await _count(client, "SELECT COUNT(*) AS n FROM core_customer")
    await client.execute_script(
        "INSERT INTO core_customer (customer_id, organization_id, created_at) "
        "SELECT customer_id, organization_id, created_at FROM ("
        "SELECT customer_id, organization_id, created_at, ROW_NUMBER() OVER "
        "(PARTITION BY customer_id ORDER BY created_at, source) AS n "
        f"FROM ({claims}) AS claims) AS ranked "
        "WHERE n = 1 AND NOT EXISTS "
        "(SELECT 1 FROM core_customer c WHERE c.customer_id = ranked.customer_id)"
    )
    added = await _count(client, "SELECT COUNT(*) AS n FROM core_customer") - before
    conflicts = (
        f"FROM ({claims}) AS claims JOIN core_customer c ON c.customer_id = claims.customer_id "
        "WHERE claims.organization_id <> c.organization_id"
    )
    total = await _count(client, f"SELECT COUNT(*) AS n {conflicts}")
    if total:
        shown = await client.execute_query_dict(
            "SELECT claims.customer_id AS customer, claims.organization_id AS claimed_by, "
            f"c.organization_id AS owner, claims.source AS source {conflicts} "
            "ORDER BY claims.customer_id LIMIT 20"
        )
        for row in shown:
            log.warning(
                "customer %s belongs to organization %s (its first claim); the claim of "
                "organization %s in %s is not honoured, its rows are kept",
                row["customer"],
                row["owner"],
                row["claimed_by"],
                present[int(row["source"])],
            )
        log.warning("%d conflicting customer claim(s) resolved to the first owner", total)
    return added, total


async def _count(client: Any, query: str) -> int:
    rows = await client.execute_query_dict(query)
    return int(rows[0]["n"])

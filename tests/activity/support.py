"""Shared helpers of the activity tests: the item's exact shape, subscribed clients,
items posted by a service."""

from __future__ import annotations

import re
from typing import Any

from tests.live import Client, LiveServer
from tests.messages.support import TIMESTAMP, uid

ITEM_ID = re.compile(r"^act_[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
ITEM_KEYS = {
    "id",
    "customerId",
    "type",
    "actorId",
    "actorName",
    "summary",
    "subject",
    "data",
    "createdAt",
}
SWARM_SOURCE = "swarmsource=tests.support.swarm_source_plugin"

__all__ = ["uid"]


def item_like(item: dict[str, Any], **expected: Any) -> dict[str, Any]:
    """Assert the item has exactly the contract's keys, a server id and time, and the
    expected values; return it."""
    assert set(item) == ITEM_KEYS, item
    assert ITEM_ID.match(item["id"]), item["id"]
    assert TIMESTAMP.match(item["createdAt"]), item["createdAt"]
    assert {key: item[key] for key in expected} == expected, item
    return item


def service_token(
    server: LiveServer, org: str, *customers: str, sub: str = "billing", **claims: Any
) -> str:
    claims.setdefault("roles", ["service"])
    return server.token(sub, org, customers=list(customers) or None, **claims)


async def post_item(
    server: LiveServer,
    org: str,
    customer: str,
    *,
    token: str | None = None,
    expect: int = 201,
    **body: Any,
) -> dict[str, Any]:
    """POST an item as a service of `org` naming the customer; return the answer."""
    body.setdefault("type", "note.added")
    body.setdefault("summary", "A note was added")
    status, answer = await server.http(
        "POST",
        f"/api/v1/customers/{customer}/activity",
        json=body,
        token=token or service_token(server, org, customer),
    )
    assert status == expect, (status, answer)
    return answer


async def get_page(
    server: LiveServer, token: str, customer: str, query: str = "", expect: int = 200
) -> dict[str, Any]:
    status, body = await server.http(
        "GET", f"/api/v1/customers/{customer}/activity{query}", token=token
    )
    assert status == expect, (status, body)
    return body


async def subscribed(
    server: LiveServer, org: str, customer: str, sub: str, **claims: Any
) -> tuple[Client, dict[str, Any]]:
    """A client of `sub` (granted `customer` unless told) subscribed to the customer's
    feed, and its `activity:subscribed`."""
    claims.setdefault("customers", [customer])
    client = await server.connect(sub, org, **claims)
    return client, await subscribe(client, customer)


async def subscribe(client: Client, customer: str) -> dict[str, Any]:
    ack = await client.call("activity:subscribe", {"customerId": customer})
    assert ack == {"ok": True, "customerId": customer}, ack
    return await client.next("activity:subscribed")

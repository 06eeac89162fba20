"""The core's owner registry of customer ids (core/customers/), on an in-memory SQLite
database: who may claim, who is refused, and the core's join rule for customer rooms
(issue 21, finding 5)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from tortoise import Tortoise
from tortoise.context import TortoiseContext

from core.config import Settings
from core.customers.owners import CustomerOwners
from core.errors import ErrorCode, LvngError
from core.identity import Identity
from core.metrics import CoreMetrics
from core.platform import Platform
from core.registry import EventRegistry
from core.rooms import Room


def who(org: str, *customers: str, admin: bool = False) -> Identity:
    roles = frozenset({"admin"}) if admin else frozenset()
    return Identity("u", org, "U", frozenset(customers), roles, 1e12)


@pytest.fixture
async def database() -> AsyncIterator[None]:
    config = {
        "connections": {"default": "sqlite://:memory:"},
        "apps": {"core": {"models": ["core.customers.models"], "default_connection": "default"}},
        "use_tz": True,
        "timezone": "UTC",
    }
    async with TortoiseContext() as ctx:
        await ctx.init(config=config)
        await ctx.generate_schemas()
        yield


async def test_the_first_claim_wins_and_binds_every_caller(database):
    owners = CustomerOwners()
    assert await owners.owner("c") is None
    # An admin's wildcard grants access, never a claim.
    with pytest.raises(LvngError) as refused:
        await owners.check(who("acme", admin=True), "c", claim=True)
    assert refused.value.message == "your token does not grant customer c"
    # Reading without claiming: allowed, claims nothing.
    assert await owners.check(who("acme", "c"), "c", claim=False) is False
    assert await owners.owner("c") is None
    assert await owners.check(who("acme", "c"), "c", claim=True) is True
    assert await owners.owner("c") == "acme"
    # Now the admin of the owner passes; anyone of another organization is refused.
    assert await owners.check(who("acme", admin=True), "c", claim=False) is True
    with pytest.raises(LvngError) as refused:
        await owners.check(who("globex", "c"), "c", claim=True)
    assert (refused.value.code, refused.value.message) == (
        ErrorCode.FORBIDDEN,
        "you may not use customer c",
    )
    # A claim that loses (another node claimed first) answers the owner.
    assert await owners.claim("c", "globex") == "acme"
    assert await owners.accepts("globex", "c", claim=True) is False
    assert await owners.accepts("globex", "d", claim=False) is False
    assert await owners.accepts("globex", "d", claim=True) is True
    assert await CustomerOwners().owner("d") == "globex"  # another node reads it back


async def test_the_cache_is_bounded(database):
    owners = CustomerOwners(cached=2)
    for customer in ("a", "b", "c"):
        await owners.claim(customer, "acme")
    assert list(owners._owners) == ["b", "c"]
    assert await owners.owner("a") == "acme"  # from the database again
    assert list(owners._owners) == ["c", "a"]


class NoPlugins:
    async def call_each_isolated(self, hook: str, **kwargs: Any) -> list[Any]:
        return []


async def test_the_cores_join_rule_refuses_another_organizations_customer(database):
    import socketio

    metrics = CoreMetrics(__import__("prometheus_client").CollectorRegistry())
    platform = Platform(
        settings=Settings(),
        sio=socketio.AsyncServer(async_mode="asgi"),
        plugins=NoPlugins(),  # type: ignore[arg-type]
        registry=EventRegistry(),
        verifier=None,  # type: ignore[arg-type]
        metrics=metrics,
        metrics_registry=metrics.registry,
    )
    assert Tortoise.is_inited() and platform.customers.available()
    await platform.customers.claim("c", "acme")
    globex = who("globex", "c")
    for room in (
        Room.of("globex", "activity", "c"),
        Room.of("globex", "customer", "c", "conversation", "v"),
    ):
        with pytest.raises(LvngError) as refused:
            await platform.authorize_join(globex, room)
        assert refused.value.message == "you may not use customer c"
    await platform.authorize_join(who("acme", "c"), Room.of("acme", "activity", "c"))
    # A customer no one owns yet passes the core (claiming it is the plugin's).
    await platform.authorize_join(who("globex", "new"), Room.of("globex", "activity", "new"))

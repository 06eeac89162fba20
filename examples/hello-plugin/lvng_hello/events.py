"""Handlers of the hello plugin's client events."""

from __future__ import annotations

from typing import Any

from core.api import EventContext, iso, new_id
from lvng_hello.metrics import HelloMetrics
from lvng_hello.models import Greeting
from lvng_hello.schemas import Greet


async def greet(ctx: EventContext, payload: Greet) -> dict[str, Any]:
    """Store a greeting, tell the sender's socket `hello:greeted`, ack with the count.

    `count` is how many greetings this user (in this organization) has stored so far.
    """
    identity = ctx.identity
    greeting = await Greeting.create(
        id=new_id("grt"),
        organization_id=identity.organization_id,
        user_id=identity.user_id,
        name=payload.name,
    )
    count = await Greeting.filter(
        organization_id=identity.organization_id, user_id=identity.user_id
    ).count()
    metrics: HelloMetrics = ctx.metrics
    metrics.greetings.inc()
    text = f"Hello, {payload.name}!"
    await ctx.reply(
        "hello:greeted",
        {
            "id": greeting.id,
            "name": payload.name,
            "greeting": text,
            "count": count,
            "userId": identity.user_id,
            "createdAt": iso(greeting.created_at),
        },
    )
    return {"greeting": text, "count": count}

"""A stand-in for the swarm plugin as a source of activity (contract section 8): it
declares and publishes `swarm.session.completed` / `swarm.session.failed` with the keys
the activity plugin relies on (`sessionId`, `customerId`, `agent`, `title`), nothing more.

Loaded with `LVNG_PLUGIN_MODULES=swarmsource=tests.support.swarm_source_plugin` (and
`LVNG_DISABLED_PLUGINS=swarm`, so the real swarm plugin, which owns those names, stays out
once it is built in). `swarmsource:end {sessionId, customerId?, status, agent, title?}`
publishes one of them in the sender's organization.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from core.api import EventContext, hookimpl


class SessionEnded(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sessionId: str
    customerId: str | None
    agent: str
    title: str | None


class End(BaseModel):
    model_config = ConfigDict(extra="ignore")

    sessionId: str
    customerId: str | None = None
    status: Literal["completed", "failed"]
    agent: str
    title: str | None = None


async def end(ctx: EventContext, payload: End) -> dict:
    data = payload.model_dump(exclude={"status"})
    ctx.after_ack.then(lambda: ctx.publish(f"swarm.session.{payload.status}", data))
    return {"published": f"swarm.session.{payload.status}"}


@hookimpl
def lvng_register_domain_events(events):
    events.add("swarm.session.completed", SessionEnded, "a swarm session completed")
    events.add("swarm.session.failed", SessionEnded, "a swarm session failed")


@hookimpl
def lvng_register_events(events):
    events.add("swarmsource:end", End, end)

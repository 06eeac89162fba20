"""The webhooks plugin: domain events delivered to the app's backend over HTTP, signed
per Standard Webhooks, retried, never lost (issue 29; docs/webhooks.md).

It uses only `core.api`, as a third party's plugin would, and imports no other plugin: it
consumes every domain event by name (`lvng plugins --json` lists them). An event an
endpoint wants is written to the outbox in its cause's transaction (a derived writer,
`platform.derived`; right after the commit for an event published without one:
outbox.py); the courier on every node sends it (courier.py). It publishes no domain
events and has no socket events.

Settings, `[plugins.webhooks]` in the config file (settings.py):

    retry_initial_seconds = 5      # first retry; doubling, with jitter, up to
    retry_max_seconds = 3600
    give_up_after_seconds = 86400  # then kept as failed (listed, resendable)
    timeout_seconds = 10           # one POST
    poll_seconds = 1               # how often other nodes' deliveries are looked for
    concurrency_per_endpoint = 8
    keep_delivered_seconds = 604800  # delivered rows deleted after; 0 keeps them

    [[plugins.webhooks.endpoints]]
    url = "https://app.example.com/hooks"
    secret = "whsec_…"             # base64 key, as Standard Webhooks writes it
    events = ["*"]                 # domain event names, "*" for all
    organizations = ["acme"]       # optional
"""

from __future__ import annotations

from typing import Any

from sanic import Blueprint

from core.api import DomainEvent, Platform, PluginMetrics, hookimpl
from plugins.webhooks.metrics import WebhooksMetrics
from plugins.webhooks.routes import routes
from plugins.webhooks.settings import WebhooksSettings
from plugins.webhooks.state import WebhooksState

PLUGIN = "webhooks"


@hookimpl
def lvng_settings() -> type[WebhooksSettings]:
    return WebhooksSettings


@hookimpl
def lvng_metrics(metrics: PluginMetrics) -> WebhooksMetrics:
    return WebhooksMetrics(metrics)


@hookimpl
def lvng_state(platform: Platform) -> WebhooksState:
    state = WebhooksState(
        platform,
        platform.settings_of(PLUGIN, WebhooksSettings),
        platform.metrics_of(PLUGIN, WebhooksMetrics),
    )
    platform.derived.add(PLUGIN, state.outbox.derive)  # outbox rows in the cause's transaction
    return state


@hookimpl
def lvng_models() -> list[str]:
    return ["plugins.webhooks.models"]


@hookimpl
def lvng_routes() -> Blueprint:
    return routes


@hookimpl
def lvng_startup(platform: Platform) -> None:
    platform.state_of(PLUGIN, WebhooksState).courier.start()


@hookimpl
async def lvng_domain_event(event: DomainEvent, platform: Platform) -> None:
    """Write the outbox rows of an event published without its cause's transaction (the
    others were written with their cause); never waits for an endpoint."""
    await platform.state_of(PLUGIN, WebhooksState).outbox.take(event)


@hookimpl
async def lvng_admin_snapshot(platform: Platform, organization_id: str) -> dict[str, Any]:
    """The organization's failed and pending deliveries, newest first."""
    return await platform.state_of(PLUGIN, WebhooksState).deliveries.listing(organization_id)


@hookimpl
async def lvng_shutdown(platform: Platform) -> None:
    """Let POSTs in flight finish (bounded), then hand the leases back."""
    await platform.state_of(PLUGIN, WebhooksState).courier.stop()

"""The messages plugin: channels, customer conversations, messages, reactions, reads and
typing (contract sections 4 and 5).

Settings, `[plugins.messages]` in the config file:

    auto_create_channels = true     # an unknown channelId is created on first join
    typing_timeout_seconds = 10     # a typing:start not stopped is ended by the server
    read_coalesce_ms = 500          # reads of one user in one room within this are batched
    idempotency_hours = 24          # how long an optimisticId is remembered per user

Domain events it publishes (`lvng_domain_event`): `message.created`, `message.updated`,
`message.deleted`, `conversation.member_joined`, `conversation.member_left`; each
carries `channelId`, `conversationId`, `customerId`, `userId` and `userName`.
"""

from __future__ import annotations

from sanic import Blueprint

from core.hookspecs import hookimpl
from core.metrics import PluginMetrics
from core.platform import Platform, Session
from core.registry import DomainEventRegistrar, EventRegistrar
from plugins.messages import domain_events
from plugins.messages import events as handlers
from plugins.messages.routes import routes
from plugins.messages.service import MessagesMetrics, messaging


@hookimpl
def lvng_register_events(events: EventRegistrar) -> None:
    handlers.register(events)


@hookimpl
def lvng_register_domain_events(events: DomainEventRegistrar) -> None:
    domain_events.register(events)


@hookimpl
def lvng_models() -> list[str]:
    return ["plugins.messages.models"]


@hookimpl
def lvng_metrics(metrics: PluginMetrics) -> MessagesMetrics:
    return MessagesMetrics(metrics)


@hookimpl
def lvng_routes(platform: Platform) -> Blueprint:
    messaging(platform)  # validates [plugins.messages] at start-up
    return routes


@hookimpl
async def lvng_client_disconnected(session: Session, platform: Platform) -> None:
    await handlers.client_gone(session, platform)


@hookimpl
async def lvng_shutdown(platform: Platform) -> None:
    await messaging(platform).shutdown()

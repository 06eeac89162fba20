"""The messages plugin: channels, customer conversations, messages, reactions, reads and
typing (contract sections 4 and 5). Hook implementations only; the folder's map is in
README.md.

Settings, `[plugins.messages]` in the config file (settings.py):

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

from core.api import (
    DomainEventRegistrar,
    EventRegistrar,
    Identity,
    Member,
    Platform,
    PluginMetrics,
    Room,
    Session,
    hookimpl,
)
from plugins.messages import domain_events
from plugins.messages import events as events_module
from plugins.messages.metrics import MessagesMetrics
from plugins.messages.routes import routes
from plugins.messages.settings import MessagesSettings
from plugins.messages.state import MessagesState
from plugins.messages.target import Target

PLUGIN = "messages"


@hookimpl
def lvng_settings() -> type[MessagesSettings]:
    return MessagesSettings


@hookimpl
def lvng_register_domain_events(events: DomainEventRegistrar) -> None:
    domain_events.register(events)


@hookimpl
def lvng_metrics(metrics: PluginMetrics) -> MessagesMetrics:
    return MessagesMetrics(metrics)


@hookimpl
def lvng_state(platform: Platform) -> MessagesState:
    return MessagesState(
        platform,
        platform.settings_of(PLUGIN, MessagesSettings),
        platform.metrics_of(PLUGIN, MessagesMetrics),
    )


@hookimpl
def lvng_register_events(events: EventRegistrar) -> None:
    events_module.register(events)


@hookimpl
def lvng_models() -> list[str]:
    return ["plugins.messages.models"]


@hookimpl
def lvng_routes() -> Blueprint:
    return routes


@hookimpl
async def lvng_client_disconnected(session: Session, platform: Platform) -> None:
    """Stop whatever the socket was typing (the rooms are left next)."""
    after = platform.after_ack()
    await platform.state_of(PLUGIN, MessagesState).typing.socket_left(session.sid, None, after)
    await after.run()


@hookimpl
async def lvng_client_recovered(session: Session, rooms: list[Room], platform: Platform) -> None:
    """A recovered socket is back in its conversations: `member:joined` to the others
    where the drop told them `member:left` (channels told nothing)."""
    state = platform.state_of(PLUGIN, MessagesState)
    for room in rooms:
        target = Target.from_room(room)
        if target is not None and target.kind == "conversation":
            await state.conversations.came_back(session, target)


@hookimpl
async def lvng_client_left_room(
    room: Room, member: Member, last: bool, reason: str, platform: Platform
) -> None:
    target = Target.from_room(room)
    if target is None:
        return
    state = platform.state_of(PLUGIN, MessagesState)
    if target.kind == "conversation":
        await state.conversations.left_room(target, member, last, reason)
    else:
        await state.channels.left_room(target, member, reason, last)


@hookimpl
async def lvng_authorize_join(identity: Identity, room: Room, platform: Platform) -> str | None:
    """A private channel admits its members and org admins, also when a refresh asks
    again whether the socket may stay (joins check it first in `Channels.open`)."""
    target = Target.from_room(room)
    if target is None or target.kind != "channel":
        return None
    return await platform.state_of(PLUGIN, MessagesState).channels.veto(
        identity, target.channel_id or ""
    )

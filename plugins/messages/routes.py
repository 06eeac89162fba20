"""HTTP routes of the messages plugin (contract sections 5 and 10), one Blueprint.

GET    /api/v1/channels?limit=&cursor=                the caller's channel list (issue 28)
GET    /api/v1/channels/{channelId}/messages?before=|after=&limit= (also below)
POST   /api/v1/channels/{channelId}/messages          a member, or a `service` token
GET    /api/v1/channels/{channelId}/members
PUT    /api/v1/channels/{channelId}/members/{userId}  the creator or an org admin
DELETE /api/v1/channels/{channelId}/members/{userId}  the creator or an org admin
GET    /api/v1/customers/{customerId}/conversations/{conversationId}/messages?...
"""

from __future__ import annotations

from sanic import Blueprint, Request, json
from sanic.response import HTTPResponse

from core.api import (
    Caller,
    Identity,
    authenticate,
    parse_body,
    platform_of,
    require_id,
    validate_object,
)
from plugins.messages import payloads
from plugins.messages.models import Channel
from plugins.messages.schemas import ChannelListPage, HistoryQuery, MessageBody
from plugins.messages.state import MessagesState
from plugins.messages.target import Target

routes = Blueprint("messages", url_prefix="/api/v1")


def _history_query(request: Request) -> HistoryQuery:
    raw = {
        key: request.args.get(key) for key in ("before", "after", "limit") if key in request.args
    }
    return validate_object(HistoryQuery, raw)


async def _channel(request: Request, channel_id: str) -> tuple[Identity, MessagesState, Channel]:
    """The caller, the plugin and a channel the caller (or a service token) may use."""
    identity = authenticate(request)
    require_id(channel_id, "channelId")
    m = platform_of(request).state_of("messages", MessagesState)
    channel = await m.channels.find(identity, channel_id)
    await m.channels.check_access(identity, channel, service=True)
    return identity, m, channel


@routes.get("/channels")
async def channel_list(request: Request) -> HTTPResponse:
    """What `channel:list` acks (without `ok`): the caller's channels with their counts."""
    identity = authenticate(request)
    raw = {key: request.args.get(key) for key in ("limit", "cursor") if key in request.args}
    query = validate_object(ChannelListPage, raw)
    m = platform_of(request).state_of("messages", MessagesState)
    return json(await m.lists.page(identity, query.limit, query.cursor))


@routes.get("/channels/<channel_id:str>/messages")
async def channel_messages(request: Request, channel_id: str) -> HTTPResponse:
    query = _history_query(request)
    identity, m, _ = await _channel(request, channel_id)
    target = Target.channel(identity.organization_id, channel_id)
    page = await m.messages.history(
        target, before=query.before, after=query.after, limit=query.limit
    )
    return json({"channelId": channel_id, **page})


@routes.post("/channels/<channel_id:str>/messages")
async def post_channel_message(request: Request, channel_id: str) -> HTTPResponse:
    """The same checks and the same `message:new` as a socket's `message:send`; 201 with
    the message, or 200 with the first one when the optimisticId was used before."""
    identity, m, _ = await _channel(request, channel_id)
    body = parse_body(request, MessageBody)
    caller = Caller(identity, platform_of(request).after_ack())
    target = Target.channel(identity.organization_id, channel_id)
    try:
        row, duplicate = await m.messages.post(caller, target, body)
    finally:
        await caller.after.run()
    return json({**payloads.message(row), "duplicate": duplicate}, status=200 if duplicate else 201)


@routes.get("/channels/<channel_id:str>/members")
async def channel_members(request: Request, channel_id: str) -> HTTPResponse:
    _, m, channel = await _channel(request, channel_id)
    return json(
        {
            "channelId": channel_id,
            "private": channel.private,
            "members": await m.channels.members(channel),
        }
    )


async def _managed_channel(
    request: Request, channel_id: str, user_id: str
) -> tuple[Identity, MessagesState, Channel]:
    """The caller, the plugin and the channel whose membership the caller may manage
    (its creator while a member, or an org admin), for the member routes."""
    identity = authenticate(request)
    require_id(channel_id, "channelId")
    require_id(user_id, "userId")
    m = platform_of(request).state_of("messages", MessagesState)
    channel = await m.channels.find(identity, channel_id)
    await m.channels.check_manager(identity, channel)
    return identity, m, channel


@routes.put("/channels/<channel_id:str>/members/<user_id:str>")
async def add_channel_member(request: Request, channel_id: str, user_id: str) -> HTTPResponse:
    identity, m, channel = await _managed_channel(request, channel_id, user_id)
    added = await m.channels.add_member(channel, user_id, added_by=identity.user_id)
    return json(
        {"channelId": channel_id, "userId": user_id, "member": True, "added": added},
        status=201 if added else 200,
    )


@routes.delete("/channels/<channel_id:str>/members/<user_id:str>")
async def remove_channel_member(request: Request, channel_id: str, user_id: str) -> HTTPResponse:
    _, m, channel = await _managed_channel(request, channel_id, user_id)
    removed = await m.channels.remove_member(channel, user_id)
    return json({"channelId": channel_id, "userId": user_id, "member": False, "removed": removed})


@routes.get("/customers/<customer_id:str>/conversations/<conversation_id:str>/messages")
async def conversation_messages(
    request: Request, customer_id: str, conversation_id: str
) -> HTTPResponse:
    identity = authenticate(request)
    require_id(customer_id, "customerId")
    require_id(conversation_id, "conversationId")
    query = _history_query(request)
    m = platform_of(request).state_of("messages", MessagesState)
    await m.conversations.open(identity, customer_id, conversation_id, create=False)
    target = Target.conversation(identity.organization_id, customer_id, conversation_id)
    page = await m.messages.history(
        target, before=query.before, after=query.after, limit=query.limit
    )
    return json({"customerId": customer_id, "conversationId": conversation_id, **page})

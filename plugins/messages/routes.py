"""HTTP routes of the messages plugin (contract sections 5 and 10), one Blueprint.

    GET    /api/v1/channels/{channelId}/messages?before=&limit=
    POST   /api/v1/channels/{channelId}/messages          a member, or a `service` token
    GET    /api/v1/channels/{channelId}/members
    PUT    /api/v1/channels/{channelId}/members/{userId}  the creator or an org admin
    DELETE /api/v1/channels/{channelId}/members/{userId}  the creator or an org admin
    GET    /api/v1/customers/{customerId}/conversations/{conversationId}/messages?before=&limit=
"""

from __future__ import annotations

from sanic import Blueprint, Request, json
from sanic.response import HTTPResponse

from core.errors import ErrorCode, LvngError
from core.gateway import validate_object
from core.http import authenticate, parse_body, platform_of
from core.identity import Identity, is_valid_id
from plugins.messages.models import Channel
from plugins.messages.schemas import HistoryQuery, MessageBody
from plugins.messages.service import Messaging, Target, message_payload, messaging

routes = Blueprint("messages", url_prefix="/api/v1")

def _id(value: str, what: str) -> str:
    if not is_valid_id(value):
        raise LvngError(ErrorCode.VALIDATION_ERROR,
                        f"{what} must be 1 to 128 characters of A-Z a-z 0-9 _ . : -")
    return value


def _history_query(request: Request) -> HistoryQuery:
    raw = {key: request.args.get(key) for key in ("before", "limit") if key in request.args}
    return validate_object(HistoryQuery, raw)


def _messaging(request: Request) -> Messaging:
    return messaging(platform_of(request))


@routes.get("/channels/<channel_id:str>/messages")
async def channel_messages(request: Request, channel_id: str) -> HTTPResponse:
    identity = authenticate(request)
    _id(channel_id, "channelId")
    query = _history_query(request)
    m = _messaging(request)
    channel = await m.find_channel(identity.organization_id, channel_id)
    await m.check_channel_access(identity, channel, service=True)
    target = Target.channel(identity.organization_id, channel_id)
    page = await m.history(target, before=query.before, limit=query.limit)
    return json({"channelId": channel_id, **page})


@routes.post("/channels/<channel_id:str>/messages")
async def post_channel_message(request: Request, channel_id: str) -> HTTPResponse:
    """The same checks and the same `message:new` as a socket's `message:send`; 201 with
    the message, or 200 with the first one when the optimisticId was used before."""
    identity = authenticate(request)
    _id(channel_id, "channelId")
    body = parse_body(request, MessageBody)
    m = _messaging(request)
    channel = await m.find_channel(identity.organization_id, channel_id)
    await m.check_channel_access(identity, channel, service=True)
    target = Target.channel(identity.organization_id, channel_id)
    message, duplicate = await m.post_message(identity, target, body)
    return json({**message_payload(message), "duplicate": duplicate},
                status=200 if duplicate else 201)


@routes.get("/channels/<channel_id:str>/members")
async def channel_members(request: Request, channel_id: str) -> HTTPResponse:
    identity = authenticate(request)
    _id(channel_id, "channelId")
    m = _messaging(request)
    channel = await m.find_channel(identity.organization_id, channel_id)
    await m.check_channel_access(identity, channel, service=True)
    return json({"channelId": channel_id, "private": channel.private,
                 "members": await m.members(channel)})


async def _managed_channel(request: Request, channel_id: str,
                           user_id: str) -> tuple[Identity, Messaging, Channel]:
    """The caller, the plugin and the channel whose membership the caller may manage
    (its creator or an org admin), for the member routes."""
    identity = authenticate(request)
    _id(channel_id, "channelId")
    _id(user_id, "userId")
    m = _messaging(request)
    channel = await m.find_channel(identity.organization_id, channel_id)
    m.check_channel_manager(identity, channel)
    return identity, m, channel


@routes.put("/channels/<channel_id:str>/members/<user_id:str>")
async def add_channel_member(request: Request, channel_id: str, user_id: str) -> HTTPResponse:
    identity, m, channel = await _managed_channel(request, channel_id, user_id)
    added = await m.add_member(channel, user_id, added_by=identity.user_id)
    return json({"channelId": channel_id, "userId": user_id, "member": True, "added": added},
                status=201 if added else 200)


@routes.delete("/channels/<channel_id:str>/members/<user_id:str>")
async def remove_channel_member(request: Request, channel_id: str,
                                user_id: str) -> HTTPResponse:
    _, m, channel = await _managed_channel(request, channel_id, user_id)
    removed = await m.remove_member(channel, user_id)
    return json({"channelId": channel_id, "userId": user_id, "member": False,
                 "removed": removed})


@routes.get("/customers/<customer_id:str>/conversations/<conversation_id:str>/messages")
async def conversation_messages(request: Request, customer_id: str,
                                conversation_id: str) -> HTTPResponse:
    identity = authenticate(request)
    _id(customer_id, "customerId")
    _id(conversation_id, "conversationId")
    query = _history_query(request)
    m = _messaging(request)
    await m.open_conversation(identity, customer_id, conversation_id, create=False)
    target = Target.conversation(identity.organization_id, customer_id, conversation_id)
    page = await m.history(target, before=query.before, limit=query.limit)
    return json({"customerId": customer_id, "conversationId": conversation_id, **page})

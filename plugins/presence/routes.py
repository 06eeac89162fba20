"""HTTP routes of the presence plugin (contract sections 6 and 10), one Blueprint.

GET /api/v1/presence      who of the caller's organization is online: {users: [...]}
"""

from __future__ import annotations

from sanic import Blueprint, Request, json
from sanic.response import HTTPResponse

from core.api import authenticate, platform_of
from plugins.presence.state import PresenceState

routes = Blueprint("presence", url_prefix="/api/v1")


@routes.get("/presence")
async def presence(request: Request) -> HTTPResponse:
    identity = authenticate(request)
    state = platform_of(request).state_of("presence", PresenceState)
    return json({"users": await state.presence.users(identity.organization_id)})

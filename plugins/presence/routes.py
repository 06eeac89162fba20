"""HTTP routes of the presence plugin (contract sections 6, 10 and 13), one Blueprint.

GET /api/v1/presence?limit=&cursor=   one page of the caller's organization:
                                      {users: [...], nextCursor}
"""

from __future__ import annotations

from sanic import Blueprint, Request, json
from sanic.response import HTTPResponse

from core.api import authenticate, platform_of, validate_object
from plugins.presence.schemas import ListPresence
from plugins.presence.state import PresenceState

routes = Blueprint("presence", url_prefix="/api/v1")


@routes.get("/presence")
async def presence(request: Request) -> HTTPResponse:
    identity = authenticate(request)
    raw = {key: request.args.get(key) for key in ("limit", "cursor") if key in request.args}
    query = validate_object(ListPresence, raw)
    state = platform_of(request).state_of("presence", PresenceState)
    users, cursor = await state.listing.page(identity.organization_id, query.limit, query.cursor)
    return json({"users": users, "nextCursor": cursor})

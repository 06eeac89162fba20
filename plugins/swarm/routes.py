"""HTTP routes of the swarm plugin (contract sections 8 and 10), one Blueprint.

POST /api/v1/swarm/sessions/{sessionId}/events     a `service` token of the owner
GET  /api/v1/swarm/sessions/{sessionId}?afterSeq=&limit=   anyone of the owner
"""

from __future__ import annotations

from sanic import Blueprint, Request, json
from sanic.response import HTTPResponse

from core.api import (
    authenticate,
    parse_body,
    platform_of,
    require_id,
    validate_object,
)
from plugins.swarm import payloads
from plugins.swarm.schemas import PublishEvent, ReadQuery
from plugins.swarm.state import SwarmState

routes = Blueprint("swarm", url_prefix="/api/v1/swarm")


@routes.post("/sessions/<session_id:str>/events")
async def publish(request: Request, session_id: str) -> HTTPResponse:
    """201 with the update as subscribers hear it; 200 with the first one for a repeated
    eventId; 409 after the session ended."""
    identity = authenticate(request)
    require_id(session_id, "sessionId")
    swarm = platform_of(request).state_of("swarm", SwarmState)
    swarm.publishing.require_service(identity)  # before the body: 403 whatever it says
    body = parse_body(request, PublishEvent)
    after = platform_of(request).after_ack()
    try:
        row, duplicate = await swarm.publishing.publish(identity, session_id, body, after)
    finally:
        await after.run()
    return json(payloads.update(row), status=200 if duplicate else 201)


@routes.get("/sessions/<session_id:str>")
async def read(request: Request, session_id: str) -> HTTPResponse:
    """`{sessionId, status, updates, hasMore}`: updates after `afterSeq`, oldest first."""
    identity = authenticate(request)
    require_id(session_id, "sessionId")
    raw = {key: request.args.get(key) for key in ("afterSeq", "limit") if key in request.args}
    query = validate_object(ReadQuery, raw)
    swarm = platform_of(request).state_of("swarm", SwarmState)
    return json(
        await swarm.sessions.page(
            identity,
            session_id,
            after_seq=query.afterSeq,
            limit=query.limit or swarm.settings.read_page,
        )
    )

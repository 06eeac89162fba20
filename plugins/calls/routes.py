"""HTTP routes of the calls plugin (contract sections 7 and 10), one Blueprint.

    GET /api/v1/calls/{roomName}/transcript[?callId=][&format=vtt]   members of the org

JSON `{roomName, callId, startedAt, endedAt, segments}` for the room's latest call (or
the one asked for), or the same as WebVTT (`text/vtt`) with `format=vtt`. A room of
another organization is simply not found: each organization has its own calls.
"""

from __future__ import annotations

from sanic import Blueprint, Request, json
from sanic.response import HTTPResponse, text

from core.api import (
    authenticate,
    platform_of,
    require_id,
    validate_object,
)
from plugins.calls import payloads, vtt
from plugins.calls.schemas import TranscriptQuery
from plugins.calls.state import CallsState

routes = Blueprint("calls", url_prefix="/api/v1")


@routes.get("/calls/<room_name:str>/transcript")
async def transcript(request: Request, room_name: str) -> HTTPResponse:
    identity = authenticate(request)
    require_id(room_name, "roomName")
    query = validate_object(
        TranscriptQuery,
        {key: request.args.get(key) for key in ("callId", "format") if key in request.args},
    )
    state = platform_of(request).state_of("calls", CallsState)
    call = await state.transcripts.find_call(identity.organization_id, room_name, query.callId)
    rows = await state.transcripts.segments(call)
    if query.format == "vtt":
        return text(vtt.render(call, rows), content_type="text/vtt; charset=utf-8")
    return json(payloads.transcript(call, [payloads.stored_segment(r) for r in rows]))

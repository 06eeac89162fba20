"""HTTP routes of the calls plugin (contract sections 7 and 10), one Blueprint.

    GET /api/v1/calls/{roomName}/transcript[?callId=][&after=|before=][&limit=]
    GET /api/v1/calls/{roomName}/transcript?format=vtt[&callId=]      members of the org

JSON: a page `{roomName, callId, startedAt, endedAt, segments, hasMore}` of the room's
latest call (or the one asked for), from its first segment unless `after` / `before` (a
segment's `sequence`) says where; at most `limit` (500) segments and 1 MB of JSON. WebVTT
(`text/vtt`) is the whole transcript, streamed a batch of segments at a time. A room of
another organization is simply not found: each organization has its own calls.
"""

from __future__ import annotations

from sanic import Blueprint, Request, json
from sanic.response import HTTPResponse

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

QUERY_KEYS = ("callId", "format", "before", "after", "limit")


@routes.get("/calls/<room_name:str>/transcript")
async def transcript(request: Request, room_name: str) -> HTTPResponse | None:
    identity = authenticate(request)
    require_id(room_name, "roomName")
    query = validate_object(
        TranscriptQuery, {key: request.args.get(key) for key in QUERY_KEYS if key in request.args}
    )
    state = platform_of(request).state_of("calls", CallsState)
    t = state.transcripts
    call = await t.find_call(identity.organization_id, room_name, query.callId)
    if query.format == "vtt":
        response = await request.respond(content_type="text/vtt; charset=utf-8")
        writer = vtt.Writer(call)
        await response.send(writer.header())
        async for rows in t.batches(call):
            await response.send(writer.cues(rows))
        await response.eof()
        return None
    no_cursor = query.before is None and query.after is None
    after = 0 if no_cursor else query.after  # from the first segment unless told
    segments, more = await t.page(call, before=query.before, after=after, limit=query.limit)
    return json(payloads.transcript(call, segments, more))

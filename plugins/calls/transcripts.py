"""Live transcription: relaying segments to the call, and keeping the final ones.

A segment goes to everyone in the call, the sender included, as `transcription:segment`.
`segmentId` is the client's id of one utterance: its interim segments and its final one
share it, so a client replaces the interim text in place; the server makes one (`seg_…`)
when the client gives none. Final segments are stored in the order received, numbered per
call (`sequence`) under the room's turn; once a segmentId of a user is final in a call,
that utterance is closed: another segment with it answers `CONFLICT`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from core.api import ErrorCode, LvngError, iso, new_id
from plugins.calls import payloads
from plugins.calls.models import Call, Segment
from plugins.calls.rooms import call_room

if TYPE_CHECKING:
    from core.api import Caller, Platform
    from plugins.calls.metrics import CallsMetrics
    from plugins.calls.schemas import SegmentIn
    from plugins.calls.settings import CallsSettings

PLUGIN = "calls"


class Transcripts:
    """The transcription rules of one platform."""

    def __init__(self, platform: Platform, settings: CallsSettings, metrics: CallsMetrics) -> None:
        self.platform = platform
        self.settings = settings
        self.metrics = metrics

    async def relay(self, caller: Caller, room_name: str, segment: SegmentIn) -> dict[str, Any]:
        """Relay one segment to the call (and store it when final). The sender must be in
        the call (`NOT_IN_ROOM`). Ack `{roomName, callId, segmentId, isFinal, sequence}`
        (`sequence` null for an interim segment)."""
        identity = caller.identity
        room = call_room(identity.organization_id, room_name)
        self.platform.rooms.require_member(caller.socket, room)
        async with self.platform.turn(room, caller.after) as turn:
            call = await Call.filter(
                organization_id=identity.organization_id, room_name=room_name, ended_at__isnull=True
            ).first()
            if call is None:  # the call ended under us: the socket is on its way out
                raise LvngError(ErrorCode.NOT_IN_ROOM, f"no call in progress in {room_name}")
            segment_id = segment.segmentId or new_id("seg")
            if segment.segmentId is not None and await Segment.exists(
                call_id=call.call_id, user_id=identity.user_id, segment_id=segment_id
            ):
                raise LvngError(
                    ErrorCode.CONFLICT, f"segment {segment_id} is final already; start a new one"
                )
            moment = datetime.now(UTC)
            sequence = None
            if segment.isFinal:
                async with turn.transaction() as connection:
                    sequence = call.segments + 1
                    row = await Segment.create(
                        using_db=connection,
                        call_id=call.call_id,
                        sequence=sequence,
                        segment_id=segment_id,
                        user_id=identity.user_id,
                        speaker=segment.speaker,
                        text=segment.text,
                        confidence=segment.confidence,
                        start_ms=segment.startMs,
                        end_ms=segment.endMs,
                        created_at=moment,
                    )
                    await Call.filter(id=call.id).using_db(connection).update(segments=sequence)
            data = payloads.segment_out(
                room_name,
                call.call_id,
                segment_id,
                identity.user_id,
                identity.user_name,
                segment.model_dump(),
                iso(moment),
            )
            caller.after.emit("transcription:segment", data, room=room)
        self.metrics.segments.labels(finality="final" if segment.isFinal else "interim").inc()
        if sequence is not None:
            event = {
                "roomName": room_name,
                "callId": call.call_id,
                "userId": identity.user_id,
                "userName": identity.user_name,
                "sequence": sequence,
                "segment": payloads.stored_segment(row),
            }
            caller.after.then(
                lambda: self.platform.publish(
                    PLUGIN, "call.transcript_segment", identity.organization_id, event
                )
            )
        return {
            "roomName": room_name,
            "callId": call.call_id,
            "segmentId": segment_id,
            "isFinal": segment.isFinal,
            "sequence": sequence,
        }

    # --- reading -----------------------------------------------------------------------

    async def for_joiner(self, call: Call) -> tuple[list[dict[str, Any]], bool]:
        """The newest `join_transcript_limit` final segments of the call, oldest first,
        and whether older ones were left out."""
        limit = self.settings.join_transcript_limit
        if limit == 0:
            return [], call.segments > 0
        rows = await Segment.filter(call_id=call.call_id).order_by("-sequence").limit(limit + 1)
        more = len(rows) > limit
        return [payloads.stored_segment(r) for r in reversed(rows[:limit])], more

    @staticmethod
    async def find_call(organization_id: str, room_name: str, call_id: str | None) -> Call:
        """The room's latest call, or the one asked for (of that room), else NOT_FOUND."""
        query = Call.filter(organization_id=organization_id, room_name=room_name)
        if call_id is not None:
            query = query.filter(call_id=call_id)
        call = await query.order_by("-started_at", "-id").first()
        if call is None:
            which = f"call {call_id} in {room_name}" if call_id else f"call in {room_name}"
            raise LvngError(ErrorCode.NOT_FOUND, f"no {which}")
        return call

    @staticmethod
    async def segments(call: Call) -> list[Segment]:
        """Every final segment of the call, in the order received."""
        return await Segment.filter(call_id=call.call_id).order_by("sequence")

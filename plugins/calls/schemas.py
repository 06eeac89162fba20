"""Payload models of the calls plugin's client events and HTTP queries.

Limits are the contract's (sections 3 and 7): a roomName is an id (1 to 128 characters of
`[A-Za-z0-9_.:-]`), transcription text at most 10,000 characters, `confidence` 0 to 1.
Extra keys are ignored, and so is anything a client says about who it is: the sender of a
segment is the token's user (`userId`); `speaker` is the client's label of who spoke.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    model_validator,
)
from pydantic_core import PydanticCustomError

from core.api import ID_PATTERN, INT32_MAX

MAX_TEXT = 10_000
MAX_SPEAKER = 128
MAX_MS = 7 * 24 * 3600 * 1000  # a week of audio
PAGE = 100  # segments of a `call:transcript` page by default
MAX_PAGE = 500  # segments of any transcript page (HTTP's default)

Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]


def _not_blank(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        raise PydanticCustomError("blank", "must not be empty")
    return value


def _no_null_id(value: Any) -> Any:
    return None if value == "" else value


Speaker = Annotated[
    str,
    BeforeValidator(_not_blank),
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_SPEAKER),
]
Text = Annotated[str, BeforeValidator(_not_blank), StringConstraints(max_length=MAX_TEXT)]
Millis = Annotated[int, Field(ge=0, le=MAX_MS, strict=True)]


class Payload(BaseModel):
    model_config = ConfigDict(extra="ignore")


class CallRef(Payload):
    """`call:join`, `call:leave`."""

    roomName: Id


class SegmentIn(Payload):
    """The `segment` of `call:transcription`."""

    speaker: Speaker
    text: Text
    isFinal: StrictBool
    confidence: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False, strict=True)] | None = None
    segmentId: Annotated[Id | None, BeforeValidator(_no_null_id)] = None
    startMs: Millis | None = None
    endMs: Millis | None = None

    @model_validator(mode="after")
    def _in_order(self) -> SegmentIn:
        if self.startMs is not None and self.endMs is not None and self.endMs < self.startMs:
            raise ValueError("endMs must not be before startMs")
        return self


class Transcription(CallRef):
    """`call:transcription {roomName, segment}`."""

    segment: SegmentIn


# A segment's number in its call (`sequence`: 1, 2, 3 …), an INTEGER column.
Sequence = Annotated[int, Field(ge=0, le=INT32_MAX)]


class Cursor(Payload):
    """Where a page of a transcript is: the segments before `before`, or after `after`
    (sequence numbers), at most `limit`."""

    callId: Id | None = None
    before: Sequence | None = None
    after: Sequence | None = None

    @model_validator(mode="after")
    def _one_direction(self) -> Cursor:
        if self.before is not None and self.after is not None:
            raise ValueError("give before or after, not both")
        return self


class TranscriptPage(Cursor, CallRef):
    """`call:transcript {roomName, callId?, before?, after?, limit?}`: a page of a call's
    transcript; without a cursor, its newest segments (as `call:joined` carries them)."""

    limit: int = Field(PAGE, ge=1, le=MAX_PAGE)


class TranscriptQuery(Cursor):
    """`?callId=&before=|after=&limit=&format=` of `GET /api/v1/calls/{roomName}/transcript`:
    JSON pages from the start of the call unless a cursor says otherwise; WebVTT is the
    whole transcript, so it takes no cursor."""

    limit: int = Field(MAX_PAGE, ge=1, le=MAX_PAGE)
    format: Literal["json", "vtt"] = "json"

    @model_validator(mode="after")
    def _vtt_is_whole(self) -> TranscriptQuery:
        if self.format == "vtt" and self.model_fields_set & {"before", "after", "limit"}:
            raise ValueError("format=vtt is the whole transcript: no before, after or limit")
        return self

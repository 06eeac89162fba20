"""A call's transcript as WebVTT (`text/vtt`), one cue per final segment, each with its
speaker as a voice tag: `<v Matty>Let us review the sprint backlog.`

Cue times are offsets from the call's start. A segment's `startMs` / `endMs`, when the
client sent them, are taken as they are (they are the client's offsets into the call's
audio). Otherwise a final segment is taken to end when it arrived (a transcriber finalizes
an utterance when it is over) and to start at the end of the cue before it, at most 5 s
earlier. A cue always ends after it starts. Text and speaker are escaped (`&`, `<`, `>`),
and line breaks within a segment are kept but never doubled, so a segment is one cue.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from plugins.calls.models import Call, Segment

GUESSED_LENGTH_MS = 5_000


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _lines(text: str) -> str:
    lines = [line.strip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return "\n".join(line for line in lines if line) or "…"


def timestamp(ms: int) -> str:
    """`hh:mm:ss.ttt`."""
    hours, rest = divmod(max(0, ms), 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"


class Writer:
    """A call's WebVTT file, a piece at a time: `header()`, then `cues(rows)` for the
    segments in order, as many times as needed (numbers and times carry on)."""

    def __init__(self, call: Call) -> None:
        self.call = call
        self.number = 0
        self.previous_end = 0

    def header(self) -> str:
        call = self.call
        return f"WEBVTT\n\nNOTE\nroomName {call.room_name}\ncallId {call.call_id}\n"

    def cues(self, segments: list[Segment]) -> str:
        """The cues of `segments`, each a blank line and its three lines."""
        out: list[str] = []
        for row in segments:
            arrived = int((row.created_at - self.call.started_at).total_seconds() * 1000)
            end = row.end_ms if row.end_ms is not None else max(0, arrived)
            if row.start_ms is not None:
                start = row.start_ms
            else:
                start = min(end, max(self.previous_end, end - GUESSED_LENGTH_MS))
            if end <= start:
                end = start + 1
            self.previous_end = end
            self.number += 1
            speaker = " ".join(escape(row.speaker).split())
            out.append(
                f"\n{self.number}\n{timestamp(start)} --> {timestamp(end)}\n"
                f"<v {speaker}>{escape(_lines(row.text))}\n"
            )
        return "".join(out)


def render(call: Call, segments: list[Segment]) -> str:
    """The WebVTT file of a call's final segments (in the order given), whole."""
    writer = Writer(call)
    return writer.header() + writer.cues(segments)

"""Shared helpers of the calls tests: the reference's payload keys, clients in a call,
and a small WebVTT parser."""

from __future__ import annotations

import re
from typing import Any

from tests.live import Client, LiveServer
from tests.messages.support import TIMESTAMP, uid

__all__ = [
    "CALL_ID",
    "SEGMENT_ID",
    "TIMESTAMP",
    "expect_error",
    "in_call",
    "parse_vtt",
    "say",
    "uid",
]

UUID7 = r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
CALL_ID = re.compile(rf"^call_{UUID7}$")
SEGMENT_ID = re.compile(rf"^seg_{UUID7}$")


async def in_call(
    server: LiveServer, org: str, room: str, sub: str, **claims: Any
) -> tuple[Client, dict[str, Any]]:
    """A client of `sub` that joined call `room`; its `call:joined` (read)."""
    client = await server.connect(sub, org, **claims)
    ack = await client.call("call:join", {"roomName": room})
    assert ack["ok"] is True, ack
    joined = await client.next("call:joined")
    assert joined["callId"] == ack["callId"]
    return client, joined


async def say(
    client: Client,
    room: str,
    text: str,
    *,
    final: bool = True,
    speaker: str = "Matty",
    **extra: Any,
) -> dict[str, Any]:
    """Send one segment; return the ack (asserting it is ok)."""
    ack = await client.call(
        "call:transcription",
        {
            "roomName": room,
            "segment": {"speaker": speaker, "text": text, "isFinal": final, **extra},
        },
    )
    assert ack["ok"] is True, ack
    return ack


async def expect_error(client: Client, event: str, data: Any, code: str) -> dict[str, Any]:
    """The event fails with `code`, both in the ack and as an `error` event."""
    ack = await client.call(event, data)
    assert ack["ok"] is False and ack["error"]["code"] == code, ack
    error = await client.next("error")
    assert error["code"] == code and error["event"] == event, error
    return ack["error"]


_TIMING = re.compile(r"^(\d\d):(\d\d):(\d\d)\.(\d{3}) --> (\d\d):(\d\d):(\d\d)\.(\d{3})$")
_VOICE = re.compile(r"^<v ([^>]+)>(.*)$", re.DOTALL)


def _ms(h: str, m: str, s: str, t: str) -> int:
    return ((int(h) * 60 + int(m)) * 60 + int(s)) * 1000 + int(t)


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def parse_vtt(body: str) -> list[dict[str, Any]]:
    """The cues of a WebVTT file: `{id, start, end, speaker, text}` (ms, unescaped).

    Strict on what this server writes: the `WEBVTT` signature, blocks separated by one
    blank line, NOTE blocks skipped, every cue with an id, a timing line and a voice tag.
    """
    blocks = body.replace("\r\n", "\n").rstrip("\n").split("\n\n")
    assert blocks[0].split("\n")[0] == "WEBVTT", body[:40]
    cues = []
    for block in blocks[1:]:
        if not block.strip() or block.startswith("NOTE"):
            continue
        lines = block.split("\n")
        assert len(lines) >= 3, block
        timing = _TIMING.match(lines[1])
        assert timing, lines[1]
        start, end = _ms(*timing.groups()[:4]), _ms(*timing.groups()[4:])
        assert end > start, lines[1]
        voice = _VOICE.match("\n".join(lines[2:]))
        assert voice, block
        cues.append(
            {
                "id": lines[0],
                "start": start,
                "end": end,
                "speaker": _unescape(voice.group(1)),
                "text": _unescape(voice.group(2)),
            }
        )
    return cues

"""The malformed-packet warning (core/transport/eio_input.py): one line per interval, the lines held
back counted in the next one."""

from __future__ import annotations

import logging

import pytest

from core.transport.eio_input import MalformedPacket, ThrottledWarning, decode_packet, payload_parts


def test_one_warning_per_interval_and_the_rest_counted(caplog):
    now = [100.0]
    throttled = ThrottledWarning(logging.getLogger("t"), interval=10, clock=lambda: now[0])
    with caplog.at_level(logging.DEBUG, logger="t"):
        assert throttled.warning("bad %s", 1) is True
        now[0] += 9.9
        assert throttled.warning("bad %s", 2) is False
        assert throttled.warning("bad %s", 3) is False
        now[0] += 0.1
        assert throttled.warning("bad %s", 4) is True
        assert throttled.warning("bad %s", 5) is False
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["bad 1", "bad 4 (and 2 more like it since the last warning)"]
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG] == [
        "bad 2",
        "bad 3",
        "bad 5",
    ]


@pytest.mark.parametrize(
    "data, reason",
    [
        ("", "empty packet"),
        ("9", "unknown packet type '9'"),
        ("x42", "unknown packet type 'x'"),
        ("b!!", "undecodable base64 packet"),
        ("4" + "[" * 100_000, "undecodable packet"),
    ],
)
def test_what_a_client_can_send_is_malformed_or_a_packet(data, reason):
    with pytest.raises(MalformedPacket) as raised:
        decode_packet(data)
    assert raised.value.reason == reason


def test_packets_decode_as_engineio_decodes_them():
    assert decode_packet("3").packet_type == 3
    message = decode_packet('42["a",1]')
    assert (message.packet_type, message.data) == (4, '2["a",1]')
    assert decode_packet(b"\x01").data == b"\x01"
    assert decode_packet("bAQI=").data == b"\x01\x02"
    assert list(payload_parts("4a\x1e3\x1e\x1e")) == ["4a", "3", "", ""]

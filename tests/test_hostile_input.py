"""Hostile input to every registered event: a clear error code each time, never a crash."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import pytest

JUNK_PAYLOADS = [
    None, [], "text", 123, 1.5, True, {"a": {"b": {"c": [1, 2, {"d": None}]}}},
    {"channelId": 5}, {"channelId": None}, {"channelId": "x" * 200}, {"channelId": "a/b"},
    {"channelId": "ok", "content": None}, {"channelId": "ok", "content": ["list"]},
    {"channelId": "ok", "messageId": {"$gt": ""}}, {"conversationId": "c", "customerId": 7},
    {"channelId": "ok", "limit": -1, "before": 3}, {"roomName": "r", "segment": "s"},
    {"sessionId": "../../etc/passwd"}, {"token": 42}, {"status": "on-fire"},
    {"channelId": "ok", "emoji": "", "action": "explode", "messageId": "m"},
    {"channelId": "ok", "updates": "all"}, {"conversationId": "c", "customerId": "d",
                                           "lastMessageTimestamp": "yesterday"},
]
EXPECTED_CODES = {"VALIDATION_ERROR", "NOT_IN_ROOM", "NOT_FOUND", "FORBIDDEN", "CONFLICT",
                  "AUTH_INVALID"}


def registered_events(live) -> list[str]:
    """Every event of every enabled plugin, as `lvng plugins --json` lists them."""
    result = subprocess.run([sys.executable, "-m", "core.cli", "plugins", "--json"],
                            env=live.process_env(), capture_output=True, text=True,
                            timeout=30, check=True)
    events = ["auth:refresh"]  # the core's own
    for plugin in json.loads(result.stdout):
        assert plugin["error"] is None, plugin
        if plugin["enabled"]:
            events.extend(plugin["events"])
    # probe:boom and probe:refuse fail on purpose, whatever they are sent; probe:hold
    # waits for the server to stop.
    return [e for e in events if e not in {"probe:boom", "probe:refuse", "probe:hold"}]


@pytest.mark.timeout(120)
async def test_every_event_answers_junk_with_a_contract_code(start_server):
    live = start_server(env={"LVNG_RATE_LIMIT_EVENTS": "100000",
                             "LVNG_RATE_LIMIT_USER_EVENTS": "100000"})
    events = registered_events(live)
    assert {"message:send", "probe:echo"} <= set(events)
    client = await live.connect("fuzzer", "hostile-org")
    seen_codes: set[str] = set()
    for event, payload in itertools.product(events, JUNK_PAYLOADS):
        ack = await client.call(event, payload)
        if ack["ok"]:
            continue  # some junk is harmless for some events (leave a room never joined)
        code = ack["error"]["code"]
        assert code in EXPECTED_CODES, (event, payload, ack)
        assert isinstance(ack["error"]["message"], str) and ack["error"]["message"]
        seen_codes.add(code)
    assert client.sio.connected
    assert "handler failed" not in live.log()
    assert "Traceback" not in live.log()
    assert {"VALIDATION_ERROR", "NOT_IN_ROOM"} <= seen_codes
    await live.close_clients()

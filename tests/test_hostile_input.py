"""Hostile input to every registered event: a clear error code each time, never a crash."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import pytest

JUNK_PAYLOADS = [
    None,
    [],
    "text",
    123,
    1.5,
    True,
    {"a": {"b": {"c": [1, 2, {"d": None}]}}},
    {"channelId": 5},
    {"channelId": None},
    {"channelId": "x" * 200},
    {"channelId": "a/b"},
    {"channelId": "ok", "content": None},
    {"channelId": "ok", "content": ["list"]},
    {"channelId": "ok", "messageId": {"$gt": ""}},
    {"conversationId": "c", "customerId": 7},
    {"channelId": "ok", "limit": -1, "before": 3},
    {"roomName": "r", "segment": "s"},
    {"sessionId": "../../etc/passwd"},
    {"token": 42},
    {"status": "on-fire"},
    {"channelId": "ok", "emoji": "", "action": "explode", "messageId": "m"},
    {"channelId": "ok", "updates": "all"},
    {"conversationId": "c", "customerId": "d", "lastMessageTimestamp": "yesterday"},
]
EXPECTED_CODES = {
    "VALIDATION_ERROR",
    "NOT_IN_ROOM",
    "NOT_FOUND",
    "FORBIDDEN",
    "CONFLICT",
    "AUTH_INVALID",
}


def registered_events(live) -> list[str]:
    """Every event of every enabled plugin, as `lvng plugins --json` lists them."""
    result = subprocess.run(
        [sys.executable, "-m", "core.cli", "plugins", "--json"],
        env=live.process_env(),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    events = ["auth:refresh"]  # the core's own
    for plugin in json.loads(result.stdout):
        assert plugin["error"] is None, plugin
        if plugin["enabled"]:
            events.extend(plugin["events"])
    # probe:boom and probe:refuse fail on purpose, whatever they are sent; probe:hold
    # waits for the server to stop.
    return [e for e in events if e not in {"probe:boom", "probe:refuse", "probe:hold"}]


# The only events that may answer junk with `ok`: the junk is beside a valid target, and
# is ignored (or, for probe:after, which takes no payload, the whole payload is). What
# such an answer may do is checked below: nothing else.
OK_WITH_JUNK = {
    "channel:join",
    "channel:leave",
    "channel:list",  # a read: every key may be left out (the first page of 100)
    "conversation:leave",
    "probe:after",
    "call:join",
    "call:leave",
    "call:transcript",  # a read: the call room "r" junk joined has a transcript
    "presence:heartbeat",
    "presence:list",
    "presence:update",
    "activity:unsubscribe",
}


@pytest.mark.timeout(120)
async def test_every_event_answers_junk_with_a_contract_code(start_server):
    live = start_server(
        env={"LVNG_RATE_LIMIT_EVENTS": "100000", "LVNG_RATE_LIMIT_USER_EVENTS": "100000"}
    )
    events = registered_events(live)
    assert {"message:send", "probe:echo"} <= set(events)
    # A witness in the fuzzer's organization and in the one channel junk can name ("ok").
    witness = await live.connect("witness", "hostile-org")
    assert (await witness.call("channel:join", {"channelId": "ok"}))["ok"] is True
    await witness.next("channel:join")
    await witness.next("channel:history")
    client = await live.connect("fuzzer", "hostile-org")
    seen_codes: set[str] = set()
    in_channel, joins, leaves = False, 0, 0
    for event, payload in itertools.product(events, JUNK_PAYLOADS):
        ack = await client.call(event, payload)
        if ack["ok"]:
            assert event in OK_WITH_JUNK, (event, payload, ack)
            if event == "channel:join":
                assert ack["channelId"] == "ok" and ack["channel"]["id"] == "ok", ack
                joins += not in_channel
                in_channel = True
            elif event == "channel:leave":
                assert ack == {"ok": True, "channelId": "ok", "left": in_channel}, ack
                leaves += in_channel
                in_channel = False
            elif event == "channel:list":  # the one channel junk joined, nothing in it
                assert ack == {
                    "ok": True,
                    "channels": [
                        {
                            "channelId": "ok",
                            "name": "ok",
                            "private": False,
                            "unreadCount": 0,
                            "mentionCount": 0,
                            "lastMessage": None,
                            "lastReadMessageId": None,
                        }
                    ],
                    "nextCursor": None,
                }, ack
            elif event == "probe:after":  # three emits to the sender itself, by design
                assert ack == {"ok": True, "queued": 3}, ack
            elif event == "call:join":  # a valid roomName beside the junk
                assert ack["roomName"] == payload["roomName"], ack
                assert [p["userId"] for p in ack["participants"]] == ["fuzzer"], ack
            elif event == "call:leave":
                assert ack["roomName"] == payload["roomName"], ack
            elif event == "call:transcript":  # a read of the call junk joined
                assert (ack["roomName"], ack["segments"]) == (payload["roomName"], []), ack
            elif event == "presence:heartbeat":  # takes no payload
                assert ack == {"ok": True}, ack
            elif event == "presence:update":  # every key may be left out: nothing changes
                assert (ack["userId"], ack["status"], ack["customStatus"], ack["statusText"]) == (
                    "fuzzer",
                    "online",
                    None,
                    None,
                ), ack
            elif event == "presence:list":  # a read
                assert {u["userId"] for u in ack["users"]} == {"fuzzer", "witness"}, ack
            elif event == "activity:unsubscribe":
                assert ack == {
                    "ok": True,
                    "customerId": payload["customerId"],
                    "wasSubscribed": False,
                }, ack
            else:
                assert ack == {
                    "ok": True,
                    "conversationId": payload["conversationId"],
                    "left": False,
                }, ack
            continue
        code = ack["error"]["code"]
        assert code in EXPECTED_CODES, (event, payload, ack)
        assert isinstance(ack["error"]["message"], str) and ack["error"]["message"]
        seen_codes.add(code)
    assert client.sio.connected
    assert "handler failed" not in live.log()
    assert "Traceback" not in live.log()
    assert {"VALIDATION_ERROR", "NOT_IN_ROOM"} <= seen_codes
    assert joins >= 1 and leaves >= 1

    # Broadcast: the witness heard the fuzzer join and leave "ok", and nothing else. Its
    # round trip comes back after anything sent to it before.
    assert (await witness.call("probe:echo", {"text": "barrier"}))["ok"] is True
    heard = {event: witness.unread(event) for event in list(witness.received)}
    heard = {event: items for event, items in heard.items() if items}
    assert set(heard) <= {"channel:join", "channel:leave", "probe:echoed", "presence:update"}, heard
    # The two coming online (their connects, not the junk) is the only presence news.
    assert all(
        p["userId"] in {"fuzzer", "witness"} and p["status"] == "online"
        for p in heard.get("presence:update", [])
    ), heard
    assert [p["userId"] for p in heard.get("channel:join", [])] == ["fuzzer"] * joins
    assert [p["userId"] for p in heard.get("channel:leave", [])] == ["fuzzer"] * leaves
    # Stored: no message in "ok", no customer or conversation made.
    admin = live.token("auditor", "hostile-org", roles=["admin"])
    status, page = await live.http("GET", "/api/v1/channels/ok/messages", token=admin)
    assert (status, page["messages"], page["total"]) == (200, [], 0)
    status, reply = await live.http(
        "GET",
        "/api/v1/customers/d/conversations/c/messages",
        token=live.token("auditor", "hostile-org", customers=["d"]),
    )
    assert (status, reply["error"]["code"]) == (404, "NOT_FOUND")
    status, members = await live.http("GET", "/api/v1/channels/ok/members", token=admin)
    assert [m["userId"] for m in members["members"]] == ["witness"]  # its creator only
    await live.close_clients()

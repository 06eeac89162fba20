"""The event pipeline: rate limit → known event → validation → handler → ack (contract 3)."""

from __future__ import annotations

import asyncio
import time


async def test_ack_and_handler_emit(server):
    client = await server.connect("u1", "acme")
    ack = await client.call("probe:echo", {"text": "hello", "count": 3, "userId": "spoof"})
    assert ack == {"ok": True, "text": "hello", "count": 3}
    assert await client.next("probe:echoed") == {"text": "hello", "count": 3, "userId": "u1"}


async def test_unknown_event(server):
    client = await server.connect()
    ack = await client.call("no:such:event", {"x": 1})
    assert ack == {
        "ok": False,
        "error": {"code": "UNKNOWN_EVENT", "message": "unknown event 'no:such:event'"},
    }
    assert await client.next("error") == {
        "code": "UNKNOWN_EVENT",
        "message": "unknown event 'no:such:event'",
        "event": "no:such:event",
    }


async def test_malformed_payloads_are_validation_errors_and_the_socket_survives(server):
    client = await server.connect()
    cases = [
        ({"text": ""}, "text: String should have at least 1 character"),
        ({}, "text: Field required"),
        ({"text": "x" * 101}, "text: String should have at most 100 characters"),
        (
            {"text": "ok", "count": "many"},
            "count: Input should be a valid integer, unable to parse string as an integer",
        ),
        ("just a string", "the payload must be an object"),
        ([1, 2], "the payload must be an object"),
    ]
    for payload, message in cases:
        ack = await client.call("probe:echo", payload)
        assert ack == {"ok": False, "error": {"code": "VALIDATION_ERROR", "message": message}}
        assert await client.next("error") == {
            "code": "VALIDATION_ERROR",
            "message": message,
            "event": "probe:echo",
        }
    # Two payload arguments are refused too.
    await client.sio.emit("probe:echo", ({"text": "a"}, {"text": "b"}))
    assert (await client.next("error"))["message"] == "send one payload object per event"
    assert await client.call("probe:echo", {"text": "fine"}) == {
        "ok": True,
        "text": "fine",
        "count": 1,
    }


async def test_handler_exception_is_internal_error_without_traceback(server):
    client = await server.connect()
    ack = await client.call("probe:boom", {})
    assert ack == {
        "ok": False,
        "error": {"code": "INTERNAL_ERROR", "message": "internal error; it has been logged"},
    }
    error = await client.next("error")
    assert error == {
        "code": "INTERNAL_ERROR",
        "message": "internal error; it has been logged",
        "event": "probe:boom",
    }
    assert "exploded" not in str(error)
    # The server logged it with the event and socket, and keeps serving.
    assert f"handler failed: event=probe:boom sid={client.sid}" in server.log()
    assert "RuntimeError: probe exploded on purpose" in server.log()
    assert (await client.call("probe:echo", {"text": "alive"}))["ok"] is True
    other = await server.connect("u2")
    assert (await other.call("probe:echo", {"text": "alive"}))["ok"] is True


async def test_handler_error_codes_pass_through(server):
    client = await server.connect()
    assert await client.call("probe:refuse") == {
        "ok": False,
        "error": {"code": "CONFLICT", "message": "probe refuses"},
    }


async def test_rate_limit_default_100_per_window(server):
    client = await server.connect("spammer")
    for i in range(100):
        ack = await client.call("probe:echo", {"text": f"m{i}"})
        assert ack["ok"] is True, (i, ack)
    ack = await client.call("probe:echo", {"text": "one too many"})
    assert ack["ok"] is False
    error = ack["error"]
    assert error["code"] == "RATE_LIMITED"
    assert error["message"] == "rate limit of 100 events per 60 s exceeded"
    assert 55_000 < error["retryAfterMs"] <= 60_001
    pushed = await client.next("error")
    assert pushed["code"] == "RATE_LIMITED" and pushed["event"] == "probe:echo"
    assert set(pushed) == {"code", "message", "event", "retryAfterMs"}
    # Unknown events count against the limit too, and are refused by it first.
    assert (await client.call("nope"))["error"]["code"] == "RATE_LIMITED"
    assert client.sio.connected


async def test_rate_limit_window_slides_and_floods_disconnect(start_server):
    live = start_server(env={"LVNG_RATE_LIMIT_EVENTS": "5", "LVNG_RATE_LIMIT_WINDOW": "1"})
    before = await live.metric("lvng_rate_limited_total")
    client = await live.connect("slider")
    results = [await client.call("probe:echo", {"text": "x"}) for _ in range(6)]
    assert [r["ok"] for r in results] == [True] * 5 + [False]
    await asyncio.sleep(results[-1]["error"]["retryAfterMs"] / 1000 + 0.05)
    assert (await client.call("probe:echo", {"text": "again"}))["ok"] is True
    assert await live.metric("lvng_rate_limited_total") == before + 1

    flooder = await live.connect("flooder")
    for _ in range(20):  # three times the limit within the window, and more
        await flooder.emit("probe:echo", {"text": "flood"})
    await asyncio.wait_for(flooder.disconnected.wait(), 5)
    assert await live.metric("lvng_rate_limit_disconnects_total") == 1
    assert client.sio.connected  # the well-behaved socket stays
    await live.close_clients()


async def test_the_attempt_that_reaches_three_times_the_limit_disconnects(start_server):
    """Limit 5: attempts 1-5 pass, 6-14 are refused, the 15th (3 x 5) is refused and
    disconnects. The window (60 s) cannot slide during the test."""
    live = start_server(env={"LVNG_RATE_LIMIT_EVENTS": "5", "LVNG_RATE_LIMIT_WINDOW": "60"})
    client = await live.connect("counted-flooder")
    acks = []
    for attempt in range(1, 15):
        acks.append(await client.call("probe:echo", {"text": f"a{attempt}"}))
        # Counted before the ack is sent: no disconnect has been decided yet.
        assert await live.metric("lvng_rate_limit_disconnects_total") == 0, attempt
    assert [a["ok"] for a in acks] == [True] * 5 + [False] * 9
    assert {a["error"]["code"] for a in acks[5:]} == {"RATE_LIMITED"}
    assert await live.metric("lvng_rate_limited_total") == 9
    # The 15th: the socket is disconnected (whether its ack makes it out first is a race).
    await client.emit("probe:echo", {"text": "a15"})
    await asyncio.wait_for(client.disconnected.wait(), 5)
    assert await live.metric("lvng_rate_limit_disconnects_total") == 1
    assert await live.metric("lvng_rate_limited_total") == 10
    assert client.disconnect_reason == "server disconnect"
    assert "three times the rate limit" in live.log()
    await live.close_clients()


async def test_core_metrics_move(start_server):
    # A server of its own: the connection gauges see no other test's sockets come and go.
    server = start_server()
    client = await server.connect("metered")
    assert await server.metric("lvng_connections_total") == 1
    assert await server.metric("lvng_connections_active") == 1

    await client.call("probe:echo", {"text": "one"})
    await client.call("probe:echo", {"text": ""})
    await client.call("made:up:event")
    second = await server.connect("metered-2")

    assert await server.metric("lvng_events_received_total", event="probe:echo") == 2
    assert await server.metric("lvng_events_received_total", event="unknown") == 1
    assert await server.metric("lvng_events_received_total", event="made:up:event") == 0
    assert (
        await server.metric("lvng_event_errors_total", event="probe:echo", code="VALIDATION_ERROR")
        == 1
    )
    assert (
        await server.metric("lvng_event_errors_total", event="unknown", code="UNKNOWN_EVENT") == 1
    )
    assert await server.metric("lvng_event_duration_seconds_count", event="probe:echo") == 2
    assert await server.metric("lvng_connections_total") == 2
    assert await server.metric("lvng_connections_active") == 2
    await second.close()
    # The server handles the goodbye on its own time: wait for the gauge, not a while.
    deadline = time.monotonic() + 5
    while await server.metric("lvng_connections_active") != 1:
        assert time.monotonic() < deadline, "the disconnect was never counted"
        await asyncio.sleep(0.01)
    assert await server.metric("lvng_connections_total") == 2
    await server.close_clients()


async def test_a_failing_after_ack_item_neither_stops_the_rest_nor_keeps_the_turn(server):
    """`AfterAck.run` logs a failing item and runs the later ones: the emit queued after
    it goes out, and the turn's release (queued last) runs, so the room is not locked."""
    client = await server.connect("after-fails", "acme")
    logged = server.log().count("after-ack work failed")
    for attempt in range(2):  # the second waits for the first's turn: it must be free
        ack = await client.call("probe:after-fails", {"name": "turn-1"}, timeout=3)
        assert ack == {"ok": True, "queued": 3}, attempt
        assert await client.next("probe:after") == {"n": 0, "name": "turn-1"}
        assert await client.next("probe:after") == {"n": 2, "name": "turn-1"}
    # Each failure was logged once (the round trip: both handlers' work has run).
    assert (await client.call("probe:echo", {"text": "barrier"}))["ok"] is True
    assert server.log().count("after-ack work failed") == logged + 2

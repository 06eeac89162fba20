"""Bad presence input: a clear VALIDATION_ERROR each time, the socket alive afterwards."""

from __future__ import annotations

import pytest

from tests.messages.support import expect_error, uid
from tests.presence.support import connect, heard, update


@pytest.mark.parametrize(
    "payload, message",
    [
        ({"status": "on-fire"}, "status: Input should be 'online', 'away', 'busy' or 'offline'"),
        ({"customStatus": 5}, "customStatus: Input should be a valid string"),
        ({"status": None}, "status: Input should be 'online', 'away', 'busy' or 'offline'"),
        (
            {"status": "busy", "customStatus": "x" * 257},
            "customStatus: String should have at most 256 characters",
        ),
        ({"status": "busy", "statusText": 42}, "statusText: Input should be a valid string"),
        ("online", "the payload must be an object"),
        (["online"], "the payload must be an object"),
        (7, "the payload must be an object"),
    ],
)
async def test_a_bad_update_is_refused_and_the_socket_stays(server, payload, message):
    org = uid("org")
    alice = await connect(server, "alice", org, "Alice")
    await heard(alice)
    error = await expect_error(alice, "presence:update", payload, "VALIDATION_ERROR")
    assert error["message"] == message
    # Still connected, nothing announced, and the next good update works.
    assert alice.sio.connected
    await alice.nothing("presence:update", within=0.05)
    ack = await alice.call("presence:update", {"status": "busy", "customStatus": "y" * 256})
    assert ack["ok"] is True
    assert await heard(alice) == update("alice", "Alice", "busy", "y" * 256)


@pytest.mark.parametrize("event", ["presence:heartbeat", "presence:list"])
async def test_heartbeat_and_list_refuse_a_non_object(server, event):
    alice = await connect(server, "alice", uid("org"))
    error = await expect_error(alice, event, "now", "VALIDATION_ERROR")
    assert error["message"] == "the payload must be an object"
    assert (await alice.call(event, {}))["ok"] is True

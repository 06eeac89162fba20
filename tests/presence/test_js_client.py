"""Presence with the standard JavaScript socket.io-client 4.x (websocket and polling)."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.messages.support import uid
from tests.presence.support import TIMESTAMP
from tests.test_js_client import JS, node_ready


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_a_js_client_sets_and_hears_presence(server, transport):
    node_ready()
    org = uid("org")
    result = subprocess.run(
        [
            "node",
            str(JS / "presence_check.mjs"),
            server.url,
            server.token("js-alice", org, name="Alice"),
            server.token("js-bob", org, name="Bob"),
            transport,
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert "timeout" not in seen, seen
    busy = {
        "userId": "js-alice",
        "userName": "Alice",
        "status": "busy",
        "customStatus": "from js",
        "statusText": None,
    }
    ack, heard = dict(seen["ack"]), dict(seen["heard"])
    assert ack.pop("ok") is True and TIMESTAMP.match(ack.pop("timestamp"))
    assert TIMESTAMP.match(heard.pop("timestamp"))
    assert ack == heard == busy
    assert seen["list"]["ok"] is True
    assert [{k: v for k, v in u.items() if k != "lastSeen"} for u in seen["list"]["users"]] == [
        busy,
        {
            "userId": "js-bob",
            "userName": "Bob",
            "status": "online",
            "customStatus": None,
            "statusText": None,
        },
    ]

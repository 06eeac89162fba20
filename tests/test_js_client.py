"""The standard JavaScript socket.io-client 4.x against a live server (websocket and polling)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.services import IN_CI

JS = Path(__file__).parent / "js"


def node_ready() -> None:
    if shutil.which("node") and (JS / "node_modules" / "socket.io-client").is_dir():
        return
    message = "node or tests/js/node_modules missing (run: npm ci --prefix tests/js)"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_socket_io_client_connects_acks_and_gets_errors(server, transport):
    node_ready()
    result = subprocess.run(
        [
            "node",
            str(JS / "client_check.mjs"),
            server.url,
            server.token("js-user", "acme"),
            transport,
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert "timeout" not in seen, seen
    assert seen["refused"] == {
        "message": "the token is not a JWT",
        "data": {"code": "AUTH_INVALID", "message": "the token is not a JWT"},
    }
    assert seen["transport"] == transport
    connected = seen["connected"]
    assert set(connected) == {"socketId", "userId", "organizationId", "timestamp"}
    assert (connected["userId"], connected["organizationId"]) == ("js-user", "acme")
    assert seen["echo"] == {"ok": True, "text": "from js", "count": 1}
    assert seen["unknown"] == {
        "ok": False,
        "error": {"code": "UNKNOWN_EVENT", "message": "unknown event 'no:such'"},
    }
    assert seen["error"] == {
        "code": "UNKNOWN_EVENT",
        "message": "unknown event 'no:such'",
        "event": "no:such",
    }

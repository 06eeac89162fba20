"""The end-to-end suite (tests/e2e/, Node's test runner and socket.io-client 4.x) against a
live server, and the payloads it received checked against the AsyncAPI document.

The server runs with short plugin timers (a config file) and a small control endpoint
(POST /restart) that the suite's reconnection test calls to restart it. Node's output is
the failure message when any JavaScript test fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.live import LiveServer
from tests.reference import rows
from tests.services import IN_CI

E2E = Path(__file__).parent / "e2e"
CONFIG = """
[plugins.presence]
offline_grace_seconds = 0.5
[plugins.messages]
read_coalesce_ms = 150
typing_timeout_seconds = 1.5
"""
NODE_TIMEOUT = 240


def node_ready() -> None:
    if shutil.which("node") and (E2E / "node_modules" / "socket.io-client").is_dir():
        return
    message = "node or tests/e2e/node_modules missing (run: npm ci --prefix tests/e2e)"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


class Control(ThreadingHTTPServer):
    """POST /restart: restart the live server, answer once it listens again."""

    def __init__(self, live: LiveServer) -> None:
        self.live = live
        self.restarts = 0
        super().__init__(("127.0.0.1", 0), ControlHandler)


class ControlHandler(BaseHTTPRequestHandler):
    server: Control

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        if self.path != "/restart":
            self.send_error(404)
            return
        self.server.live.restart()
        self.server.restarts += 1
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def e2e_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run the whole JavaScript suite once: node's exit code and output, the received
    payloads, and the served AsyncAPI document."""
    node_ready()
    workdir = tmp_path_factory.mktemp("e2e")
    config = workdir / "lvng.toml"
    config.write_text(CONFIG)
    live = LiveServer(workdir, args=["--config", str(config)]).start()
    control = Control(live)
    thread = threading.Thread(target=control.serve_forever, daemon=True)
    thread.start()
    record = workdir / "received"
    files = sorted(p.name for p in E2E.glob("*.test.mjs"))
    # The restarts in a run of their own, last: the rest runs against a server that stays up.
    runs = [
        [f for f in files if not f.startswith("restart")],
        [f for f in files if f.startswith("restart")],
    ]
    env = {
        **os.environ,
        "LVNG_URL": live.url,
        "LVNG_JWT_SECRET": live.secret,
        "LVNG_CONTROL_URL": f"http://127.0.0.1:{control.server_address[1]}",
        "LVNG_E2E_RECORD": str(record),
    }
    started = time.monotonic()
    results = []
    try:
        for run in runs:
            results.append(
                subprocess.run(
                    [
                        "node",
                        "--test",
                        "--test-concurrency=1",
                        "--test-force-exit",
                        "--test-reporter=spec",
                        *run,
                    ],
                    cwd=E2E,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=NODE_TIMEOUT,
                )
            )
            if results[-1].returncode != 0:
                break
        import urllib.request

        with urllib.request.urlopen(f"{live.url}/asyncapi.json", timeout=10) as answer:
            document = json.loads(answer.read())
    finally:
        control.shutdown()
        control.server_close()
        live.stop()
    received: list[dict[str, Any]] = []
    for path in sorted(record.glob("*.json")) if record.exists() else []:
        received.extend(json.loads(path.read_text()))
    return {
        "results": results,
        "seconds": time.monotonic() - started,
        "received": received,
        "document": document,
        "restarts": control.restarts,
        "log": live.log(),
    }


def test_the_javascript_suite_passes_over_websocket_and_polling(e2e_run):
    for result in e2e_run["results"]:
        output = result.stdout + result.stderr
        assert result.returncode == 0, (
            f"node --test failed ({result.returncode}):\n{output[-20000:]}\n"
            f"--- server log (end) ---\n{e2e_run['log'][-4000:]}"
        )
        assert re.search(r"^\S+ fail 0$", output, re.M), output[-3000:]
        assert not re.search(r"^\S+ pass 0$", output, re.M), output[-3000:]
    assert len(e2e_run["results"]) == 2
    assert e2e_run["restarts"] >= 1, "the reconnection test never restarted the server"


def _schema_of(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    found = {}
    for message in document["channels"]["socketio"]["messages"].values():
        if message["x-lvng-direction"] == "server→client":
            # The payload's refs point into components: keep them reachable from the root.
            found[(message["name"], "out")] = {
                **message["payload"],
                "components": document["components"],
            }
    return found


def test_every_payload_the_suite_received_fits_the_asyncapi_document(e2e_run):
    received = e2e_run["received"]
    assert received, "the suite recorded no payload"
    schemas = _schema_of(e2e_run["document"])
    problems, seen = [], set()
    for item in received:
        event, payload = item["event"], item["payload"]
        if event.startswith("probe:"):
            continue  # the test suite's own probe plugin
        schema = schemas.get((event, "out"))
        if schema is None:
            problems.append(f"{event}: not in the document")
            continue
        seen.add(event)
        validator = jsonschema.Draft202012Validator(schema)
        for error in validator.iter_errors(payload):
            problems.append(f"{event}: {list(error.absolute_path)}: {error.message[:200]}")
    assert not problems, "\n".join(sorted(set(problems))[:30])
    # Every server→client row of the reference was received at least once.
    expected = {row.event for row in rows() if row.direction == "out"}
    assert expected - seen == set(), f"never received: {sorted(expected - seen)}"

"""The AsyncAPI 3.0 document (`GET /asyncapi.json`, `lvng asyncapi`): valid against the
official AsyncAPI 3.0.0 JSON schema, every row of the event reference in it, and a
plugin's events present exactly while the plugin is enabled."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.reference import rows
from tests.services import IN_CI

REPO = Path(__file__).resolve().parent.parent
# The official schema, bundled by the @asyncapi/specs npm package (tests/e2e's lock file).
SPEC_SCHEMA = (
    REPO / "tests" / "e2e" / "node_modules" / "@asyncapi" / "specs" / "schemas" / "3.0.0.json"
)


def asyncapi_schema() -> dict[str, Any]:
    if not SPEC_SCHEMA.exists():
        message = "@asyncapi/specs missing (run: npm ci --prefix tests/e2e)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return json.loads(SPEC_SCHEMA.read_text())


def assert_valid_asyncapi(document: dict[str, Any]) -> None:
    validator = jsonschema.Draft7Validator(asyncapi_schema())
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message[:300]}" for e in errors[:10])


def cli_document(tmp_path: Path, **env: str) -> dict[str, Any]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LVNG_")}
    environ.update({"LVNG_ENTRY_POINTS": "false", **env})
    result = subprocess.run(
        [sys.executable, "-m", "core.cli", "asyncapi"],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert not any(tmp_path.iterdir()), "lvng asyncapi must not touch the database"
    return json.loads(result.stdout)


def messages_by_event(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(event name, "in" | "out") → its message object."""
    found = {}
    for message in document["channels"]["socketio"]["messages"].values():
        direction = "in" if message["x-lvng-direction"] == "client→server" else "out"
        found[(message["name"], direction)] = message
    return found


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        assert schema["$ref"].startswith("#/components/schemas/"), schema
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_the_document_is_valid_asyncapi_3_and_has_every_row_of_the_reference(tmp_path):
    document = cli_document(tmp_path)
    assert document["asyncapi"] == "3.0.0"
    assert_valid_asyncapi(document)
    found = messages_by_event(document)
    for row in rows():
        message = found.get((row.event, row.direction))
        assert message is not None, f"{row.event} ({row.direction}) is not in the document"
        assert message["summary"], row
        schema = resolve(document, message["payload"]) if message["payload"] else {}
        properties = set(schema.get("properties", {}))
        if row.direction == "out":
            # Every key of the reference is one the server always sends.
            missing = set(row.keys) - set(schema.get("required", []))
            assert not missing, f"{row.event}: the schema does not require {missing}"
            assert schema.get("additionalProperties", True) is not False, row.event
        else:
            # Every key a client may send is known to the schema that validates it
            # (userId and userName of typing:* are ignored: the token says who it is).
            ignored = {"userId", "userName"} if row.event.startswith("typing:") else set()
            missing = set(row.keys + row.optional) - properties - ignored
            assert not missing, f"{row.event}: the schema does not know {missing}"
    operations = document["operations"]
    for operation in operations.values():
        ref = operation["messages"][0]["$ref"]
        key = ref.rsplit("/", 1)[1]
        message = document["channels"]["socketio"]["messages"][key]
        expected = "receive" if message["x-lvng-direction"] == "client→server" else "send"
        assert operation["action"] == expected, key


def test_a_disabled_plugins_events_vanish_from_the_document(tmp_path):
    document = cli_document(tmp_path, LVNG_DISABLED_PLUGINS="calls")
    assert_valid_asyncapi(document)
    names = {name for name, _ in messages_by_event(document)}
    assert not {n for n in names if n.startswith(("call:", "transcription:"))}
    assert {"message:send", "swarm:update", "connected", "error"} <= names
    assert "calls" not in document["info"]["x-lvng-plugins"]


async def test_the_server_serves_the_same_document(server, tmp_path):
    status, served = await server.http("GET", "/asyncapi.json")
    assert status == 200
    assert_valid_asyncapi(served)
    assert served["servers"]["lvng"]["host"] == f"127.0.0.1:{server.port}"
    # The live server also loads the test suite's probe plugin: its events are there too.
    assert any(
        m["x-lvng-plugin"] == "probe" for m in served["channels"]["socketio"]["messages"].values()
    )
    plain = cli_document(tmp_path)
    assert set(plain["channels"]["socketio"]["messages"]) <= set(
        served["channels"]["socketio"]["messages"]
    )

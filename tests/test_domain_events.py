"""Domain events are declared with a schema, checked when published, and listed.

A plugin declares each domain event it publishes through `lvng_register_domain_events`;
`platform.publish` refuses an undeclared name or data its schema refuses (raising with
`--dev` or LVNG_STRICT_DOMAIN_EVENTS, which every test server sets; logged, counted and
dropped otherwise); `lvng plugins` lists them with their fields.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel

from core.errors import PluginError
from core.registry import EventRegistry
from tests.live import PROBE_PLUGIN
from tests.messages.support import in_conversation, send, uid
from tests.test_plugins import run_lvng

RECORDER = "recorder=tests.support.recorder_plugin"
TARGET_FIELDS = [
    {"name": "channelId", "type": "str | None", "required": True},
    {"name": "conversationId", "type": "str | None", "required": True},
    {"name": "customerId", "type": "str | None", "required": True},
    {"name": "userId", "type": "str", "required": True},
    {"name": "userName", "type": "str", "required": True},
]
MESSAGE_ID = {"name": "messageId", "type": "str", "required": True}
MESSAGE = {"name": "message", "type": "dict[str, Any]", "required": True}


# --- listed by `lvng plugins` ---------------------------------------------------------


def test_lvng_plugins_lists_domain_events_with_their_fields(tmp_path):
    listed = run_lvng("plugins", "--json", env={}, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    infos = {info["name"]: info for info in json.loads(listed.stdout)}
    assert infos["messages"]["domain_events"] == [
        {
            "name": "conversation.member_joined",
            "description": "a user's first socket joined a customer conversation",
            "fields": TARGET_FIELDS,
        },
        {
            "name": "conversation.member_left",
            "description": "a user's last socket left a customer conversation",
            "fields": TARGET_FIELDS,
        },
        {
            "name": "message.created",
            "description": "a message was stored in a channel or conversation",
            "fields": [*TARGET_FIELDS, MESSAGE_ID, MESSAGE],
        },
        {
            "name": "message.deleted",
            "description": "a message was deleted (soft: kept, marked deleted)",
            "fields": [*TARGET_FIELDS, MESSAGE_ID],
        },
        {
            "name": "message.updated",
            "description": "a message's content or metadata was edited",
            "fields": [*TARGET_FIELDS, MESSAGE_ID, MESSAGE],
        },
    ]
    assert "lvng_register_domain_events" in infos["messages"]["hooks"]
    assert infos["probe"]["domain_events"] == [
        {
            "name": "probe.published",
            "description": "a user asked the probe to publish a note",
            "fields": [
                {"name": "note", "type": "str", "required": True},
                {"name": "userId", "type": "str", "required": True},
            ],
        },
    ]

    text = run_lvng("plugins", env={}, cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    start = lines.index("probe [module: tests.support.probe_plugin] enabled")
    assert lines[start + 5 : start + 8] == [
        "  domain events:",
        "    probe.published: a user asked the probe to publish a note",
        "      {note: str, userId: str}",
    ]


def test_a_plugin_without_domain_events_lists_none(tmp_path):
    listed = run_lvng(
        "plugins", env={"LVNG_PLUGIN_MODULES": f"{PROBE_PLUGIN},{RECORDER}"}, cwd=tmp_path
    )
    lines = listed.stdout.splitlines()
    start = lines.index("recorder [module: tests.support.recorder_plugin] enabled")
    assert lines[start + 5] == "  domain events: -"


# --- declarations checked at start ----------------------------------------------------


class Note(BaseModel):
    text: str


@pytest.mark.parametrize(
    ("name", "schema", "description", "problem"),
    [
        (
            "Probe Published",
            Note,
            "x",
            "the name must be dotted lower-case words, like message.created",
        ),
        ("published", Note, "x", "the name must be dotted lower-case words, like message.created"),
        ("probe.noted", dict, "x", "the schema must be a pydantic model class"),
        *(
            (
                "probe.noted",
                Note,
                text,
                "the description must be one non-empty line, without surrounding blanks",
            )
            for text in ("", "two\nlines", " x")
        ),
    ],
)
def test_a_bad_declaration_stops_the_start(name, schema, description, problem):
    registry = EventRegistry()
    with pytest.raises(PluginError) as refused:
        registry.domain_registrar("probe").add(name, schema, description)
    assert str(refused.value) == f"plugin probe: domain event {name!r}: {problem}"


def test_a_domain_event_name_has_one_owner():
    registry = EventRegistry()
    registry.domain_registrar("probe").add("probe.noted", Note, "noted")
    with pytest.raises(
        PluginError,
        match="^plugin other: domain event 'probe.noted' is already declared by plugin probe$",
    ):
        registry.domain_registrar("other").add("probe.noted", Note, "noted too")
    # Nor may another plugin publish it.
    assert registry.check_domain_event("other", "probe.noted", {"text": "x"}) == (
        "plugin other published domain event 'probe.noted', which it does not declare in "
        "lvng_register_domain_events"
    )
    assert registry.check_domain_event("probe", "probe.noted", {"text": "x"}) is None


# --- checked when published -----------------------------------------------------------

BAD = {
    "undeclared": (
        "probe.undeclared",
        "plugin probe published domain event "
        "'probe.undeclared', which it does not declare in "
        "lvng_register_domain_events",
    ),
    "invalid": (
        "probe.published",
        "plugin probe published domain event 'probe.published' "
        "with invalid data: note: Input should be a valid string",
    ),
    "extra": (
        "probe.published",
        "plugin probe published domain event 'probe.published' "
        "with invalid data: secret: Extra inputs are not permitted",
    ),
}


@pytest.fixture(scope="module")
def strict_server(start_server):
    return start_server(env={"LVNG_PLUGIN_MODULES": f"{PROBE_PLUGIN},{RECORDER}"})


@pytest.fixture(scope="module")
def lenient_server(start_server):
    return start_server(
        env={
            "LVNG_PLUGIN_MODULES": f"{PROBE_PLUGIN},{RECORDER}",
            "LVNG_STRICT_DOMAIN_EVENTS": "false",
        }
    )


@pytest.mark.parametrize("kind", list(BAD))
async def test_a_bad_domain_event_fails_its_handler_when_strict(strict_server, kind):
    live = strict_server
    name, problem = BAD[kind]
    client = await live.connect(uid("u"))
    ack = await client.call("probe:publish-bad", {"kind": kind})
    assert ack["ok"] is False and ack["error"]["code"] == "INTERNAL_ERROR", ack
    await client.nothing("recorder:event")
    await client.nothing("probe:domain")
    assert f"DomainEventError: {problem}" in live.log()
    # A valid one still reaches the consumers.
    assert await client.call("probe:publish", {"note": "fine"}) == {"ok": True}
    received = await client.next("recorder:event")
    assert received == {
        "name": "probe.published",
        "source": "probe",
        "data": {"note": "fine", "userId": received["data"]["userId"]},
    }
    assert (await client.next("probe:domain"))["data"]["note"] == "fine"


@pytest.mark.parametrize("kind", list(BAD))
async def test_a_bad_domain_event_is_logged_counted_and_dropped_in_production(lenient_server, kind):
    live = lenient_server
    name, problem = BAD[kind]
    labels = {"plugin": "probe", "name": name}
    invalid_before = await live.metric("lvng_domain_events_invalid_total", **labels)
    published_before = await live.metric("lvng_domain_events_total", **labels)
    client = await live.connect(uid("u"))
    assert await client.call("probe:publish-bad", {"kind": kind}) == {"ok": True}
    await client.nothing("recorder:event")
    assert await live.metric("lvng_domain_events_invalid_total", **labels) == invalid_before + 1
    assert await live.metric("lvng_domain_events_total", **labels) == published_before
    assert f"ERROR lvng: {problem}; not delivered" in live.log()
    assert await client.call("probe:publish", {"note": "fine"}) == {"ok": True}
    assert (await client.next("recorder:event"))["data"]["note"] == "fine"


# --- the messages plugin's events fit their declarations ------------------------------


def data_of(received: dict[str, Any], name: str) -> dict[str, Any]:
    assert received["name"] == name and received["source"] == "messages", received
    return received["data"]


async def test_the_messages_events_reach_a_consumer(strict_server):
    org, customer, conversation = uid("org"), uid("cust"), uid("conv")
    target = {"conversationId": conversation, "customerId": customer}
    ids = {"channelId": None, **target}
    alice = await in_conversation(strict_server, org, customer, conversation, "alice", name="Alice")
    person = {"userId": "alice", "userName": "Alice"}
    assert data_of(await alice.next("recorder:event"), "conversation.member_joined") == {
        **ids,
        **person,
    }

    message_id = (await send(alice, target, "hello"))["id"]
    created = data_of(await alice.next("recorder:event"), "message.created")
    assert created == {**ids, **person, "messageId": message_id, "message": created["message"]}
    assert created["message"]["content"] == "hello"
    assert (
        await alice.call("message:update", {**target, "messageId": message_id, "content": "edited"})
    )["ok"] is True
    updated = data_of(await alice.next("recorder:event"), "message.updated")
    assert updated["message"]["content"] == "edited"
    assert (await alice.call("message:delete", {**target, "messageId": message_id}))["ok"]
    assert data_of(await alice.next("recorder:event"), "message.deleted") == {
        **ids,
        **person,
        "messageId": message_id,
    }
    assert (await alice.call("conversation:leave", target))["left"] is True
    assert data_of(await alice.next("recorder:event"), "conversation.member_left") == {
        **ids,
        **person,
    }
    assert "plugin messages published domain event" not in strict_server.log()

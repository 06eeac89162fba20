"""The plugin system through a live server (contract section 9).

A third-party plugin installed from its package and found through its entry point; a
disabled plugin's events; broken and misspelt plugins stopping the start with one line;
a failing fan-out hook isolated; the authorization veto.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.live import PROBE_PLUGIN, REPO, SECRET, free_port

HELLO_SOURCE = REPO / "examples" / "hello-plugin"
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
UUID7 = r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"


# --- plugin packages made for the tests -----------------------------------------------


@pytest.fixture(scope="module")
def hello_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/hello-plugin installed by pip into a scratch directory (not the venv).

    Built from a copy, offline, with the venv's own setuptools, so neither the source tree
    nor the shared environment changes.
    """
    scratch = tmp_path_factory.mktemp("hello")
    source = scratch / "source"
    shutil.copytree(
        HELLO_SOURCE, source, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info")
    )
    site = scratch / "site"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--no-cache-dir",
            "--disable-pip-version-check",
            "--quiet",
            "--target",
            str(site),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (site / "lvng_hello" / "migrations" / "0001_initial.py").is_file()
    return site


@pytest.fixture(scope="module")
def broken_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An installed distribution whose `lvng.plugins` entry point raises on import."""
    site = tmp_path_factory.mktemp("broken")
    dist_info = site / "lvng_broken-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: lvng-broken\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text("[lvng.plugins]\nbroken = lvng_broken\n")
    (site / "lvng_broken.py").write_text('raise RuntimeError("lvng_broken cannot start")\n')
    return site


@pytest.fixture(scope="module")
def local_plugins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Plugin modules for LVNG_PLUGIN_MODULES: one with a misspelt hook, one witness."""
    site = tmp_path_factory.mktemp("local_plugins")
    (site / "lvng_typo.py").write_text(
        textwrap.dedent("""
        from core.hookspecs import hookimpl


        @hookimpl
        def lvng_regster_events(events):
            events.add("typo:ping", None, None)
    """)
    )
    (site / "lvng_misfit.py").write_text(
        textwrap.dedent("""
        from pydantic import BaseModel

        from core.api import Outbound, hookimpl


        class Told(Outbound):
            \"\"\"To the sender: what it asked for, by number.\"\"\"

            id: int


        async def tell(ctx, payload):
            await ctx.reply("misfit:told", {"id": "grt_1"})  # declared an integer
            return {}


        @hookimpl
        def lvng_register_events(events):
            events.add("misfit:tell", None, tell)
            events.emits("misfit:told", Told)
    """)
    )
    (site / "lvng_witness.py").write_text(
        textwrap.dedent("""
        from core.hookspecs import hookimpl


        @hookimpl
        async def lvng_client_connected(session, platform):
            await platform.emit("witness:connected", {"userId": session.user_id},
                                to=session.sid)
    """)
    )
    return site


def run_lvng(
    *args: str, env: dict[str, str], cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`python -m core.cli ARGS` with the live servers' base environment plus `env`."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("LVNG_")}
    full.update(
        {
            "LVNG_JWT_SECRET": SECRET,
            "LVNG_PLUGIN_MODULES": PROBE_PLUGIN,
            "LVNG_ENTRY_POINTS": "false",
            **env,
        }
    )
    full["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "core.cli", *args],
        cwd=cwd,
        env=full,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def paths(*dirs: Path) -> str:
    return os.pathsep.join(str(d) for d in dirs)


async def metric_reaches(
    live, name: str, value: float, timeout: float = 5.0, **labels: str
) -> float:
    """Poll /metrics until the sample equals `value` (fan-out hooks run after `connected`)."""
    deadline = time.monotonic() + timeout
    while (current := await live.metric(name, **labels)) != value:
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    return current


# --- a third-party plugin from its entry point ----------------------------------------


@pytest.fixture(scope="module")
def hello_server(start_server, hello_site):
    return start_server(env={"LVNG_ENTRY_POINTS": "true", "PYTHONPATH": str(hello_site)})


async def test_hello_plugin_answers_its_event_from_its_entry_point(hello_server):
    status, text = await hello_server.http("GET", "/metrics")
    assert status == 200
    assert "\nlvng_hello_greetings_total 0.0\n" in text

    alice = await hello_server.connect("alice")
    assert await alice.call("hello:greet", {"name": "World"}) == {
        "ok": True,
        "greeting": "Hello, World!",
        "count": 1,
    }
    first = await alice.next("hello:greeted")
    assert set(first) == {"id", "name", "greeting", "count", "userId", "createdAt"}
    assert re.fullmatch(f"grt_{UUID7}", first["id"])
    assert ISO_MS.match(first["createdAt"])
    assert first == {
        "id": first["id"],
        "name": "World",
        "greeting": "Hello, World!",
        "count": 1,
        "userId": "alice",
        "createdAt": first["createdAt"],
    }

    assert await alice.call("hello:greet", {"name": "  Ada "}) == {
        "ok": True,
        "greeting": "Hello, Ada!",
        "count": 2,
    }
    second = await alice.next("hello:greeted")
    assert second == {
        "id": second["id"],
        "name": "Ada",
        "greeting": "Hello, Ada!",
        "count": 2,
        "userId": "alice",
        "createdAt": second["createdAt"],
    }
    assert second["id"] > first["id"]  # UUIDv7: time-ordered

    # The count is per user; `hello:greeted` goes to the sender only.
    bob = await hello_server.connect("bob")
    assert await bob.call("hello:greet", {"name": "Alice"}) == {
        "ok": True,
        "greeting": "Hello, Alice!",
        "count": 1,
    }
    assert (await bob.next("hello:greeted"))["userId"] == "bob"
    await alice.nothing("hello:greeted")

    # The plugin's schema guards its event; a refused greeting is neither stored nor counted.
    refused = await alice.call("hello:greet", {"name": ""})
    assert refused["ok"] is False and refused["error"]["code"] == "VALIDATION_ERROR"
    assert await hello_server.metric("lvng_hello_greetings_total") == 3.0

    # Stored in the plugin's own table, created by its own migration.
    with sqlite3.connect(hello_server.workdir / "lvng.sqlite3") as db:
        rows = db.execute("SELECT user_id, name FROM hello_greeting ORDER BY id").fetchall()
        applied = db.execute("SELECT app, name FROM tortoise_migrations").fetchall()
    assert rows == [("alice", "World"), ("alice", "Ada"), ("bob", "Alice")]
    assert ("hello", "0001_initial") in applied
    assert "tables created directly" not in hello_server.log()

    # The AsyncAPI document publishes what the server sends (the server, strict here,
    # checked every `hello:greeted` above against this model).
    status, document = await hello_server.http("GET", "/asyncapi.json")
    greeted = document["components"]["schemas"]["Greeted"]
    assert greeted["properties"]["id"]["type"] == "string"
    assert greeted["properties"]["count"]["type"] == "integer"


def test_lvng_plugins_lists_the_installed_plugin(hello_site, tmp_path):
    env = {"LVNG_ENTRY_POINTS": "true", "PYTHONPATH": str(hello_site)}
    listed = run_lvng("plugins", env=env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    start = lines.index("hello 0.1.0 [entry-point: lvng_hello] enabled")
    assert lines[start + 1 : start + 5] == [
        "  events:  hello:greet",
        "  emits:   hello:greeted",
        "  models:  lvng_hello.models",
        "  metrics: lvng_hello_greetings_total",
    ]

    # Disabled plugins are listed too, as disabled.
    listed = run_lvng(
        "plugins", "--json", env={**env, "LVNG_DISABLED_PLUGINS": "hello"}, cwd=tmp_path
    )
    assert listed.returncode == 0, listed.stderr
    hello = next(info for info in json.loads(listed.stdout) if info["name"] == "hello")
    assert hello == {
        "name": "hello",
        "kind": "entry-point",
        "target": "lvng_hello",
        "version": "0.1.0",
        "enabled": False,
        "events": ["hello:greet"],
        "emits": ["hello:greeted"],
        "domain_events": [],
        "models": ["lvng_hello.models"],
        "metrics": ["lvng_hello_greetings_total"],
        "hooks": ["lvng_metrics", "lvng_models", "lvng_register_events"],
        "error": None,
    }


# --- disabling ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("disabled", "event", "payload", "still_working"),
    [
        ("hello", "hello:greet", {"name": "World"}, ("probe:echo", {"text": "hi"})),
        ("probe", "probe:echo", {"text": "hi"}, ("hello:greet", {"name": "World"})),
    ],
)
async def test_a_disabled_plugins_event_is_unknown(
    start_server, hello_site, disabled, event, payload, still_working
):
    live = start_server(
        env={
            "LVNG_ENTRY_POINTS": "true",
            "PYTHONPATH": str(hello_site),
            "LVNG_DISABLED_PLUGINS": disabled,
        }
    )
    client = await live.connect("carol")
    message = f"unknown event {event!r}"
    assert await client.call(event, payload) == {
        "ok": False,
        "error": {"code": "UNKNOWN_EVENT", "message": message},
    }
    assert await client.next("error") == {
        "code": "UNKNOWN_EVENT",
        "message": message,
        "event": event,
    }
    # The other plugin is there, and the connection is still up.
    other_event, other_payload = still_working
    assert (await client.call(other_event, other_payload))["ok"] is True
    status, text = await live.http("GET", "/metrics")
    assert status == 200
    assert ("lvng_hello_greetings_total" in text) is (disabled != "hello")


# --- plugins that cannot start --------------------------------------------------------


def test_a_broken_plugin_stops_the_start_with_one_line(broken_site, tmp_path):
    env = {"LVNG_ENTRY_POINTS": "true", "PYTHONPATH": str(broken_site)}
    served = run_lvng("serve", "--port", str(free_port()), env=env, cwd=tmp_path)
    assert served.returncode == 2
    assert served.stderr.splitlines() == [
        "lvng: error: plugin broken (entry-point lvng_broken) failed to load: "
        "RuntimeError: lvng_broken cannot start; "
        "leave it out with LVNG_DISABLED_PLUGINS=broken"
    ]
    assert "lvng serving" not in served.stdout

    # `lvng plugins` still lists everything, the broken one with its error, then fails
    # naming it (so a script or CI notices); left out by name, it is only listed.
    listed = run_lvng("plugins", env=env, cwd=tmp_path)
    error = (
        "plugin broken (entry-point lvng_broken) failed to load: "
        "RuntimeError: lvng_broken cannot start; leave it out with LVNG_DISABLED_PLUGINS=broken"
    )
    assert listed.returncode == 2
    assert listed.stderr.splitlines() == [f"lvng: error: {error}"]
    lines = listed.stdout.splitlines()
    start = lines.index("broken 1.0 [entry-point: lvng_broken] enabled")
    assert lines[start + 1] == f"  error: {error}"
    assert "messages [builtin: plugins.messages] enabled" in lines  # the others are listed
    as_json = run_lvng("plugins", "--json", env=env, cwd=tmp_path)
    assert as_json.returncode == 2 and as_json.stderr.splitlines() == [f"lvng: error: {error}"]
    assert next(i for i in json.loads(as_json.stdout) if i["name"] == "broken")["error"] == error
    left_out = run_lvng("plugins", env={**env, "LVNG_DISABLED_PLUGINS": "broken"}, cwd=tmp_path)
    assert left_out.returncode == 0 and left_out.stderr == ""
    assert "broken 1.0 [entry-point: lvng_broken] disabled" in left_out.stdout.splitlines()


async def test_a_broken_plugin_left_out_by_name_lets_the_others_start(
    start_server, broken_site, hello_site
):
    live = start_server(
        env={
            "LVNG_ENTRY_POINTS": "true",
            "PYTHONPATH": paths(broken_site, hello_site),
            "LVNG_DISABLED_PLUGINS": "broken",
        }
    )
    client = await live.connect("dave")
    assert await client.call("hello:greet", {"name": "Dave"}) == {
        "ok": True,
        "greeting": "Hello, Dave!",
        "count": 1,
    }
    assert await client.call("probe:echo", {"text": "up"}) == {"ok": True, "text": "up", "count": 1}


def test_a_misspelt_hook_stops_the_start_naming_it(local_plugins, tmp_path):
    env = {
        "PYTHONPATH": str(local_plugins),
        "LVNG_PLUGIN_MODULES": f"{PROBE_PLUGIN},typo=lvng_typo",
    }
    served = run_lvng("serve", "--port", str(free_port()), env=env, cwd=tmp_path)
    assert served.returncode == 2
    assert served.stderr.splitlines() == [
        "lvng: error: plugin typo implements unknown hook lvng_regster_events (misspelt?); "
        "leave it out with LVNG_DISABLED_PLUGINS=typo"
    ]


# --- outbound payloads against their declared models ----------------------------------


@pytest.mark.parametrize("strict", ["true", "false"])
async def test_an_outbound_payload_that_misfits_its_model_raises_when_strict(
    start_server, local_plugins, strict
):
    live = start_server(
        env={
            "PYTHONPATH": str(local_plugins),
            "LVNG_PLUGIN_MODULES": "misfit=lvng_misfit",
            "LVNG_STRICT_DOMAIN_EVENTS": strict,
        }
    )
    client = await live.connect("mia")
    ack = await client.call("misfit:tell", {})
    if strict == "false":  # production: not checked, sent as the plugin made it
        assert ack == {"ok": True}
        assert await client.next("misfit:told") == {"id": "grt_1"}
        return
    assert ack == {
        "ok": False,
        "error": {"code": "INTERNAL_ERROR", "message": "internal error; it has been logged"},
    }
    await client.nothing("misfit:told", within=0.1)
    assert (
        "OutboundPayloadError: plugin misfit emitted 'misfit:told' with a payload its "
        "declared model Told refuses: id: Input should be a valid integer (got 'grt_1')"
    ) in live.log()


# --- fan-out isolation and the authorization veto -------------------------------------


@pytest.fixture(scope="module")
def witnessed_server(start_server, local_plugins):
    """The probe plugin, then a witness plugin that also implements lvng_client_connected."""
    return start_server(
        env={
            "PYTHONPATH": str(local_plugins),
            "LVNG_PLUGIN_MODULES": f"{PROBE_PLUGIN},witness=lvng_witness",
        }
    )


async def test_a_failing_connect_hook_is_isolated(witnessed_server):
    live = witnessed_server
    labels = {"plugin": "probe", "hook": "lvng_client_connected"}
    before = await live.metric("lvng_plugin_errors_total", **labels)

    crasher = await live.connect("hook-crasher")  # the probe plugin raises for this user
    connected = crasher.received["connected"][0]
    assert connected == {
        "socketId": crasher.sid,
        "userId": "hook-crasher",
        "organizationId": "acme",
        "timestamp": connected["timestamp"],
    }
    assert ISO_MS.match(connected["timestamp"])
    # The witness plugin's hook ran all the same, and the socket works.
    assert await crasher.next("witness:connected") == {"userId": "hook-crasher"}
    assert await crasher.call("probe:echo", {"text": "still here"}) == {
        "ok": True,
        "text": "still here",
        "count": 1,
    }
    await crasher.nothing("error")
    assert (
        await metric_reaches(live, "lvng_plugin_errors_total", before + 1, **labels) == before + 1
    )

    # A user the probe plugin does not fail for: no new error is counted.
    calm = await live.connect("calm")
    assert await calm.next("witness:connected") == {"userId": "calm"}
    assert await live.metric("lvng_plugin_errors_total", **labels) == before + 1
    assert "plugin probe failed in lvng_client_connected" in live.log()


async def test_a_plugin_vetoes_a_join(witnessed_server):
    erin = await witnessed_server.connect("erin")
    frank = await witnessed_server.connect("frank")

    message = "you may not join probe:vetoed: the probe plugin vetoes this room"
    assert await erin.call("probe:join", {"name": "vetoed"}) == {
        "ok": False,
        "error": {"code": "FORBIDDEN", "message": message},
    }
    assert await erin.next("error") == {
        "code": "FORBIDDEN",
        "message": message,
        "event": "probe:join",
    }
    await erin.nothing("probe:joined")
    # Vetoed means not in the room.
    not_in = await erin.call("probe:shout", {"name": "vetoed"})
    assert not_in == {
        "ok": False,
        "error": {"code": "NOT_IN_ROOM", "message": "join probe:vetoed first"},
    }

    assert await erin.call("probe:join", {"name": "ok"}) == {"ok": True, "room": "probe:ok"}
    assert await erin.next("probe:joined") == {"name": "ok", "userId": "erin"}
    assert await frank.call("probe:join", {"name": "ok"}) == {"ok": True, "room": "probe:ok"}
    assert await erin.call("probe:shout", {"name": "ok"}) == {"ok": True}
    assert await frank.next("probe:shout") == {"name": "ok", "from": "erin"}


# --- the plugin guide -------------------------------------------------------------------


def test_the_plugin_guide_lists_every_hook_with_its_arguments():
    """examples/hello-plugin/README.md's hook table and core/hookspecs.py, in step: the
    same hooks, in the same order, each with the spec's arguments."""
    import inspect

    from core import hookspecs

    specs = [
        (name, list(inspect.signature(function).parameters))
        for name, function in vars(hookspecs).items()
        if name.startswith("lvng_") and callable(function)
    ]
    guide = (HELLO_SOURCE / "README.md").read_text()
    table = guide.split("## Hooks", 1)[1].split("\n\n| hook |", 1)[1].split("\n\n", 1)[0]
    rows = re.findall(r"^\| `(lvng_\w+)\(([^)]*)\)`", table, re.M)
    listed = [(name, [a.strip() for a in args.split(",") if a.strip()]) for name, args in rows]
    assert listed == specs
    assert len(specs) == 17

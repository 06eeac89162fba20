"""What a new user hits first (issue 8): typos in the config, dev mode across restarts,
what the commands and logs say, /metrics."""

from __future__ import annotations

import asyncio
import importlib
import os
import shutil
import stat
import subprocess
import time
import tomllib
from importlib.metadata import metadata
from pathlib import Path

import pytest
import socketio

from core.plugins import BUILTIN_EVENTS, BUILTIN_PLUGINS, PluginHost, PluginSource
from core.registry import EventRegistry
from tests.live import PROBE_PLUGIN, REPO, SECRET, Client, LiveServer, sample_value
from tests.services import IN_CI
from tests.test_cli import run_lvng
from tests.test_js_client import node_ready

NO_SECRET = [
    "lvng: error: no JWT secret or public key configured: set LVNG_JWT_SECRET "
    "(or LVNG_JWT_PUBLIC_KEY), or run with --dev"
]


@pytest.mark.parametrize("section", ["mesages", "helo"])
def test_a_section_for_a_plugin_that_does_not_exist_stops_the_start(tmp_path, section):
    config = tmp_path / "lvng.toml"
    config.write_text(f"[plugins.{section}]\nauto_create_channels = false\n")
    result = run_lvng(
        "serve",
        "--config",
        str(config),
        cwd=tmp_path,
        env={
            "LVNG_JWT_SECRET": SECRET,
            "LVNG_ENTRY_POINTS": "false",
            "LVNG_PLUGIN_MODULES": PROBE_PLUGIN,
        },
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"lvng: error: invalid setting [plugins.{section}]: no plugin named {section!r}; "
        f"known: {', '.join(sorted([*BUILTIN_PLUGINS, 'probe']))}"
    ]


def test_a_section_for_a_found_but_disabled_plugin_is_fine(tmp_path):
    config = tmp_path / "lvng.toml"
    config.write_text('[plugins]\ndisabled = ["probe"]\n[plugins.probe]\nanything = 1\n')
    result = run_lvng(
        "migrate",
        "--config",
        str(config),
        cwd=tmp_path,
        env={
            "LVNG_JWT_SECRET": SECRET,
            "LVNG_ENTRY_POINTS": "false",
            "LVNG_PLUGIN_MODULES": PROBE_PLUGIN,
        },
    )
    assert result.returncode == 0, result.stderr


async def test_dev_token_survives_a_restart_and_lvng_token_mints_more_users(tmp_path):
    node_ready()
    workdir = tmp_path / "project"
    live = LiveServer(workdir, {"LVNG_JWT_SECRET": ""}, ["--dev"])
    live.start()
    try:
        lines = live.log().splitlines()
        # What the log says first is what was done, not Tortoise closing; Sanic's once.
        assert " INFO lvng.database: applied migration " in lines[0]
        assert "Tortoise-ORM shutdown" not in live.log()
        assert [line.split(" INFO ")[1] for line in lines if "Starting worker" in line] == [
            f"sanic.server: Starting worker [{live.proc.pid}]"
        ]
        heading = "lvng dev token (user dev, org dev, admin and operator, 24 h):"
        token = lines[lines.index(heading) + 1]
        assert (
            "more tokens: lvng token --dev --sub USER --org dev [--name NAME] (same "
            "directory and settings; the secret is in lvng-dev-secret)"
        ) in lines
        # The inspection page's link carries the same (admin) token.
        assert f"inspection page: {live.url}/admin#token={token}" in lines
        secret = workdir / "lvng-dev-secret"
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
        live.restart()
        assert secret.read_text() == secret.read_text().strip() + "\n"
        # The first run's token still connects, with the printed node line, run elsewhere.
        connect = next(line for line in lines if line.startswith("connect: node -e "))
        assert token in connect
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        node = await asyncio.create_subprocess_exec(
            "sh",
            "-c",
            "exec " + connect[len("connect: ") :],
            cwd=elsewhere,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            printed = await asyncio.wait_for(node.stdout.readuntil(b"}"), 20)
        finally:
            node.kill()
            await node.wait()
        assert b"userId: 'dev'" in printed and b"organizationId: 'dev'" in printed
        # A second user's token, from the same directory.
        minted = run_lvng(
            "token", "--dev", "--sub", "bob", "--org", "dev", "--name", "Bob", cwd=workdir
        )
        assert minted.returncode == 0, minted.stderr
        bob = Client(live.url)
        live.clients.append(bob)
        await bob.connect(minted.stdout.strip())
        assert bob.received["connected"][0]["userId"] == "bob"
        plain = run_lvng("token", "--sub", "bob", "--org", "dev", cwd=workdir)
        assert plain.returncode == 2
        assert plain.stderr.splitlines() == [
            "lvng: error: lvng token needs LVNG_JWT_SECRET (an HS256 secret) to sign tokens; "
            "for the dev server here, use lvng token --dev"
        ]
    finally:
        await live.close_clients()
        live.stop()


def test_the_dev_secret_is_never_used_without_dev(tmp_path):
    secret = tmp_path / "lvng-dev-secret"
    secret.write_text("s" * 43 + "\n")
    secret.chmod(0o600)
    result = run_lvng("serve", "--port", "1", cwd=tmp_path)
    assert (result.returncode, result.stderr.splitlines()) == (2, NO_SECRET)
    secret.chmod(0o644)
    loose = run_lvng("token", "--dev", "--sub", "a", "--org", "b", cwd=tmp_path)
    assert (loose.returncode, loose.stderr.splitlines()) == (
        2,
        ["lvng: error: lvng-dev-secret is readable by others (mode 644): chmod 600 it"],
    )
    secret.unlink()
    missing = run_lvng("token", "--dev", "--sub", "a", "--org", "b", cwd=tmp_path)
    assert (missing.returncode, missing.stderr.splitlines()) == (
        2,
        [
            "lvng: error: no development secret at lvng-dev-secret: run lvng serve --dev there "
            "first, or set LVNG_JWT_SECRET"
        ],
    )


async def test_refused_handshakes_are_logged_with_the_reason_not_the_token(server):
    expired = server.token("late", ttl=-10)
    for token in ("not-a-jwt", expired):
        client = server.client()
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(token)
    lines = server.log().splitlines()
    assert any(
        line.endswith(
            " INFO lvng.gateway: handshake refused (AUTH_INVALID): the token is not a JWT"
        )
        for line in lines
    )
    assert any(
        line.endswith(
            " INFO lvng.gateway: handshake refused (TOKEN_EXPIRED): the token has expired"
        )
        for line in lines
    )
    assert "not-a-jwt" not in server.log() and expired not in server.log()


async def test_an_event_of_a_disabled_builtin_names_its_plugin(start_server):
    live = start_server(env={"LVNG_DISABLED_PLUGINS": "messages"})
    client = await live.connect("dora")
    message = "unknown event 'channel:join': plugin messages, which owns it, is disabled"
    assert await client.call("channel:join", {"channelId": "general"}) == {
        "ok": False,
        "error": {"code": "UNKNOWN_EVENT", "message": message},
    }
    assert await client.next("error") == {
        "code": "UNKNOWN_EVENT",
        "message": message,
        "event": "channel:join",
    }
    # No plugin owns an event no built-in has: a plain unknown event.
    assert await client.call("nobody:owns", {}) == {
        "ok": False,
        "error": {"code": "UNKNOWN_EVENT", "message": "unknown event 'nobody:owns'"},
    }


def test_the_builtin_event_table_matches_what_the_builtins_register():
    """core.plugins.BUILTIN_EVENTS answers for disabled built-ins: it must not go stale."""
    for name, module in BUILTIN_PLUGINS.items():
        host = PluginHost()
        host.register(PluginSource(name, "builtin", module), importlib.import_module(module))
        registry = EventRegistry()
        host.collect(
            "lvng_register_events", per_plugin=lambda n, r=registry: {"events": r.registrar(n)}
        )
        assert set(registry.of_plugin(name)) == BUILTIN_EVENTS[name], name


async def test_metrics_have_process_figures_and_no_created_series(server):
    client = await server.connect("counted")
    assert (await client.call("probe:echo", {"text": "count me"}))["ok"] is True
    status, text = await server.http("GET", "/metrics")
    assert status == 200
    assert [line for line in text.splitlines() if "_created" in line] == []
    assert sample_value(text, "process_resident_memory_bytes") > 0
    assert sample_value(text, "process_open_fds") > 0
    assert sample_value(text, "python_gc_collections_total", generation="0") >= 0
    assert "\npython_info{" in text
    assert sample_value(text, "lvng_events_received_total", event="probe:echo") >= 1


def test_readme_makes_a_virtual_environment_before_pip_install():
    readme = (REPO / "README.md").read_text()
    blocks = [b.split("```", 1)[0].splitlines() for b in readme.split("```sh\n")[1:]]
    assert [line.split("#")[0].strip() for line in blocks[0]] == ["make serve", "", "make test", ""]
    by_hand = next(block for block in blocks if any("-m venv" in line for line in block))
    venv = next(i for i, line in enumerate(by_hand) if "-m venv" in line)
    activate = next(i for i, line in enumerate(by_hand) if "bin/activate" in line)
    pip = next(i for i, line in enumerate(by_hand) if line.startswith("pip install"))
    assert venv < activate < pip


def _make(folder: Path, target: str) -> list[str]:
    """The commands `make -n TARGET` would run in `folder` (nothing is run)."""
    make = shutil.which("make")
    if make is None:
        (pytest.fail if IN_CI else pytest.skip)("make is not installed")
    # As a user runs it, in a plain environment: the suite may itself run under `make
    # test`, whose MAKEFLAGS and command-line variables (ARGS) a sub-make would inherit.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(folder)}
    done = subprocess.run(
        [make, "--no-print-directory", "-n", target],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_the_two_commands_set_up_what_is_missing_and_nothing_more(tmp_path):
    """`make serve` and `make test` in a fresh clone set everything up; once set up, they
    serve and test at once (the gates, then the suite); a changed lock file installs again.
    `.ci/run` is `make test`."""
    clone = tmp_path / "clone"
    locks = [f"{d}/package-lock.json" for d in ("tests/js", "tests/e2e", "bench")]
    for name in ["Makefile", "pyproject.toml", "scripts/test-machine.sh", *locks]:
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, clone / name)
    fresh = _make(clone, "serve")
    assert fresh[0] == "test -x .venv/bin/python || python3 -m venv .venv"
    assert ".venv/bin/python -m pip install --quiet -e '.[test]'" in fresh
    assert any(line.startswith("npm ci") and line.endswith("tests/js") for line in fresh)
    assert fresh[-1].strip() == ".venv/bin/lvng serve --dev"
    fresh = _make(clone, "test")
    installs = [line for line in fresh if line.startswith("npm ci")]
    assert sorted(line.rsplit(" ", 1)[1] for line in installs) == ["bench", "tests/e2e", "tests/js"]
    assert "bash scripts/test-machine.sh" in fresh
    assert fresh[-1].strip() == ".venv/bin/python -m pytest -n 2 --dist loadfile"

    # Set up (what the steps leave behind), then each command only serves or tests.
    later = time.time() + 5
    for stamp in [
        ".venv/.lvng-installed",
        *(f"{d}/node_modules/.package-lock.json" for d in ("tests/js", "tests/e2e", "bench")),
    ]:
        (clone / stamp).parent.mkdir(parents=True, exist_ok=True)
        (clone / stamp).write_text("")
        os.utime(clone / stamp, (later, later))
    assert [line.strip() for line in _make(clone, "serve")] == [".venv/bin/lvng serve --dev"]
    # The gates (ruff check, ruff format --check, mypy) run before the suite, as in CI.
    assert [line.strip() for line in _make(clone, "test")] == [
        "bash scripts/test-machine.sh",
        ".venv/bin/ruff check .",
        ".venv/bin/ruff format --check .",
        ".venv/bin/mypy",
        ".venv/bin/python -m pytest -n 2 --dist loadfile",
    ]
    # A newer lock file (a pulled change) installs that package again, and only it.
    newer = later + 5
    os.utime(clone / "tests/e2e/package-lock.json", (newer, newer))
    again = [line for line in _make(clone, "test") if line.startswith("npm ci")]
    assert len(again) == 1 and again[0].endswith("tests/e2e")

    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert ci[-1] == "make test"


def test_the_extras_pyproject_asks_for_exist_under_that_name():
    """pip warns about (or, by version, silently drops) an extra a package lacks."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"] + project["optional-dependencies"]["test"]:
        name, _, rest = requirement.partition("[")
        if not rest:
            continue
        extras = [extra.strip() for extra in rest.split("]", 1)[0].split(",")]
        provided = metadata(name).get_all("Provides-Extra") or []
        assert set(extras) <= set(provided), (requirement, provided)

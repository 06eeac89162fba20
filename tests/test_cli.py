"""`lvng serve | token | plugins | migrate` as a user runs them (contract section 1)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import jwt
import pytest

from core.config import load_settings
from core.errors import ConfigError
from core.plugins import BUILTIN_PLUGINS
from tests.live import REPO, SECRET, Client, LiveServer


def run_lvng(
    *args: str, env: dict[str, str] | None = None, cwd=None, timeout: float = 30
) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LVNG_")}
    clean["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [sys.executable, "-m", "core.cli", *args],
        env={**clean, **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_serve_without_a_secret_exits_2_with_one_line(tmp_path):
    result = run_lvng("serve", "--port", "1", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "lvng: error: no JWT secret or public key configured: set LVNG_JWT_SECRET "
        "(or LVNG_JWT_PUBLIC_KEY), or run with --dev"
    ]


@pytest.mark.parametrize(
    ("env", "line"),
    [
        (
            {"LVNG_RATE_LIMIT_EVENTS": "lots"},
            "lvng: error: invalid setting rate_limit_events (LVNG_RATE_LIMIT_EVENTS): "
            "Input should be a valid integer, unable to parse string as an integer (got 'lots')",
        ),
        (
            {"LVNG_JWT_ALGORITHMS": "HS256,none"},
            "lvng: error: invalid setting jwt_algorithms (LVNG_JWT_ALGORITHMS): "
            "Value error, 'none' is never accepted (got 'HS256,none')",
        ),
        (
            {"LVNG_DATABASE_URL": "mysql://x"},
            "lvng: error: invalid setting database_url (LVNG_DATABASE_URL): "
            "Value error, must start with sqlite:// or postgres:// (got 'mysql://x')",
        ),
        (
            {"LVNG_PLUGINS": "nonexistent"},
            "lvng: error: invalid setting plugins (LVNG_PLUGINS): unknown plugin 'nonexistent'",
        ),
        ({"LVNG_PORTT": "1"}, "lvng: error: unknown setting portt (LVNG_PORTT)"),
    ],
)
def test_bad_settings_stop_the_start_naming_the_setting(tmp_path, env, line):
    result = run_lvng("serve", env={"LVNG_JWT_SECRET": SECRET, **env}, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(line), lines


def test_token_command_signs_for_the_configured_secret():
    result = run_lvng(
        "token",
        "--sub",
        "alice",
        "--org",
        "acme",
        "--name",
        "Alice",
        "--customers",
        "c1,c2",
        "--roles",
        "admin",
        "--ttl",
        "120",
        env={"LVNG_JWT_SECRET": SECRET},
    )
    assert result.returncode == 0, result.stderr
    claims = jwt.decode(result.stdout.strip(), SECRET, algorithms=["HS256"])
    assert {k: claims[k] for k in ("sub", "org", "name", "customers", "roles")} == {
        "sub": "alice",
        "org": "acme",
        "name": "Alice",
        "customers": ["c1", "c2"],
        "roles": ["admin"],
    }
    assert claims["exp"] - claims["iat"] == 120
    missing = run_lvng("token", "--sub", "a", "--org", "b")
    assert missing.returncode == 2
    assert missing.stderr.startswith("lvng: error: lvng token needs LVNG_JWT_SECRET")


def test_toml_config_with_environment_winning(tmp_path):
    config = tmp_path / "lvng.toml"
    config.write_text(
        'jwt_secret = "from-toml"\nrate_limit_events = 7\n'
        '[auth.claims]\nuser_id = "uid"\n'
        '[plugins]\ndisabled = ["probe"]\n'
        "[plugins.messages]\nauto_create_channels = false\n"
    )
    settings = load_settings(config, env={"LVNG_RATE_LIMIT_EVENTS": "9"})
    assert settings.jwt_secret == "from-toml"
    assert settings.rate_limit_events == 9
    assert settings.auth_claims.user_id == "uid"
    assert settings.disabled_plugins == ["probe"]
    assert settings.plugin_settings("messages") == {"auto_create_channels": False}
    config.write_text("rate_limit_window = -1\n")
    with pytest.raises(ConfigError, match=r"^invalid setting rate_limit_window"):
        load_settings(config, env={})
    config.write_text("this is = not toml [")
    with pytest.raises(ConfigError, match=r"is not valid TOML"):
        load_settings(config, env={})


async def test_dev_mode_prints_a_working_token_and_binds_loopback(tmp_path):
    live = LiveServer(tmp_path, {"LVNG_JWT_SECRET": ""}, ["--dev", "--host", "0.0.0.0"])
    live.start()
    try:
        lines = live.log().splitlines()
        heading = "lvng dev token (user dev, org dev, admin and operator, 24 h):"
        token = lines[lines.index(heading) + 1]
        assert any(
            line.startswith("connect: node -e \"require('") and token in line for line in lines
        )
        assert "--dev binds loopback only; ignoring host 0.0.0.0" in live.log()
        client = Client(live.url)
        await client.connect(token)
        assert client.received["connected"][0]["userId"] == "dev"
        await client.close()
    finally:
        live.stop()


def test_migrate_command(tmp_path):
    """Every built-in's migrations and the core's, from an empty database; a rerun applies
    nothing."""
    expected = sorted(
        [
            (name, path.stem)
            for name in BUILTIN_PLUGINS
            for path in (REPO / "plugins" / name / "migrations").glob("0*.py")
        ]
        + [("core", p.stem) for p in (REPO / "core" / "customers" / "migrations").glob("0*.py")]
    )
    result = run_lvng("migrate", env={"LVNG_JWT_SECRET": SECRET}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    done, _, apps = (
        result.stdout.removeprefix("lvng: applied ")
        .rstrip("\n")
        .partition("; schema up to date for ")
    )
    assert sorted(done.split(", ")) == sorted(f"{app}.{name}" for app, name in expected)
    assert sorted(apps.split(", ")) == sorted({app for app, _ in expected})
    with sqlite3.connect(tmp_path / "lvng.sqlite3") as conn:
        tables = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        applied = conn.execute("SELECT app, name FROM tortoise_migrations").fetchall()
    assert {
        "messages_channel",
        "messages_message",
        "messages_reaction",
        "swarm_session",
        "swarm_update",
        "calls_call",
        "calls_participant",
        "calls_segment",
        "activity_item",
        "activity_read",
        "core_customer",
    } <= tables
    assert {"activity_customer", "messages_customer"} & tables == set()  # moved to the core
    assert sorted(applied) == expected
    again = run_lvng("migrate", env={"LVNG_JWT_SECRET": SECRET}, cwd=tmp_path)
    assert (again.returncode, again.stdout) == (
        0,
        f"lvng: nothing to apply; schema up to date for {apps}\n",
    )


def test_unreachable_database_stops_the_start_with_one_line(tmp_path):
    result = run_lvng(
        "serve",
        env={
            "LVNG_JWT_SECRET": SECRET,
            "LVNG_DATABASE_URL": "postgres://postgres@127.0.0.1:1/none",
        },
        cwd=tmp_path,
    )
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("lvng: error:")]
    assert errors == [
        "lvng: error: cannot read the database's migrations: "
        "ConnectionRefusedError: "
        "[Errno 111] Connect call failed ('127.0.0.1', 1)"
    ]


def test_a_bad_plugin_setting_stops_serve_with_one_line_naming_it(tmp_path):
    """A plugin declares its settings model (`lvng_settings`); the core checks it first."""
    config = tmp_path / "lvng.toml"
    config.write_text("[plugins.messages]\ntyping_timeout_seconds = -1\n")
    result = run_lvng(
        "serve",
        "--port",
        "1",
        "--config",
        str(config),
        env={"LVNG_JWT_SECRET": SECRET},
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "lvng: error: invalid setting plugins.messages.typing_timeout_seconds: "
        "Input should be greater than 0"
    ]
    config.write_text("[plugins.messages]\nauto_create_chanels = false\n")
    result = run_lvng(
        "serve",
        "--port",
        "1",
        "--config",
        str(config),
        env={"LVNG_JWT_SECRET": SECRET},
        cwd=tmp_path,
    )
    assert (result.returncode, result.stderr.strip().splitlines()) == (
        2,
        [
            "lvng: error: invalid setting plugins.messages.auto_create_chanels: "
            "Extra inputs are not permitted"
        ],
    )


def test_token_refuses_a_role_it_does_not_know():
    result = run_lvng(
        "token", "--sub", "a", "--org", "b", "--roles", "admin,owner",
        env={"LVNG_JWT_SECRET": SECRET},
    )  # fmt: skip
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "lvng: error: lvng token: unknown role 'owner'; the server knows admin, service, operator"
    ]
    known = run_lvng(
        "token", "--sub", "a", "--org", "b", "--roles", "operator",
        env={"LVNG_JWT_SECRET": SECRET},
    )  # fmt: skip
    assert known.returncode == 0, known.stderr
    assert jwt.decode(known.stdout.strip(), SECRET, algorithms=["HS256"])["roles"] == ["operator"]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("sqlite://lvng.sqlite3", "sqlite lvng.sqlite3"),
        ("sqlite://data/x.db?journal_mode=wal", "sqlite data/x.db"),
        ("postgres://lvng:s3cret@db.internal:5432/lvng", "postgres db.internal:5432/lvng"),
        ("redis://:s3cret@cache:6380/2", "redis cache:6380/2"),
        ("redis://default:s3cret@[::1]:6379", "redis [::1]:6379"),
    ],
)
def test_stores_are_described_without_credentials(url, shown):
    from core.cli import describe_store

    assert describe_store(url) == shown
    assert "s3cret" not in describe_store(url)


def test_the_start_line_names_the_stores_and_plugins_and_a_short_secret_warns(tmp_path):
    from tests.services import require_redis

    redis_url = require_redis()
    live = LiveServer(
        tmp_path,
        {
            "LVNG_JWT_SECRET": "short-secret",
            "LVNG_REDIS_URL": redis_url,
            "LVNG_CLUSTER_NAME": "start-line-test",
            "LVNG_DISABLED_PLUGINS": "swarm",
        },
    ).start()
    try:
        lines = live.log().splitlines()
    finally:
        live.stop()
    assert (
        f"lvng serving on {live.url} (workers: 1; database sqlite lvng.sqlite3; "
        "redis 127.0.0.1:6379/0; cluster start-line-test; "
        "plugins: messages, calls, presence, activity, webhooks, probe)"
    ) in lines, [line for line in lines if "serving" in line]
    warnings = [line for line in lines if "WARNING" in line]
    assert len(warnings) == 1 and "LVNG_JWT_SECRET is 12 bytes" in warnings[0], warnings
    # A secret of 32 bytes or more, and the embedded default: no warning, no Redis.
    long_enough = LiveServer(tmp_path / "long", {"LVNG_JWT_SECRET": "x" * 32}).start()
    try:
        lines = long_enough.log().splitlines()
    finally:
        long_enough.stop()
    assert not [line for line in lines if "WARNING" in line], lines
    assert any(
        line.startswith(f"lvng serving on {long_enough.url} (workers: 1; database sqlite ")
        and "redis" not in line
        for line in lines
    ), lines

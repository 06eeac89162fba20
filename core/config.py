"""Configuration: a TOML file plus `LVNG_*` environment variables, the environment winning.

The TOML file mirrors the environment names without the prefix, in lower case
(`LVNG_DATABASE_URL` ↔ `database_url = "..."`), plus three tables:

    [auth.claims]          claim-name mapping, e.g. user_id = "uid"
    [plugins]              enabled = [...], disabled = [...], modules = [...], entry_points = true
    [plugins.NAME]         settings of one plugin, handed to it as a dict

`load_settings()` validates everything at start; a bad value raises `ConfigError` whose
message is one line naming the setting.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.errors import ConfigError

ENV_PREFIX = "LVNG_"
SUPPORTED_ALGORITHMS = {"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384"}


class ClaimNames(BaseModel):
    """Which JWT claim carries each part of the identity (contract section 2)."""

    model_config = ConfigDict(extra="forbid")

    user_id: str = "sub"
    organization_id: str = "org"
    user_name: str = "name"
    customers: str = "customers"
    roles: str = "roles"


def _split_list(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseModel):
    """Every setting of the server, validated. Field names are the env names sans prefix."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(1, ge=1, le=64)
    dev: bool = False
    log_level: str = "INFO"

    jwt_secret: str | None = None
    jwt_public_key: Path | None = None
    jwt_algorithms: list[str] = ["HS256"]
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    jwt_leeway: float = Field(0, ge=0, le=300)
    auth_claims: ClaimNames = ClaimNames()

    database_url: str = "sqlite://lvng.sqlite3"
    redis_url: str | None = None
    # With Redis: a node whose heartbeat is older than this is dead, and its sockets leave.
    node_ttl: float = Field(15, ge=0.5, le=300)
    # With Redis: nodes of one cluster share this name (Redis key prefix and pub/sub
    # channel), so several clusters can share one Redis.
    cluster_name: str = Field("lvng", pattern=r"^[A-Za-z0-9_.-]{1,64}$")

    plugins: list[str] | None = None
    disabled_plugins: list[str] = []
    plugin_modules: list[str] = []
    entry_points: bool = True
    plugin_config: dict[str, dict[str, Any]] = {}

    rate_limit_events: int = Field(100, ge=1, le=1_000_000)
    rate_limit_window: float = Field(60, gt=0, le=86_400)
    rate_limit_user_events: int = Field(300, ge=1, le=1_000_000)
    # A `service` token's own window (its sockets and HTTP writes together): services
    # publish for many users (agents' progress, a CRM's activity).
    rate_limit_service_events: int = Field(3000, ge=1, le=1_000_000)
    max_connections_per_user: int = Field(50, ge=1, le=1_000_000)
    handshake_timeout: float = Field(10, gt=0, le=300)
    # A socket with more unsent bytes than this in its transport's buffer (a client that
    # does not read) is dropped (core/transport/delivery.py, "Slow consumers").
    send_buffer_limit: int = Field(1024 * 1024, ge=4096, le=1024 * 1024 * 1024)
    # After a flush to many sockets (a fan-out), the next waits this long, so that the
    # messages emitted meanwhile share one write per socket (core/transport/delivery.py, Delivery).
    flush_window_ms: float = Field(10, ge=0, le=1000)
    cors_origins: list[str] | None = None
    strict_domain_events: bool = False  # raise on a bad domain event (as with --dev)
    # A stop (SIGTERM/SIGINT) waits this long for in-flight events before it drops clients.
    stop_drain_seconds: float = Field(10, ge=0, le=3600)
    # Then each websocket gets a close frame; a client that neither answers it nor closes
    # within this long is cut off (core/transport/websocket.py `drop_line`).
    stop_linger_seconds: float = Field(2, ge=0, le=60)
    # Connection-state recovery (contract section 12, core/recovery.py): how long a dropped
    # socket may come back (0: off), at most how many events a room's log keeps, and where
    # a graceful stop keeps what a restart needs (default: beside the SQLite database).
    recovery_window: float = Field(120, ge=0, le=86_400)
    recovery_log_size: int = Field(1000, ge=1, le=1_000_000)
    recovery_file: str | None = None

    _split = field_validator(
        "jwt_algorithms",
        "plugins",
        "disabled_plugins",
        "plugin_modules",
        "cors_origins",
        mode="before",
    )(_split_list)

    @field_validator(
        "jwt_secret",
        "jwt_public_key",
        "jwt_audience",
        "jwt_issuer",
        "redis_url",
        "recovery_file",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("jwt_algorithms")
    @classmethod
    def _known_algorithms(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one algorithm is needed")
        for alg in value:
            if alg.lower() == "none":
                raise ValueError("'none' is never accepted")
            if alg not in SUPPORTED_ALGORITHMS:
                raise ValueError(f"unsupported algorithm {alg!r}")
        return value

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgres://", "postgresql://", "asyncpg://")):
            raise ValueError("must start with sqlite:// or postgres://")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        value = value.upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return value

    @field_validator("jwt_public_key")
    @classmethod
    def _readable_key(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @model_validator(mode="after")
    def _keys_for_algorithms(self) -> Settings:
        wants_public = any(not alg.startswith("HS") for alg in self.jwt_algorithms)
        if wants_public and self.jwt_public_key is None and self.jwt_secret is not None:
            # Asymmetric algorithms are useless without a public key; say so at start.
            raise ValueError(
                "jwt_algorithms names RS/ES algorithms but LVNG_JWT_PUBLIC_KEY is not set"
            )
        return self

    @property
    def cors_allowed(self) -> list[str] | str | None:
        """python-engineio's `cors_allowed_origins`. Unset outside dev is None: only the
        server's own origin (an empty list would turn the origin check off)."""
        if self.cors_origins:
            return "*" if self.cors_origins == ["*"] else list(self.cors_origins)
        return "*" if self.dev else None

    def plugin_settings(self, name: str) -> dict[str, Any]:
        """The `[plugins.NAME]` table of one plugin (empty when absent)."""
        return dict(self.plugin_config.get(name, {}))

    def require_signing_material(self) -> None:
        """Raise ConfigError unless a secret or a public key is configured."""
        if self.jwt_secret is None and self.jwt_public_key is None:
            raise ConfigError(
                "no JWT secret or public key configured: set LVNG_JWT_SECRET "
                "(or LVNG_JWT_PUBLIC_KEY), or run with --dev"
            )


# TOML keys and env variables that do not map one-to-one onto a Settings field.
_TOML_PLUGIN_KEYS = {
    "enabled": "plugins",
    "disabled": "disabled_plugins",
    "modules": "plugin_modules",
    "entry_points": "entry_points",
}


def _from_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None

    values: dict[str, Any] = {}
    for key, value in data.items():
        if key == "auth":
            if not isinstance(value, dict) or set(value) - {"claims"}:
                raise ConfigError(f"config file {path}: [auth] takes only a [auth.claims] table")
            values["auth_claims"] = value.get("claims", {})
        elif key == "plugins":
            if not isinstance(value, dict):
                raise ConfigError(f"config file {path}: plugins must be a table")
            tables: dict[str, Any] = {}
            for name, item in value.items():
                if name in _TOML_PLUGIN_KEYS:
                    values[_TOML_PLUGIN_KEYS[name]] = item
                elif isinstance(item, dict):
                    tables[name] = item
                else:
                    raise ConfigError(f"config file {path}: unknown setting plugins.{name}")
            values["plugin_config"] = tables
        else:
            values[key] = value
    return values


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, value in env.items():
        if not key.startswith(ENV_PREFIX) or key == "LVNG_CONFIG":
            continue
        name = key[len(ENV_PREFIX) :].lower()
        if name.startswith("auth_claims__"):
            values.setdefault("auth_claims", {})[name.split("__", 1)[1]] = value
        else:
            values[name] = value
    return values


def _setting_name(loc: tuple[Any, ...]) -> str:
    field = str(loc[0]) if loc else "?"
    if field == "auth_claims" and len(loc) > 1:
        return f"auth.claims.{loc[1]} (LVNG_AUTH_CLAIMS__{str(loc[1]).upper()})"
    return f"{field} ({ENV_PREFIX}{field.upper()})"


def load_settings(
    config_path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build the settings: TOML file, then environment, then explicit overrides (CLI flags)."""
    env = os.environ if env is None else env
    config_path = config_path or env.get("LVNG_CONFIG")
    values: dict[str, Any] = {}
    if config_path:
        values.update(_from_toml(Path(config_path)))
    env_values = _from_env(env)
    if "auth_claims" in env_values and isinstance(values.get("auth_claims"), dict):
        values["auth_claims"] = {**values["auth_claims"], **env_values.pop("auth_claims")}
    values.update(env_values)
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        err = exc.errors()[0]
        if err["type"] == "extra_forbidden":
            raise ConfigError(f"unknown setting {_setting_name(err['loc'])}") from None
        given = (
            f" (got {err['input']!r})" if err["loc"] and not isinstance(err["input"], dict) else ""
        )
        raise ConfigError(
            f"invalid setting {_setting_name(err['loc'])}: {err['msg']}{given}"
        ) from None

"""Tortoise set-up from the models that enabled plugins declare; one app label per plugin.

Each plugin's `migrations` package (beside its models module) is applied with Tortoise's
own migration executor by `lvng migrate`. `lvng serve` applies them itself only on SQLite
or with `--dev`; on PostgreSQL it refuses to start while any is pending
(`pending_migrations`), so that one deliberate step upgrades a shared database.
"""

from __future__ import annotations

import importlib.util
import logging
import socket
from typing import Any

from tortoise import Tortoise
from tortoise.connection import get_connection
from tortoise.migrations.api.migrate import migrate as tortoise_migrate

from core.errors import DatabaseError, one_line

log = logging.getLogger("lvng.database")


def _migrations_module(models: list[str]) -> str | None:
    first = models[0]
    base = first[: -len(".models")] if first.endswith(".models") else first.rsplit(".", 1)[0]
    candidate = f"{base}.migrations"
    try:
        return candidate if importlib.util.find_spec(candidate) is not None else None
    except (ModuleNotFoundError, ValueError):
        return None


# The core's own tables (the customers' owner registry, core/customers/), an app of their
# own next to the plugins' whenever any enabled plugin keeps data.
CORE_APP = "core"
CORE_MODELS = ["core.customers.models"]


def tortoise_config(database_url: str, models_by_plugin: dict[str, list[str]]) -> dict[str, Any]:
    """The Tortoise config: one connection, one app per plugin that declares models, and
    the core's app (`core`) when there is any."""
    url = _tuned(database_url.replace("postgresql://", "postgres://", 1))
    apps: dict[str, Any] = {}
    if any(models for models in models_by_plugin.values()):
        models_by_plugin = {CORE_APP: CORE_MODELS, **models_by_plugin}
    for plugin, models in models_by_plugin.items():
        if not models:
            continue
        app: dict[str, Any] = {"models": list(models), "default_connection": "default"}
        migrations = _migrations_module(models)
        if migrations:
            app["migrations"] = migrations
        apps[plugin] = app
    return {"connections": {"default": url}, "apps": apps, "use_tz": True, "timezone": "UTC"}


# What a URL does not say otherwise. SQLite: Tortoise opens it in WAL mode; with
# synchronous=NORMAL a commit is durable against a crash of the process (what a client's
# ack promises) and only a power loss may lose the last commits, while a commit costs no
# fsync (issue 16: ~3x the acked sends per second). PostgreSQL: a pool of 10 (Tortoise's
# default is 5), opened as needed.
_SQLITE_DEFAULTS = {"synchronous": "NORMAL"}
_POSTGRES_DEFAULTS = {"maxsize": "10"}


def _tuned(url: str) -> str:
    if url.startswith("sqlite://"):
        defaults = _SQLITE_DEFAULTS
    elif url.startswith(("postgres://", "asyncpg://")):
        defaults = _POSTGRES_DEFAULTS
    else:
        return url
    base, _, query = url.partition("?")
    given = {part.split("=", 1)[0] for part in query.split("&") if part}
    extra = [f"{key}={value}" for key, value in defaults.items() if key not in given]
    if not extra:
        return url
    return f"{base}?{'&'.join(([query] if query else []) + extra)}"


async def migrate(config: dict[str, Any]) -> list[str]:
    """Apply pending migrations of every app that has them; create tables for the others.

    Returns the migrations applied, as `app.name` (each is also logged).
    """
    apps = config["apps"]
    with_migrations = [label for label, app in apps.items() if "migrations" in app]
    without = [label for label, app in apps.items() if "migrations" not in app]
    applied: list[str] = []

    def progress(event: str, app: str, name: str) -> None:
        if event == "apply_done":
            applied.append(f"{app}.{name}")
            log.info("applied migration %s.%s", app, name)

    try:
        if with_migrations:
            await tortoise_migrate(config=config, app_labels=with_migrations, progress=progress)
        if without:
            log.warning(
                "plugins without migrations, tables created directly: %s", ", ".join(without)
            )
            await Tortoise.init(config=config)
            await Tortoise.generate_schemas(safe=True)
    except Exception as exc:
        raise DatabaseError(f"database migration failed: {one_line(exc)}") from exc
    finally:
        if Tortoise.is_inited():
            await Tortoise.close_connections()
    return applied


async def pending_migrations(config: dict[str, Any]) -> list[str]:
    """The migrations `migrate` would apply, as `app.name`, in order (none applied here).

    Raises DatabaseError when the database cannot be asked."""
    apps = {label: app for label, app in config["apps"].items() if "migrations" in app}
    if not apps:
        return []
    from tortoise.migrations.executor import MigrationExecutor

    try:
        await Tortoise.init(config={**config, "apps": apps}, init_connections=False)
        connection = get_connection("default")
        # Tortoise reads "no migrations applied" into any failure to read them: ask first.
        await connection.execute_query("SELECT 1")
        steps = await MigrationExecutor(connection, apps).plan()
    except Exception as exc:
        raise DatabaseError(f"cannot read the database's migrations: {one_line(exc)}") from exc
    finally:
        if Tortoise.is_inited():
            await Tortoise.close_connections()
    return [
        f"{step.migration.app_label}.{step.migration.name}" for step in steps if not step.backward
    ]


def migrates_on_start(database_url: str, *, dev: bool) -> bool:
    """SQLite (one process, one machine) and `--dev` bring their schema up to date at
    start; a shared PostgreSQL is upgraded by `lvng migrate`, once, on purpose."""
    return dev or database_url.startswith("sqlite://")


async def open_database(config: dict[str, Any], *, migrate_first: bool = True) -> None:
    """Migrate (unless told not to), then connect for serving; every task shares it."""
    if not config["apps"]:
        return  # no enabled plugin keeps data: nothing to open
    if migrate_first:
        await migrate(config)
    await Tortoise.init(config=config, _enable_global_fallback=True)


async def close_database() -> None:
    if Tortoise.is_inited():
        await Tortoise.close_connections()


async def ping_database() -> None:
    """Raise if the database does not answer a trivial query (no-op when none is open)."""
    if Tortoise.is_inited():
        await get_connection("default").execute_query("SELECT 1")


def _unavailable_types() -> tuple[type[BaseException], ...]:
    from tortoise.exceptions import DBConnectionError

    types: list[type[BaseException]] = [
        DBConnectionError,
        ConnectionError,
        TimeoutError,
        socket.gaierror,
    ]
    try:
        import asyncpg

        types += [
            asyncpg.exceptions.PostgresConnectionError,  # class 08: connection exceptions
            asyncpg.exceptions.OperatorInterventionError,  # class 57: shutting down
            asyncpg.exceptions.InvalidCatalogNameError,  # the database is gone
            asyncpg.exceptions.InterfaceError,  # the connection was closed
        ]
    except ImportError:  # pragma: no cover - asyncpg comes with tortoise-orm[asyncpg]
        pass
    try:
        import redis.exceptions

        types += [redis.exceptions.ConnectionError, redis.exceptions.TimeoutError]
    except ImportError:  # pragma: no cover
        pass
    return tuple(types)


_UNAVAILABLE: tuple[type[BaseException], ...] | None = None


def _broken_by_server(exc: BaseException) -> bool:
    """asyncpg's "cannot switch to state N; another operation (M) is in progress": a
    connection PostgreSQL broke under the driver (its FATAL of a shutdown arrived between
    two queries), seen by the soak (bench/soak.py) when PostgreSQL stops. Its other
    internal errors stay bugs."""
    return type(exc).__name__ == "InternalClientError" and str(exc).startswith(
        "cannot switch to state"
    )


def store_unavailable(exc: BaseException) -> bool:
    """Whether `exc`, or an exception that caused it, means a backing store cannot be
    reached: the client is told UNAVAILABLE (503), not INTERNAL_ERROR."""
    global _UNAVAILABLE
    if _UNAVAILABLE is None:
        _UNAVAILABLE = _unavailable_types()
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        # A bare OSError is asyncio's "Multiple exceptions" of a failed connect; its
        # subclasses other than the above (FileNotFoundError, ...) are bugs, not outages.
        if isinstance(current, _UNAVAILABLE) or type(current) is OSError:
            return True
        if _broken_by_server(current):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


class OneLineOutages(logging.Filter):
    """For a library's logger (asyncpg's pool retrying its connections while PostgreSQL is
    down): a record whose exception is an outage keeps one line, the exception's name and
    words, instead of a traceback per retry. Other records pass as they are."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and store_unavailable(exc):
            record.msg = f"{record.getMessage()}: {one_line(exc)}"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True

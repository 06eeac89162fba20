"""`lvng serve | token | plugins | asyncapi | typescript | migrate` (contract section 1).

Every failure a user can cause (a missing secret, a bad setting, a broken plugin) ends
with one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import secrets
import sys
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from core.config import Settings, load_settings
from core.dev_secret import dev_secret_path, warn_if_weak_secret, with_dev_secret
from core.errors import ConfigError, DatabaseError, PluginError

log = logging.getLogger("lvng")

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
# The roles the server knows (contract section 2; `operator`: the inspection page's
# node-wide figures, docs/operations.md).
KNOWN_ROLES = ("admin", "service", "operator")

# The listening socket's queue of connections not yet accepted (Sanic's default is 100,
# Node's 511). A burst of reconnects (a node restarting, a load balancer failing over)
# overflowing it makes the kernel drop handshakes and reset some: clients see
# ECONNRESET. The kernel caps it at net.core.somaxconn.
LISTEN_BACKLOG = 1024


def _fail(message: str) -> int:
    print(f"lvng: error: {message}", file=sys.stderr)
    return 2


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    # Tortoise says "Tortoise-ORM shutdown" at every close (migrations included): noise.
    numeric = logging.getLevelName(level)
    logging.getLogger("tortoise").setLevel(
        numeric if numeric == logging.DEBUG else max(numeric, logging.WARNING)
    )
    # asyncpg's pool logs a traceback each time it fails to reconnect while PostgreSQL is
    # down: one line each instead (core/database.py).
    from core.database import OneLineOutages

    logging.getLogger("asyncpg.pool").addFilter(OneLineOutages())


def _app_with_logging(settings: Settings) -> Any:
    """The app of one worker, logging as the main process does (workers are spawned)."""
    from core.app import create_app

    _setup_logging(settings.log_level)
    return create_app(settings, "lvng", migrate_on_start=False)


def _database_config(settings: Settings) -> dict[str, Any]:
    from core.database import tortoise_config
    from core.plugins import PluginHost
    from core.registration import register_plugins

    registered = register_plugins(PluginHost.from_settings(settings))
    return tortoise_config(settings.database_url, registered.models)


def describe_store(url: str) -> str:
    """A database or Redis URL as the start line shows it: scheme and path or host, never
    a user name or password (`postgres 10.0.0.5:5432/lvng`, `sqlite lvng.sqlite3`)."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        return f"sqlite {url[len('sqlite://') :].split('?', 1)[0] or ':memory:'}"
    try:
        host = parts.hostname or "localhost"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # a port that is not a number: say only the scheme
        return parts.scheme
    where = f"[{host}]" if ":" in host else host
    return f"{parts.scheme} {where}{port}{parts.path if parts.path not in ('', '/') else ''}"


def start_line(settings: Settings, url: str, plugins: list[str]) -> str:
    """What `lvng serve` prints when it starts: where, how wide, on which stores, with
    which plugins."""
    stores = [f"database {describe_store(settings.database_url)}"]
    if settings.redis_url:
        stores.append(describe_store(settings.redis_url))
        stores.append(f"cluster {settings.cluster_name}")
    return (
        f"lvng serving on {url} (workers: {settings.workers}; {'; '.join(stores)}; "
        f"plugins: {', '.join(plugins) or 'none'})"
    )


def _connect_example(url: str, token: str) -> str:
    """A `node -e` line that connects; it names the repo's own socket.io-client by its
    absolute path when that is installed, so it works from any directory."""
    module = "socket.io-client"
    where = ""
    local = Path(__file__).resolve().parent.parent / "tests" / "js" / "node_modules" / module
    if local.is_dir():
        module = local.as_posix()
    else:
        where = " (run it where socket.io-client is installed: npm install socket.io-client)"
    return (
        f"connect{where}: node -e \"require('{module}').io('{url}', "
        f"{{auth: {{token: '{token}'}}}}).on('connected', d => console.log(d))\""
    )


async def _schema_up_to_date(config: dict[str, Any], settings: Settings) -> None:
    """Migrate (SQLite, `--dev`), or refuse to serve a database with pending migrations
    (PostgreSQL): `lvng migrate` upgrades it, once, before the nodes start."""
    from core.database import migrate, migrates_on_start, pending_migrations

    if not migrates_on_start(settings.database_url, dev=settings.dev):
        pending = await pending_migrations(config)
        if pending:
            shown = ", ".join(pending[:3]) + (
                f" and {len(pending) - 3} more" if len(pending) > 3 else ""
            )
            raise DatabaseError(
                f"the database has {len(pending)} pending migration(s) "
                f"({shown}): run lvng migrate with the same settings, "
                "then start again"
            )
    # Applies nothing where migrations are up to date; makes the tables of plugins that
    # ship no migrations.
    await migrate(config)


def cmd_serve(args: argparse.Namespace) -> int:
    settings = load_settings(
        args.config, host=args.host, port=args.port, workers=args.workers, dev=args.dev or None
    )
    dev_token = None
    if settings.dev:
        updates: dict[str, Any] = {}
        if settings.host not in LOOPBACK:
            print(
                f"lvng: --dev binds loopback only; ignoring host {settings.host}", file=sys.stderr
            )
            updates["host"] = "127.0.0.1"
        settings = with_dev_secret(settings.model_copy(update=updates), create=True)
    settings.require_signing_material()
    _setup_logging(settings.log_level)
    warn_if_weak_secret(settings)

    if settings.dev:
        from core.identity import issue_token

        dev_token = issue_token(
            settings,
            user_id="dev",
            organization_id="dev",
            name="Developer",
            roles=["admin", "operator"],  # the inspection page, all of it
            ttl=24 * 3600,
        )
    if settings.workers > 1 and not settings.redis_url:
        log.warning(
            "--workers %d without LVNG_REDIS_URL: each worker only reaches its own "
            "clients; set LVNG_REDIS_URL and use sticky sessions or "
            "websocket-only clients",
            settings.workers,
        )

    from sanic import Sanic
    from sanic.worker.loader import AppLoader

    from core.metrics import worker_metrics_dir
    from core.transport.closing import RefusingProtocol

    factory = partial(_app_with_logging, settings)
    app = factory()
    # Once here, before any worker starts, so workers never race over the schema.
    if app.ctx.db_config["apps"]:
        asyncio.run(_schema_up_to_date(app.ctx.db_config, settings))
    url = f"http://{settings.host}:{settings.port}"
    if dev_token:
        print("lvng dev token (user dev, org dev, admin and operator, 24 h):", flush=True)
        print(dev_token, flush=True)
        print(_connect_example(url, dev_token), flush=True)
        print(f"inspection page: {url}/admin#token={dev_token}", flush=True)
        print(
            f"more tokens: lvng token --dev --sub USER --org dev [--name NAME] (same "
            f"directory and settings; the secret is in {dev_secret_path(settings)})",
            flush=True,
        )
    print(start_line(settings, url, app.ctx.platform.plugins.names), flush=True)
    if settings.workers == 1:
        app.run(
            host=settings.host,
            port=settings.port,
            single_process=True,
            access_log=False,
            motd=False,
            backlog=LISTEN_BACKLOG,
            protocol=RefusingProtocol,
        )
    else:
        loader = AppLoader(factory=factory)
        app.prepare(
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            access_log=False,
            motd=False,
            backlog=LISTEN_BACKLOG,
            protocol=RefusingProtocol,
        )
        with worker_metrics_dir():  # /metrics sums every worker
            Sanic.serve(primary=app, app_loader=loader)
    return 0


def _split(value: str | None) -> list[str]:
    """A comma-separated option as a list (`--roles admin,service`)."""
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def cmd_token(args: argparse.Namespace) -> int:
    from core.identity import issue_token

    settings = load_settings(args.config)
    if args.dev:
        settings = with_dev_secret(settings, create=False)
    elif settings.jwt_secret is None and dev_secret_path(settings).exists():
        raise ConfigError(
            "lvng token needs LVNG_JWT_SECRET (an HS256 secret) to sign tokens; "
            "for the dev server here, use lvng token --dev"
        )
    unknown = [role for role in _split(args.roles) if role not in KNOWN_ROLES]
    if unknown:
        raise ConfigError(
            f"lvng token: unknown role {unknown[0]!r}; the server knows {', '.join(KNOWN_ROLES)}"
        )
    print(
        issue_token(
            settings,
            user_id=args.sub,
            organization_id=args.org,
            name=args.name,
            customers=_split(args.customers),
            roles=_split(args.roles),
            ttl=args.ttl,
        )
    )
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    from core.registration import describe_plugins

    infos = describe_plugins(load_settings(args.config))
    # An enabled plugin that cannot load would stop `lvng serve`: say so, and fail, after
    # the listing (a disabled one is only listed with its error: the server starts).
    broken = [info for info in infos if info.error and info.enabled]
    if args.json:
        print(json.dumps([info.__dict__ for info in infos], indent=2))
        return _failed_plugins(broken)
    for info in infos:
        state = "enabled" if info.enabled else "disabled"
        version = f" {info.version}" if info.version else ""
        print(f"{info.name}{version} [{info.kind}: {info.target}] {state}")
        if info.error:
            print(f"  error: {info.error}")
            continue
        print(f"  events:  {', '.join(info.events) or '-'}")
        print(f"  emits:   {', '.join(info.emits) or '-'}")
        print(f"  models:  {', '.join(info.models) or '-'}")
        print(f"  metrics: {', '.join(info.metrics) or '-'}")
        print(f"  domain events:{'' if info.domain_events else ' -'}")
        for event in info.domain_events:
            fields = ", ".join(
                f"{f['name']}{'' if f['required'] else '?'}: {f['type']}" for f in event["fields"]
            )
            print(f"    {event['name']}: {event['description']}")
            print(f"      {{{fields}}}")
    return _failed_plugins(broken)


def _failed_plugins(broken: list[Any]) -> int:
    """One line on stderr per enabled plugin that failed to load; exit 2 if any did."""
    for info in broken:
        print(f"lvng: error: {info.error}", file=sys.stderr)
    return 2 if broken else 0


def _registry_platform(args: argparse.Namespace, name: str) -> Any:
    """The platform of an app built for its event registry only (no database, no port)."""
    from core.app import create_app

    settings = load_settings(args.config)
    if settings.jwt_secret is None and settings.jwt_public_key is None:
        # Nothing is signed or verified here: any secret lets the app be built.
        settings = settings.model_copy(update={"jwt_secret": secrets.token_urlsafe(32)})
    return create_app(settings, name).ctx.platform


def cmd_asyncapi(args: argparse.Namespace) -> int:
    """The AsyncAPI document of the enabled plugins, as `GET /asyncapi.json` serves it."""
    from core.asyncapi import document

    platform = _registry_platform(args, "lvng_asyncapi")
    settings = platform.settings
    print(
        json.dumps(
            document(
                platform.events,
                host=f"{settings.host}:{settings.port}",
                plugins=platform.plugins.names,
            ),
            indent=2,
        )
    )
    return 0


def cmd_typescript(args: argparse.Namespace) -> int:
    """TypeScript declarations of the enabled plugins' events, as `GET /lvng.d.ts`."""
    from core.typescript import declarations

    platform = _registry_platform(args, "lvng_typescript")
    sys.stdout.write(declarations(platform.events, plugins=platform.plugins.names))
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from core.database import migrate

    settings = load_settings(args.config)
    _setup_logging(settings.log_level)
    config = _database_config(settings)
    applied = asyncio.run(migrate(config)) if config["apps"] else []
    done = f"applied {', '.join(applied)}" if applied else "nothing to apply"
    print(f"lvng: {done}; schema up to date for {', '.join(config['apps']) or 'no plugins'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lvng", description="LVNG realtime server")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--workers", type=int, default=None)
    serve.add_argument(
        "--dev", action="store_true", help="no secret needed: prints a ready token; loopback only"
    )
    serve.set_defaults(func=cmd_serve)

    token = sub.add_parser("token", help="print a signed JWT for the configured secret")
    token.add_argument("--sub", required=True, help="user id")
    token.add_argument("--org", required=True, help="organization id")
    token.add_argument("--name")
    token.add_argument("--customers", help="comma-separated customer ids")
    token.add_argument("--roles", help=f"comma-separated: {', '.join(KNOWN_ROLES)}")
    token.add_argument("--ttl", type=int, default=3600, help="seconds (default 3600)")
    token.add_argument(
        "--dev",
        action="store_true",
        help="sign with the secret of lvng serve --dev in this directory",
    )
    token.set_defaults(func=cmd_token)

    plugins = sub.add_parser("plugins", help="list every plugin found")
    plugins.add_argument("--json", action="store_true")
    plugins.set_defaults(func=cmd_plugins)

    asyncapi = sub.add_parser("asyncapi", help="print the AsyncAPI 3.0 document of the events")
    asyncapi.set_defaults(func=cmd_asyncapi)

    typescript = sub.add_parser(
        "typescript",
        help="print TypeScript declarations of the events for socket.io-client's typed sockets",
    )
    typescript.set_defaults(func=cmd_typescript)

    migrate = sub.add_parser("migrate", help="apply pending schema migrations")
    migrate.set_defaults(func=cmd_migrate)

    for p in (serve, token, plugins, asyncapi, typescript, migrate):
        p.add_argument("--config", default=None, help="TOML file (or LVNG_CONFIG)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except (ConfigError, PluginError, DatabaseError) as exc:
        return _fail(str(exc))


if __name__ == "__main__":
    sys.exit(main())

"""The app factory: a Sanic app with python-socketio attached (native Sanic mode)."""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any

import socketio
from prometheus_client import CollectorRegistry
from sanic import Blueprint, Sanic

from core.config import Settings
from core.database import close_database, open_database, tortoise_config
from core.errors import PluginError
from core.gateway import Gateway
from core.http import JSONErrorHandler, core_routes
from core.identity import TokenVerifier
from core.metrics import CoreMetrics, PluginMetrics
from core.platform import Platform
from core.plugins import PluginHost
from core.registry import EventRegistry
from core.socketserver import LvngServer
from core.wire import dumps as strict_dumps

log = logging.getLogger("lvng")

# Engine settings of the reference (contract section 1).
PING_INTERVAL = 25
PING_TIMEOUT = 60
MAX_HTTP_BUFFER_SIZE = 1_000_000

_app_numbers = itertools.count(1)


def _client_manager(settings: Settings) -> socketio.AsyncManager | None:
    if settings.redis_url:
        return socketio.AsyncRedisManager(settings.redis_url)
    return None


def create_app(
    settings: Settings, name: str | None = None, *, migrate_on_start: bool = True
) -> Sanic:
    """Build the whole server for `settings`: plugins loaded, events, routes and metrics
    registered. The database opens when the server starts, migrating first unless
    `migrate_on_start` is False (the CLI migrates once, before forking workers).

    Raises PluginError or ConfigError, each with a one-line message, when a plugin or a
    setting is broken.
    """
    metrics_registry = CollectorRegistry(auto_describe=True)
    core_metrics = CoreMetrics(metrics_registry)
    plugins = PluginHost.from_settings(
        settings,
        on_error=lambda plugin, hook, exc: core_metrics.plugin_errors.labels(
            plugin=plugin, hook=hook).inc(),
    )
    sio = LvngServer(
        async_mode="sanic",
        handshake_timeout=settings.handshake_timeout,
        client_manager=_client_manager(settings),
        ping_interval=PING_INTERVAL,
        ping_timeout=PING_TIMEOUT,
        max_http_buffer_size=MAX_HTTP_BUFFER_SIZE,
        cors_allowed_origins=settings.cors_allowed,
        transports=["polling", "websocket"],
        logger=False,
        engineio_logger=False,
    )
    # Responses are strict JSON too: a NaN fails loudly instead of going out bare.
    app = Sanic(name or f"lvng_{next(_app_numbers)}", dumps=strict_dumps)
    app.config.MOTD = False
    app.config.REQUEST_MAX_SIZE = MAX_HTTP_BUFFER_SIZE + 64 * 1024
    app.config.WEBSOCKET_MAX_SIZE = MAX_HTTP_BUFFER_SIZE + 64 * 1024
    app.error_handler = JSONErrorHandler()
    sio.attach(app)

    platform = Platform(
        settings=settings,
        sio=sio,
        plugins=plugins,
        registry=EventRegistry(),
        verifier=TokenVerifier(settings),
        metrics=core_metrics,
        metrics_registry=metrics_registry,
    )
    app.ctx.platform = platform
    Gateway(platform)

    plugins.collect(
        "lvng_register_events", per_plugin=lambda n: {"events": platform.events.registrar(n)}
    )
    for plugin, result in plugins.collect(
        "lvng_metrics", per_plugin=lambda n: {"metrics": PluginMetrics(metrics_registry, n)}
    ):
        platform.keep_metrics(plugin, result)
    app.blueprint(core_routes)
    for plugin, result in plugins.collect("lvng_routes", platform=platform):
        blueprints = result if isinstance(result, list | tuple) else [result]
        for bp in blueprints:
            if bp is None:
                continue
            if not isinstance(bp, Blueprint):
                raise PluginError(f"plugin {plugin}: lvng_routes must return Blueprints")
            app.blueprint(bp)

    models = {
        plugin: _as_list(result) for plugin, result in plugins.collect("lvng_models") if result
    }
    db_config = tortoise_config(settings.database_url, models)
    app.ctx.db_config = db_config

    @app.before_server_start
    async def start(app: Sanic) -> None:
        await open_database(db_config, migrate_first=migrate_on_start)
        if settings.redis_url:
            import redis.asyncio as aioredis

            platform.redis = aioredis.from_url(settings.redis_url)
        await plugins.fan_out("lvng_startup", platform=platform)

    @app.before_server_stop
    async def stop(app: Sanic) -> None:
        # Say goodbye to every client (they reconnect elsewhere, and plugins see each
        # disconnect), stop Engine.IO's background work, then let plugins finish.
        await asyncio.gather(*(sio.disconnect(sid) for sid in list(platform.sessions)),
                             return_exceptions=True)
        await sio.shutdown()
        await plugins.fan_out("lvng_shutdown", platform=platform)

    @app.after_server_stop
    async def close(app: Sanic) -> None:
        await close_database()
        if platform.redis is not None:
            await platform.redis.aclose()

    return app


def _as_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]

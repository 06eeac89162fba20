"""The app factory: a Sanic app with python-socketio attached (native Sanic mode)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
from typing import Any

import socketio
from prometheus_client import CollectorRegistry
from sanic import Blueprint, Sanic

from core.cluster import ClusterState, LocalCluster, RedisCluster
from core.config import Settings
from core.database import close_database, open_database, tortoise_config
from core.errors import ConfigError, PluginError
from core.gateway import Gateway
from core.http import JSONErrorHandler, core_routes
from core.identity import TokenVerifier
from core.metrics import CoreMetrics, PluginMetrics, mark_worker_dead
from core.platform import Platform
from core.plugins import PluginHost
from core.registry import EventRegistry

log = logging.getLogger("lvng")

# Engine settings of the reference (contract section 1).
PING_INTERVAL = 25
PING_TIMEOUT = 60
MAX_HTTP_BUFFER_SIZE = 1_000_000

_app_numbers = itertools.count(1)


def _client_manager(settings: Settings) -> socketio.AsyncManager | None:
    if settings.redis_url:
        return socketio.AsyncRedisManager(settings.redis_url, channel=settings.cluster_name)
    return None


def _cluster(settings: Settings) -> ClusterState:
    if settings.redis_url:
        return RedisCluster(settings.redis_url, node_ttl=settings.node_ttl,
                            prefix=settings.cluster_name)
    return LocalCluster()


def _plugin_settings(plugins: PluginHost, settings: Settings,
                     platform: Platform) -> None:
    """Validate each plugin's `[plugins.NAME]` table with the model it declares."""
    from pydantic import BaseModel, ValidationError

    declared = dict(plugins.collect("lvng_settings"))
    for name in plugins.names:
        raw = settings.plugin_settings(name)
        model = declared.get(name)
        if model is None:
            if raw:
                raise ConfigError(f"invalid setting plugins.{name}: plugin {name} takes no "
                                  f"settings (found {', '.join(sorted(raw))})")
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise PluginError(f"plugin {name}: lvng_settings must return a pydantic model")
        try:
            platform.keep_settings(name, model.model_validate(raw))
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise ConfigError(f"invalid setting plugins.{name}"
                              f"{'.' + where if where else ''}: {err['msg']}") from None


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
    sio = socketio.AsyncServer(
        async_mode="sanic",
        client_manager=_client_manager(settings),
        ping_interval=PING_INTERVAL,
        ping_timeout=PING_TIMEOUT,
        max_http_buffer_size=MAX_HTTP_BUFFER_SIZE,
        cors_allowed_origins=settings.cors_allowed,
        transports=["polling", "websocket"],
        logger=False,
        engineio_logger=False,
    )
    app = Sanic(name or f"lvng_{next(_app_numbers)}")
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
        cluster=_cluster(settings),
    )
    app.ctx.platform = platform
    gateway = Gateway(platform)
    _plugin_settings(plugins, settings, platform)

    plugins.collect(
        "lvng_register_events", per_plugin=lambda n: {"events": platform.events.registrar(n)}
    )
    plugins.collect("lvng_register_domain_events",
                    per_plugin=lambda n: {"events": platform.events.domain_registrar(n)})
    for plugin, result in plugins.collect(
        "lvng_metrics", per_plugin=lambda n: {"metrics": PluginMetrics(metrics_registry, n)}
    ):
        platform.keep_metrics(plugin, result)
    for plugin, result in plugins.collect("lvng_state", platform=platform):
        platform.keep_state(plugin, result)
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
        await platform.cluster.start(on_member_lost=gateway.member_lost)
        await plugins.fan_out("lvng_startup", platform=platform)

    @app.before_server_stop
    async def stop(app: Sanic) -> None:
        # Say goodbye to every client (they reconnect elsewhere, and plugins see each
        # disconnect), stop Engine.IO's background work, then let plugins finish.
        await asyncio.gather(*(sio.disconnect(sid) for sid in list(platform.sessions)),
                             return_exceptions=True)
        await sio.shutdown()
        await plugins.fan_out("lvng_shutdown", platform=platform)
        # Background work and timers end before the database closes.
        platform.timers.cancel_all()
        await platform.tasks.cancel_all()

    @app.after_server_stop
    async def close(app: Sanic) -> None:
        await close_database()
        await platform.cluster.stop()
        if platform.redis is not None:
            await platform.redis.aclose()
        mark_worker_dead(os.getpid())  # with --workers N: its connections no longer count

    return app


def _as_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]

"""The app factory: a Sanic app with python-socketio attached (native Sanic mode)."""

from __future__ import annotations

import asyncio
import gc
import itertools
import logging
import os
from typing import Any

import socketio
from sanic import Blueprint, Request, Sanic
from sanic.response import HTTPResponse

from core.admin import admin_routes
from core.asyncapi import declare_core
from core.cluster.local import LocalCluster
from core.cluster.redis_cluster import RedisCluster, redis_client
from core.cluster.state import ClusterState
from core.config import Settings
from core.database import close_database, open_database, tortoise_config
from core.errors import ConfigError, ErrorCode, PluginError
from core.gateway import Gateway
from core.http import JSONErrorHandler, charge_shared_write, core_routes, error_response
from core.identity import TokenVerifier
from core.metrics import CoreMetrics, app_registry, mark_worker_dead
from core.platform import Platform
from core.plugins import PluginHost
from core.recovery import Recovery, recovery_path, upkeep
from core.recovery_store import RecoveryStore
from core.registration import register_plugins
from core.registry import EventRegistry
from core.transport.closing import SHUTDOWN_REASON
from core.transport.delivery import FastManager
from core.transport.redis_manager import FastRedisManager
from core.transport.socketserver import LvngServer
from core.transport.websocket import lines_dropped
from core.wire import dumps as strict_dumps

log = logging.getLogger("lvng")

# Engine settings of the reference (contract section 1).
PING_INTERVAL = 25
PING_TIMEOUT = 60
MAX_HTTP_BUFFER_SIZE = 1_000_000

# How long a stopping node waits for Redis to make the cluster writes it owes.
OWED_AT_STOP = 3.0

_app_numbers = itertools.count(1)


def _client_manager(settings: Settings) -> socketio.AsyncManager:
    if settings.redis_url:
        from redis.exceptions import ConnectionError as RedisConnectionError

        return FastRedisManager(
            settings.redis_url,
            channel=settings.cluster_name,
            redis_options={"retry_on_error": [RedisConnectionError]},
        )  # as redis_client
    return FastManager()


def _cluster(settings: Settings) -> ClusterState:
    if settings.redis_url:
        return RedisCluster(
            settings.redis_url, node_ttl=settings.node_ttl, prefix=settings.cluster_name
        )
    return LocalCluster()


def _plugin_settings(plugins: PluginHost, settings: Settings, platform: Platform) -> None:
    """Validate each plugin's `[plugins.NAME]` table with the model it declares."""
    from pydantic import BaseModel, ValidationError

    declared = dict(plugins.collect("lvng_settings"))
    for name in plugins.names:
        raw = settings.plugin_settings(name)
        model = declared.get(name)
        if model is None:
            if raw:
                raise ConfigError(
                    f"invalid setting plugins.{name}: plugin {name} takes no "
                    f"settings (found {', '.join(sorted(raw))})"
                )
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise PluginError(f"plugin {name}: lvng_settings must return a pydantic model")
        try:
            platform.keep_settings(name, model.model_validate(raw))
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise ConfigError(
                f"invalid setting plugins.{name}{'.' + where if where else ''}: {err['msg']}"
            ) from None


def create_app(
    settings: Settings, name: str | None = None, *, migrate_on_start: bool = True
) -> Sanic[Any, Any]:
    """Build the whole server for `settings`: plugins loaded, events, routes and metrics
    registered. The database opens when the server starts, migrating first unless
    `migrate_on_start` is False (the CLI migrates once, before forking workers).

    Raises PluginError or ConfigError, each with a one-line message, when a plugin or a
    setting is broken.
    """
    metrics_registry = app_registry()
    core_metrics = CoreMetrics(metrics_registry)
    plugins = PluginHost.from_settings(
        settings,
        on_error=lambda plugin, hook, exc: core_metrics.plugin_errors.labels(
            plugin=plugin, hook=hook
        ).inc(),
    )
    manager = _client_manager(settings)
    sio = LvngServer(
        async_mode="sanic",
        handshake_timeout=settings.handshake_timeout,
        send_buffer_limit=settings.send_buffer_limit,
        flush_window=settings.flush_window_ms / 1000,
        on_slow_consumer=core_metrics.slow_consumers.inc,
        client_manager=manager,
        ping_interval=PING_INTERVAL,
        ping_timeout=PING_TIMEOUT,
        max_http_buffer_size=MAX_HTTP_BUFFER_SIZE,
        cors_allowed_origins=settings.cors_allowed,
        transports=["polling", "websocket"],
        logger=False,
        engineio_logger=False,
    )
    sio.eio.lvng_drop_linger = settings.stop_linger_seconds  # read by LvngSocket at a stop
    # Responses are strict JSON too: a NaN fails loudly instead of going out bare. Sanic's
    # loggers keep no handlers of their own: their lines reach the root handler (`lvng
    # serve` sets it up) once, in the same format as ours.
    app = Sanic(name or f"lvng_{next(_app_numbers)}", dumps=strict_dumps, configure_logging=False)
    app.config.MOTD = False
    app.config.REQUEST_MAX_SIZE = MAX_HTTP_BUFFER_SIZE + 64 * 1024
    app.config.WEBSOCKET_MAX_SIZE = MAX_HTTP_BUFFER_SIZE + 64 * 1024
    # Engine.IO pings every socket already (PING_INTERVAL): Sanic's own websocket pings
    # would only add a task and a timer per connection (issue 16: smaller state).
    app.config.WEBSOCKET_PING_INTERVAL = None  # type: ignore[assignment]  # None: no pings
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
    recovery = Recovery(
        settings.recovery_window,
        settings.recovery_log_size,
        recovery_path(
            settings.database_url, settings.recovery_file, settings.redis_url, settings.workers
        ),
    )
    if settings.redis_url and recovery.enabled and isinstance(manager, FastRedisManager):
        # Recovery on any node of the cluster (core/recovery_store.py).
        recovery.store = RecoveryStore(
            settings.redis_url,
            settings.cluster_name,
            manager.channel,
            settings.recovery_window,
            settings.recovery_log_size,
            manager.host_id,
        )
    recovery.on_result = lambda result: core_metrics.recoveries.labels(result=result).inc()
    if isinstance(manager, FastRedisManager) and isinstance(platform.cluster, RedisCluster):
        # Emits Redis missed are owed to the other nodes, and the rooms they tell held.
        manager.owed, manager.cluster = platform.owed, platform.cluster
    recovery.on_replayed = core_metrics.replayed_events.inc
    sio.recovery = recovery
    if isinstance(manager, FastManager):
        manager.on_delivered = platform.figures.delivered
    gateway = Gateway(platform)
    _plugin_settings(plugins, settings, platform)

    registered = register_plugins(
        plugins, events=platform.events, metrics_registry=metrics_registry
    )
    declare_core(platform.events)
    recovery.ephemeral = platform.events.ephemeral_events()
    for plugin, result in registered.metrics.items():
        platform.keep_metrics(plugin, result)
    for plugin, result in plugins.collect("lvng_state", platform=platform):
        platform.keep_state(plugin, result)
    app.blueprint(core_routes)
    app.blueprint(admin_routes)
    for plugin, result in plugins.collect("lvng_routes", platform=platform):
        blueprints = result if isinstance(result, list | tuple) else [result]
        for bp in blueprints:
            if bp is None:
                continue
            if not isinstance(bp, Blueprint):
                raise PluginError(f"plugin {plugin}: lvng_routes must return Blueprints")
            app.blueprint(bp)

    db_config = tortoise_config(settings.database_url, registered.models)
    app.ctx.db_config = db_config

    @app.before_server_start
    async def start(app: Sanic[Any, Any]) -> None:
        await open_database(db_config, migrate_first=migrate_on_start)
        if settings.redis_url:
            platform.redis = redis_client(settings.redis_url)
        await platform.cluster.start(
            on_member_lost=gateway.departures.member_lost,
            on_message=gateway.departures.on_node_message,
        )
        platform.deadlines.start()
        await plugins.fan_out("lvng_startup", platform=platform)
        if recovery.enabled:
            recovery.load()
            platform.tasks.spawn(upkeep(recovery), name="recovery upkeep")
        tune_gc()

    @app.on_request
    async def refuse_new_sessions_while_stopping(request: Request) -> HTTPResponse | None:
        # A new Engine.IO session now would be dropped at once; a refusal at the HTTP
        # level makes the client retry (a Socket.IO connect_error would be final).
        if (
            platform.stopping
            and request.path.startswith("/socket.io")
            and "sid" not in request.args
        ):
            return error_response(ErrorCode.UNAVAILABLE, "the server is stopping", 503)
        return None

    # With Redis, an HTTP write counts in the per-user window every node shares.
    app.on_request(charge_shared_write)

    @app.before_server_stop
    async def stop(app: Sanic[Any, Any]) -> None:
        # Finish in-flight events, then drop every client's transport as a restart would
        # (they reconnect by themselves; plugins see each disconnect), stop Engine.IO's
        # background work, then let plugins finish.
        # Once drained, a new TCP connection is reset at once rather than answered 503
        # (core/transport/closing.py, RefusingProtocol): the clients being dropped retry.
        await gateway.stop(
            timeout=settings.stop_drain_seconds,
            on_drained=lambda: setattr(app.ctx, "refuse_connections", True),
        )
        await sio.shutdown()
        for session in list(platform.sessions.values()):  # disconnects not handled yet
            gateway.reconnects.save(session, SHUTDOWN_REASON)
        recovery.dump()
        await plugins.fan_out("lvng_shutdown", platform=platform)
        # What the cluster is owed since an outage gets one more chance (leaves told).
        await platform.owed.settle_now(timeout=OWED_AT_STOP)
        await platform.deadlines.stop()
        # Background work and timers end before the database closes.
        platform.timers.cancel_all()
        await platform.tasks.cancel_all()
        # The dropped lines end once each client closed its side (a bounded wait): a
        # process that ended sooner would reset them and lose the last acks they carry.
        await lines_dropped(settings.stop_linger_seconds)

    @app.after_server_stop
    async def close(app: Sanic[Any, Any]) -> None:
        await close_database()
        await platform.cluster.stop()
        if platform.redis is not None:
            await platform.redis.aclose()
        if recovery.store is not None:
            await recovery.store.close()
        mark_worker_dead(os.getpid())  # with --workers N: its connections no longer count
        await _cancel_leftover_tasks()

    return app


GC_THRESHOLD = (50_000, 2, 1000)


def tune_gc() -> None:
    """Fewer collections of the cyclic garbage collector while serving (issue 24): what
    start-up made (modules, the registry, settings) is frozen out of every collection, and
    the youngest generation is collected every 50,000 allocations instead of 700. With
    thousands of sockets' objects alive, Python's defaults spent ~15-20% of a stored send's
    and of a handshake's CPU in collections; garbage in cycles now waits a little longer
    (a few MB at most).

    The middle generation is collected every third young collection, the oldest at most
    every 1,000 middle ones (the same 100M allocations as 20 × 100). Every object that
    outlives a young collection is looked at once in a middle one, whatever its
    threshold, so the threshold sets the pause, not the work: at 20, a middle collection
    met up to a million objects of 10,000 busy sockets and stopped the server for
    0.3-0.6 s, the p99 of the many-small-rooms bench (646 ms at 2,000 msgs/s); at 2,
    45-250 ms (p99 82 ms), for the same server CPU per send within the noise."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


async def _cancel_leftover_tasks() -> None:
    """Cancel what is still pending (Engine.IO's ping timers of the dropped sockets, say)
    before Sanic closes the loop, which would destroy them with an asyncio error each."""
    current = asyncio.current_task()
    leftover = [task for task in asyncio.all_tasks() if task is not current]
    for task in leftover:
        task.cancel()
    if leftover:
        await asyncio.gather(*leftover, return_exceptions=True)
        log.debug("cancelled %d leftover task(s) at stop", len(leftover))

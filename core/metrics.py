"""Prometheus metrics: the core's (contract section 11) and a per-plugin factory.

Every app builds its own CollectorRegistry; nothing is registered globally, so several
apps (tests, workers) never collide.

With more than one worker (`lvng serve --workers N`) the CLI sets `PROMETHEUS_MULTIPROC_DIR`
before the workers start: prometheus-client then keeps every value in a file per process,
and `exposition()` sums the files of every worker instead of reading the app's registry.
Each gauge says how its per-process values combine (`multiprocess_mode`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client import multiprocess as _multiprocess

# How a gauge combines the values of several workers (prometheus_client's modes).
MultiprocessMode = Literal[
    "all",
    "liveall",
    "min",
    "livemin",
    "max",
    "livemax",
    "sum",
    "livesum",
    "mostrecent",
    "livemostrecent",
]

UNKNOWN_EVENT_LABEL = "unknown"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> str | None:
    """The directory of the per-worker metric files, when serving with several workers."""
    return os.environ.get(MULTIPROC_ENV) or None


def exposition(registry: CollectorRegistry) -> tuple[bytes, str]:
    """The Prometheus text of /metrics and its content type: the app's registry, or the
    sum over every worker's files in multi-worker mode."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        _multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry), CONTENT_TYPE_LATEST


@contextmanager
def worker_metrics_dir() -> Iterator[str]:
    """A fresh directory for the workers' metric files, in the environment the workers
    start with (so they import prometheus_client in multiprocess mode); removed after."""
    path = tempfile.mkdtemp(prefix="lvng-metrics-")
    before = os.environ.get(MULTIPROC_ENV)
    os.environ[MULTIPROC_ENV] = path
    try:
        yield path
    finally:
        if before is None:
            os.environ.pop(MULTIPROC_ENV, None)
        else:
            os.environ[MULTIPROC_ENV] = before
        shutil.rmtree(path, ignore_errors=True)


def mark_worker_dead(pid: int) -> None:
    """Drop a stopped worker's live gauges (its connections are gone); counters stay."""
    if multiprocess_dir():
        _multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def app_registry() -> CollectorRegistry:
    """A new registry for one app, with the process, platform and GC collectors.

    `_created` series are turned off (process-wide: prometheus_client has no per-registry
    switch); they doubled every counter and histogram for a value nobody reads.
    """
    disable_created_metrics()  # type: ignore[no-untyped-call]
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


class CoreMetrics:
    """The platform's own metrics, all under `lvng_`."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.connections_active = Gauge(
            "lvng_connections_active",
            "Socket.IO connections open now",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.connections_total = Counter(
            "lvng_connections_total", "Socket.IO connections accepted", registry=registry
        )
        self.connection_rejects = Counter(
            "lvng_connection_rejects_total",
            "Handshakes refused, by reason",
            ["reason"],
            registry=registry,
        )
        self.events_received = Counter(
            "lvng_events_received_total",
            "Client events received, by registered event name",
            ["event"],
            registry=registry,
        )
        self.event_errors = Counter(
            "lvng_event_errors_total",
            "Client events that failed, by event and error code",
            ["event", "code"],
            registry=registry,
        )
        self.event_duration = Histogram(
            "lvng_event_duration_seconds",
            "Time from receiving an event to its ack",
            ["event"],
            registry=registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        self.rate_limited = Counter(
            "lvng_rate_limited_total",
            "Client events and HTTP writes refused by the rate limit",
            registry=registry,
        )
        self.rate_limit_disconnects = Counter(
            "lvng_rate_limit_disconnects_total",
            "Sockets disconnected for sending at three times the rate limit",
            registry=registry,
        )
        self.recoveries = Counter(
            "lvng_recoveries_total",
            "Reconnects that asked to recover a dropped session (contract section 12), by "
            "result: recovered, expired (past the window or a log trimmed), unknown, refused",
            ["result"],
            registry=registry,
        )
        for result in ("recovered", "expired", "unknown", "refused"):
            self.recoveries.labels(result=result)
        self.replayed_events = Counter(
            "lvng_recovery_replayed_events_total",
            "Events sent again to recovered sockets (what they missed)",
            registry=registry,
        )
        self.slow_consumers = Counter(
            "lvng_slow_consumer_disconnects_total",
            "Sockets dropped for not reading what was sent to them (send buffer limit)",
            registry=registry,
        )
        self.token_expiries = Counter(
            "lvng_token_expiry_disconnects_total",
            "Sockets disconnected because their token expired unrefreshed",
            registry=registry,
        )
        self.plugin_errors = Counter(
            "lvng_plugin_errors_total",
            "Plugin hook implementations that raised",
            ["plugin", "hook"],
            registry=registry,
        )
        self.domain_events = Counter(
            "lvng_domain_events_total",
            "Domain events published, by plugin and name",
            ["plugin", "name"],
            registry=registry,
        )
        self.domain_events_invalid = Counter(
            "lvng_domain_events_invalid_total",
            "Domain events not delivered: undeclared, or data refused by their schema",
            ["plugin", "name"],
            registry=registry,
        )
        self.commit_batches = Histogram(
            "lvng_commit_batch_writes",
            "Writes per group-commit transaction (core/commits.py)",
            registry=registry,
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
        )
        self.commit_seconds = Histogram(
            "lvng_commit_batch_seconds",
            "Time of one group-commit transaction, from BEGIN to COMMIT",
            registry=registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        # Issue 26: users with sockets here and on another node, whose events count in the
        # window every node shares (Redis); the others' count on their node.
        self.users_spread = Gauge(
            "lvng_users_spread",
            "Users with sockets on this node and another (event limits counted in Redis)",
            registry=registry,
            multiprocess_mode="livesum",
        )
        # Cluster writes (emits, room leaves, turn releases) a Redis outage left owed, made
        # once Redis and every node's listener are back (core/cluster/owed.py).
        self.owed_writes = Gauge(
            "lvng_cluster_owed_writes",
            "Cluster writes owed since a Redis outage, not made yet",
            registry=registry,
            multiprocess_mode="livesum",
        )
        # 1 when the store answered the last check (each /readyz and each /metrics scrape),
        # 0 when not; the newest check of any live worker wins.
        self.ready = Gauge(
            "lvng_ready",
            "Whether a backing store (database, redis) answered the last check",
            ["store"],
            registry=registry,
            multiprocess_mode="livemostrecent",
        )


class PluginMetrics:
    """Hands a plugin metrics named `lvng_NAME_…` in the app's registry."""

    def __init__(self, registry: CollectorRegistry, plugin: str) -> None:
        self.registry = registry
        self.plugin = plugin
        self.prefix = f"lvng_{plugin.replace('-', '_')}_"

    def _name(self, name: str) -> str:
        return name if name.startswith(self.prefix) else self.prefix + name

    def counter(self, name: str, documentation: str, labels: tuple[str, ...] = ()) -> Counter:
        return Counter(self._name(name), documentation, list(labels), registry=self.registry)

    def gauge(
        self,
        name: str,
        documentation: str,
        labels: tuple[str, ...] = (),
        multiprocess_mode: MultiprocessMode = "livesum",
    ) -> Gauge:
        """`multiprocess_mode` combines the workers' values (`lvng serve --workers N`):
        `livesum` for what each worker counts of its own (its sockets), `livemax` or
        `livemostrecent` for a cluster-wide value every worker sets alike."""
        return Gauge(
            self._name(name),
            documentation,
            list(labels),
            registry=self.registry,
            multiprocess_mode=multiprocess_mode,
        )

    def histogram(
        self,
        name: str,
        documentation: str,
        labels: tuple[str, ...] = (),
        buckets: Sequence[float] | None = None,
    ) -> Histogram:
        kwargs: dict[str, Any] = {"buckets": buckets} if buckets else {}
        return Histogram(
            self._name(name), documentation, list(labels), registry=self.registry, **kwargs
        )

"""The swarm plugin's metrics, all `lvng_swarm_…` (made by `lvng_metrics`)."""

from __future__ import annotations

from core.api import PluginMetrics


class SwarmMetrics:
    def __init__(self, factory: PluginMetrics) -> None:
        self.updates = factory.counter(
            "updates_total", "Session events stored and broadcast, by type", ("type",)
        )
        self.duplicates = factory.counter(
            "duplicates_suppressed_total",
            "Publishes repeating an eventId: answered with the first update, not stored",
        )
        self.refused = factory.counter(
            "refused_total", "Publishes refused after the session ended (409 CONFLICT)"
        )
        self.sessions = factory.counter(
            "sessions_total",
            "Sessions that reached a status on this node (running when "
            "first published to, then completed or failed)",
            ("status",),
        )
        self.subscribers = factory.gauge(
            "subscribers", "Socket subscriptions to sessions on this node"
        )
        self.publish_seconds = factory.histogram(
            "publish_seconds",
            "Time to number and commit one session event",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )

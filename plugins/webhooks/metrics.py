"""The webhooks plugin's metrics, all `lvng_webhooks_…` (made by `lvng_metrics`)."""

from __future__ import annotations

from core.api import PluginMetrics

# `result` of one attempt: delivered (2xx), retried (will try again), failed (given up).
RESULTS = ("delivered", "retried", "failed")


class WebhooksMetrics:
    def __init__(self, factory: PluginMetrics) -> None:
        self.deliveries = factory.counter(
            "deliveries_total",
            "Delivery attempts on this node by result: delivered (2xx), retried, failed "
            "(given up after give_up_after_seconds)",
            ("result",),
        )
        for result in RESULTS:
            self.deliveries.labels(result=result)
        self.written = factory.counter(
            "outbox_written_total", "Deliveries written to the outbox on this node"
        )
        self.not_stored = factory.counter(
            "outbox_failed_total",
            "Deliveries that could not be written to the outbox (logged; not delivered)",
        )
        self.pending = factory.gauge(
            "pending",
            "Deliveries waiting in the outbox (the whole cluster's, as last read)",
            multiprocess_mode="livemax",
        )
        self.oldest_pending_age = factory.gauge(
            "oldest_pending_age_seconds",
            "Age of the oldest pending delivery (the whole cluster's, as last read); 0: none",
            multiprocess_mode="livemax",
        )

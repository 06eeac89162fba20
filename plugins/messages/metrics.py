"""The messages plugin's metrics, all `lvng_messages_…` (made by `lvng_metrics`)."""

from __future__ import annotations

from core.api import PluginMetrics


class MessagesMetrics:
    def __init__(self, factory: PluginMetrics) -> None:
        self.sent = factory.counter(
            "sent_total", "Messages stored and broadcast, by target", ("target",)
        )
        self.persist_seconds = factory.histogram(
            "persist_seconds",
            "Time to commit one new message",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        self.history_reads = factory.counter(
            "history_reads_total",
            "History pages read (join, paging, rejoin, HTTP), by target",
            ("target",),
        )
        self.duplicates = factory.counter(
            "duplicates_suppressed_total", "Sends repeating an optimisticId, not stored again"
        )

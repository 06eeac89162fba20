"""The calls plugin's metrics, all `lvng_calls_…` (made by `lvng_metrics`).

Counters count what this node did and add up across nodes (`sum`). The two gauges are
the whole cluster's numbers, read from the database (every call and participant is
there): each node sets them after each change it makes and every
`metrics_refresh_seconds`, so every node reports the same value, a little late on nodes
that did not make the change. Aggregate them across nodes with `max`, never `sum`.
"""

from __future__ import annotations

from core.api import PluginMetrics


class CallsMetrics:
    def __init__(self, factory: PluginMetrics) -> None:
        self.active = factory.gauge(
            "active", "Calls in progress in the whole cluster (from the database; use max "
            "across nodes)")
        self.participants = factory.gauge(
            "participants", "Users in calls in progress in the whole cluster (from the "
            "database; use max across nodes)")
        self.started = factory.counter("started_total", "Calls this node started")
        self.ended = factory.counter("ended_total", "Calls this node ended")
        self.segments = factory.counter(
            "segments_total", "Transcription segments relayed by this node, by finality "
            "(final: stored, interim: relayed only)", ("finality",))
        for finality in ("final", "interim"):
            self.segments.labels(finality=finality)

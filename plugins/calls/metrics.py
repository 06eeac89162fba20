"""The calls plugin's metrics, all `lvng_calls_…` (made by `lvng_metrics`).

Counters count what this node did and add up across nodes (`sum`). The two gauges are
the whole cluster's numbers, not this node's share: a call's participants may sit on any
node, so no node's share means anything. Each node reads them from the database (where
every call and participant is) at start and every `metrics_refresh_seconds`, and moves
them at once by each change it makes itself. So every node reports about the same value,
late by at most one refresh for changes made elsewhere: aggregate them with `max`, never
`sum` (so do the workers of one node: `livemax`).
"""

from __future__ import annotations

from core.api import PluginMetrics


class CallsMetrics:
    def __init__(self, factory: PluginMetrics) -> None:
        self.active = factory.gauge(
            "active",
            "Calls in progress in the whole cluster (from the database; use max across nodes)",
            multiprocess_mode="livemax",
        )
        self.participants = factory.gauge(
            "participants",
            "Users in calls in progress in the whole cluster (from the "
            "database; use max across nodes)",
            multiprocess_mode="livemax",
        )
        self.started = factory.counter("started_total", "Calls this node started")
        self.ended = factory.counter("ended_total", "Calls this node ended")
        self.segments = factory.counter(
            "segments_total",
            "Transcription segments relayed by this node, by finality "
            "(final: stored, interim: relayed only)",
            ("finality",),
        )
        for finality in ("final", "interim"):
            self.segments.labels(finality=finality)

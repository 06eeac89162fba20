"""The presence plugin's metrics, all `lvng_presence_…` (made by `lvng_metrics`).

`lvng_presence_users{status}` is per node: the users with at least one socket on this
node, by the status this node last read or wrote for them. A user with devices on two
nodes counts on both, so `sum()` over nodes over-counts such users; `presence:list` is
the cluster's answer. `lvng_presence_updates_total{status}` counts the changes this
node announced; each one is made by exactly one node, so summing over nodes is right.
`lvng_presence_targeted_total` counts those of them that went to subscribers and own
devices only (a large organization), `lvng_presence_superseded_total` those never sent
because a later change of the same user came in the same window; the gauges
`lvng_presence_subscriptions` (this node's sockets' subscriptions) and
`lvng_presence_large_organizations` (those this node last found past the limit).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial

from core.api import PluginMetrics

STATUSES = ("online", "away", "busy", "offline")


class PresenceMetrics:
    def __init__(self, factory: PluginMetrics) -> None:
        self.users = factory.gauge(
            "users", "Users with a socket on this node, by presence status", ("status",)
        )
        self.updates = factory.counter(
            "updates_total", "presence:update broadcasts made by this node, by status", ("status",)
        )
        self.targeted = factory.counter(
            "targeted_total",
            "Presence changes of large organizations sent to subscribers and own devices only",
        )
        self.superseded = factory.counter(
            "superseded_total",
            "Presence changes never sent: a later change of the user in the same window",
        )
        self.subscriptions = factory.gauge(
            "subscriptions", "presence:subscribe subscriptions held by this node's sockets"
        )
        self.large_organizations = factory.gauge(
            "large_organizations",
            "Organizations this node last found above org_broadcast_limit online users",
        )

    def watch(self, statuses: Callable[[], Iterable[str]]) -> None:
        """Read the gauge at each scrape from `statuses()` (one status per local user)."""
        for status in STATUSES:
            self.users.labels(status=status).set_function(partial(_count, statuses, status))


def _count(statuses: Callable[[], Iterable[str]], wanted: str) -> int:
    return sum(1 for s in statuses() if s == wanted)

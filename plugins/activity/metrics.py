"""The activity plugin's metrics, all `lvng_activity_…` (made by `lvng_metrics`)."""

from __future__ import annotations

from core.api import PluginMetrics

# Item types with a label of their own; items posted over HTTP with any other type are
# counted as `custom`, so a client cannot grow the label set.
KNOWN_TYPES = frozenset(
    {
        "message.created",
        "conversation.member_joined",
        "swarm.session.completed",
        "swarm.session.failed",
    }
)


def type_label(item_type: str) -> str:
    return item_type if item_type in KNOWN_TYPES else "custom"


class ActivityMetrics:
    def __init__(self, factory: PluginMetrics) -> None:
        self.items = factory.counter(
            "items_total", "Feed items stored and sent to subscribers, by type", ("type",)
        )
        self.subscribers = factory.gauge(
            "subscribers", "Sockets on this node subscribed to a customer's feed"
        )
        self.dropped = factory.counter(
            "items_dropped_total",
            "Domain events not made into items: the customer is not the organization's",
            ("type",),
        )
        self.failed = factory.counter(
            "items_failed_total",
            "Domain events whose item could not be stored (logged), by type",
            ("type",),
        )

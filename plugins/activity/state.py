"""The plugin's runtime state, made once at start-up by `lvng_state`; typed, it is
`ctx.state_as(ActivityState)` in handlers and
`platform.state_of("activity", ActivityState)` in routes and hooks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from plugins.activity.customers import Customers
from plugins.activity.feed import Feed
from plugins.activity.sources import Sources

if TYPE_CHECKING:
    from core.api import Platform
    from plugins.activity.metrics import ActivityMetrics
    from plugins.activity.settings import ActivitySettings


class ActivityState:
    """The activity plugin of one platform: its services, sharing settings and metrics."""

    def __init__(
        self, platform: Platform, settings: ActivitySettings, metrics: ActivityMetrics
    ) -> None:
        self.settings = settings
        self.customers = Customers()
        self.feed = Feed(platform, settings, metrics, self.customers)
        self.sources = Sources(platform, self.feed, metrics, writers=settings.item_writers)

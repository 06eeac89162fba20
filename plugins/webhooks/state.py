"""The plugin's runtime state, made once at start-up by `lvng_state`; typed, it is
`platform.state_of("webhooks", WebhooksState)` in routes and hooks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from plugins.webhooks.courier import Courier
from plugins.webhooks.deliveries import Deliveries
from plugins.webhooks.outbox import Outbox

if TYPE_CHECKING:
    from core.api import Platform
    from plugins.webhooks.metrics import WebhooksMetrics
    from plugins.webhooks.settings import WebhooksSettings


class WebhooksState:
    """The webhooks plugin of one platform: the outbox, its courier, what admins see."""

    def __init__(
        self, platform: Platform, settings: WebhooksSettings, metrics: WebhooksMetrics
    ) -> None:
        self.settings = settings
        self.courier = Courier(platform, settings, metrics)
        self.outbox = Outbox(platform, settings, metrics, self.courier)
        self.deliveries = Deliveries(self.courier)

"""The plugin's runtime state, made once at start-up by `lvng_state`; typed, it is
`ctx.state_as(SwarmState)` in handlers and
`platform.state_of("swarm", SwarmState)` in routes and hooks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from plugins.swarm.publishing import Publishing
from plugins.swarm.sessions import Sessions
from plugins.swarm.subscriptions import Subscriptions

if TYPE_CHECKING:
    from core.api import Platform
    from plugins.swarm.metrics import SwarmMetrics
    from plugins.swarm.settings import SwarmSettings


class SwarmState:
    """The swarm plugin of one platform: its services, sharing settings and metrics."""

    def __init__(self, platform: Platform, settings: SwarmSettings, metrics: SwarmMetrics) -> None:
        self.settings = settings
        self.sessions = Sessions()
        self.publishing = Publishing(platform, settings, metrics, self.sessions)
        self.subscriptions = Subscriptions(platform, metrics, self.sessions)

"""The plugin's runtime state, made once at start-up by `lvng_state`; typed, it is
`ctx.state_as(CallsState)` in handlers and
`platform.state_of("calls", CallsState)` in routes and hooks."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from plugins.calls.calls import Calls
from plugins.calls.transcripts import Transcripts

if TYPE_CHECKING:
    from core.api import Platform
    from plugins.calls.metrics import CallsMetrics
    from plugins.calls.settings import CallsSettings


class CallsState:
    """The calls plugin of one platform: its services, sharing settings and metrics."""

    def __init__(self, platform: Platform, settings: CallsSettings, metrics: CallsMetrics) -> None:
        self.platform = platform
        self.settings = settings
        self.transcripts = Transcripts(platform, settings, metrics)
        self.calls = Calls(platform, metrics, self.transcripts)

    async def start(self) -> None:
        """At start: end calls no one is in any more, then keep the gauges fresh."""
        await self.calls.end_abandoned()
        self.platform.tasks.spawn(self._refresh_metrics(), name="calls metrics")

    async def _refresh_metrics(self) -> None:
        while True:
            await asyncio.sleep(self.settings.metrics_refresh_seconds)
            try:
                await self.calls.refresh_metrics()
            except Exception as exc:  # noqa: BLE001 - a database blip must not end the loop
                logging.getLogger("lvng.calls").warning("refreshing call metrics: %r", exc)

"""The plugin's runtime state, made once at start-up by `lvng_state`; typed, it is
`ctx.state_as(PresenceState)` in handlers and
`platform.state_of("presence", PresenceState)` in routes and hooks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from plugins.presence.listing import Listing
from plugins.presence.presence import Presence
from plugins.presence.subscriptions import Subscriptions

if TYPE_CHECKING:
    from core.api import Platform
    from plugins.presence.metrics import PresenceMetrics
    from plugins.presence.settings import PresenceSettings

# Activity is reported at least this often relative to away_after_seconds, so the first
# event after an idle spell is always reported at once (the gateway's throttle is shorter
# than any idle spell), and `away` comes within a quarter of the setting of the rule.
ACTIVITY_SHARE = 0.25


class PresenceState:
    """The presence plugin of one platform."""

    def __init__(
        self, platform: Platform, settings: PresenceSettings, metrics: PresenceMetrics
    ) -> None:
        self.settings = settings
        self.presence = Presence(platform, settings, metrics)
        self.listing = Listing(platform, self.presence.store, settings.offline_grace_seconds)
        self.subscriptions = Subscriptions(platform, self.listing, metrics)
        platform.want_activity(settings.away_after_seconds * ACTIVITY_SHARE)

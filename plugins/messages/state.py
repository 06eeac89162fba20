"""The plugin's runtime state, made once at start-up by `lvng_state`; typed, it is
`ctx.state_as(MessagesState)` in handlers and
`platform.state_of("messages", MessagesState)` in routes and hooks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from plugins.messages.channel_list import ChannelList
from plugins.messages.channels import Channels
from plugins.messages.conversations import Conversations
from plugins.messages.messages import Messages
from plugins.messages.typing_indicators import Typing

if TYPE_CHECKING:
    from core.api import Platform
    from plugins.messages.metrics import MessagesMetrics
    from plugins.messages.settings import MessagesSettings


class MessagesState:
    """The messages plugin of one platform: its services, sharing settings and metrics."""

    def __init__(
        self, platform: Platform, settings: MessagesSettings, metrics: MessagesMetrics
    ) -> None:
        self.settings = settings
        self.typing = Typing(platform, settings.typing_timeout_seconds)
        self.messages = Messages(platform, settings, metrics)
        self.lists = ChannelList(platform)
        self.messages.lists = self.lists
        self.channels = Channels(platform, settings, self.messages, self.typing, self.lists)
        self.conversations = Conversations(platform, self.messages, self.typing)

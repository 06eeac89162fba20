"""The plain data plugins and the core hand each other: a connected socket (`Session`), a
socket leaving a room without asking (`Member`), a domain event (`DomainEvent`).

Values only: this module imports nothing of the core but the leaf modules its fields are
typed with, so any module may use it without an import cycle (tests/test_architecture.py).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.clock import now_iso

if TYPE_CHECKING:
    from core.identity import Identity
    from core.ratelimit import SlidingWindow
    from core.rooms import Room


@dataclass(eq=False, slots=True)
class Session:
    """One connected socket: its identity, rooms, rate-limit window and expiry timer."""

    sid: str
    identity: Identity
    limiter: SlidingWindow
    rooms: set[Room] = field(default_factory=set)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    expiry: asyncio.TimerHandle | None = None
    connected_at: str = field(default_factory=now_iso)
    # Activity (loop time, `time.monotonic()`): stamped by the gateway for every event the
    # socket sends; `activity_told_at` is when `lvng_client_active` was last called for it.
    last_event_at: float = field(default_factory=time.monotonic)
    activity_told_at: float = float("-inf")
    # Recovery (core/recovery.py), when on: the private id of the CONNECT reply, and for
    # each room the offset from which its events are this socket's.
    pid: str | None = None
    since: dict[str, int] | None = None

    @property
    def user_id(self) -> str:
        return self.identity.user_id

    @property
    def organization_id(self) -> str:
        return self.identity.organization_id


@dataclass(frozen=True, slots=True)
class Member:
    """A socket leaving a room without asking (`lvng_client_left_room`): its id, user and
    organization. When its node died the socket is gone already and `sid` is history."""

    sid: str
    user_id: str
    user_name: str
    organization_id: str

    @classmethod
    def of(cls, session: Session) -> Member:
        return cls(
            session.sid, session.user_id, session.identity.user_name, session.organization_id
        )


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """Something that happened in one plugin that others may react to."""

    name: str  # e.g. "message.created"
    organization_id: str
    data: dict[str, Any]
    source: str  # the publishing plugin's name
    timestamp: str = field(default_factory=now_iso)
    # True when it was published with its cause's transaction and every derived writer
    # (core/derived.py) already stored its rows there: a consumer skips what it wrote.
    derived: bool = False

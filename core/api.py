"""The core's one public surface for plugin authors: import from here, nothing else.

    from core.api import EventContext, Room, hookimpl, ...

Everything a plugin needs is here: the hook marker, what handlers receive, who calls a
service (`Caller`), rooms, errors, validation (with `INT64_MAX` / `INT32_MAX`, the upper
bound of every integer field that reaches a BIGINT / INTEGER column), HTTP helpers, ids and
timestamps, pages under the size budget, metrics, the realtime kit (after-ack work, room
turns, keyed timers, deadlines a survivor adopts, cluster state, rows derived from domain
events in their cause's transaction: `Derivation`, `platform.derived`) and the owner registry of
customer ids (`platform.customers`, a `CustomerOwners`). Modules behind it may move; these
names stay.
"""

from __future__ import annotations

from core.asyncapi import Outbound, Timestamp
from core.caller import Caller
from core.clock import iso, iso_from_epoch, new_id, now_iso, now_utc
from core.cluster.state import ClusterState
from core.commits import BatchedThen
from core.customers.owners import CustomerOwners
from core.customers.reconcile import reconcile as reconcile_customer_owners
from core.data import DomainEvent, Member, Session
from core.database import store_unavailable
from core.deadlines import Deadlines
from core.derived import Derivation, DerivedWriters
from core.errors import ConfigError, ErrorCode, LvngError, not_yours
from core.hookspecs import hookimpl
from core.http import authenticate, parse_body, platform_of
from core.identity import ID_PATTERN, Identity, is_valid_id
from core.metrics import PluginMetrics
from core.pages import MAX_PAGE_JSON, json_size, within_budget
from core.platform import EventContext, Platform
from core.registry import DomainEventRegistrar, EventRegistrar
from core.rooms import Joined, Left, Room
from core.tasks import Tasks, Timers
from core.turns import AfterAck, RoomTurn
from core.validation import require_id, validate_object
from core.wire import INT32_MAX, INT64_MAX

__all__ = [
    "ID_PATTERN",
    "INT32_MAX",
    "INT64_MAX",
    "MAX_PAGE_JSON",
    "Outbound",
    "Timestamp",
    "AfterAck",
    "BatchedThen",
    "Caller",
    "ClusterState",
    "ConfigError",
    "CustomerOwners",
    "Deadlines",
    "Derivation",
    "DerivedWriters",
    "DomainEvent",
    "DomainEventRegistrar",
    "ErrorCode",
    "EventContext",
    "EventRegistrar",
    "Identity",
    "Joined",
    "Left",
    "LvngError",
    "Member",
    "Platform",
    "PluginMetrics",
    "Room",
    "RoomTurn",
    "Session",
    "Tasks",
    "Timers",
    "authenticate",
    "hookimpl",
    "is_valid_id",
    "iso",
    "iso_from_epoch",
    "json_size",
    "new_id",
    "not_yours",
    "now_iso",
    "now_utc",
    "parse_body",
    "platform_of",
    "reconcile_customer_owners",
    "require_id",
    "store_unavailable",
    "validate_object",
    "within_budget",
]

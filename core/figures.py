"""Running counts of this node's events, deliveries and errors, per organization and in all,
for the inspection page's charts (`/admin`).

The page samples them every few seconds and draws the rates itself; Prometheus has its own
counters (`/metrics`), which are node-wide and labelled by event, not by organization. An
organization's admin sees its own figures only; the node's need the `operator` role.

A delivery is one event handed to one socket of this node (a room emit to 500 sockets is
500). Counts only grow, as Prometheus counters do, so a sampler takes differences.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.data import Session


@dataclass(slots=True)
class Figures:
    """Counts since this node started: events received, deliveries, failed events."""

    events: int = 0
    deliveries: int = 0
    errors: int = 0

    def as_dict(self, connections: int) -> dict[str, int]:
        return {
            "connections": connections,
            "events": self.events,
            "deliveries": self.deliveries,
            "errors": self.errors,
        }


class FigureBook:
    """This node's figures in all (`node`) and per organization (`of(org)`)."""

    def __init__(self, sessions: Mapping[str, Session]) -> None:
        self._sessions = sessions  # sid → Session: whose socket a delivery went to
        self.node = Figures()
        self._organizations: dict[str, Figures] = {}

    def of(self, organization_id: str) -> Figures:
        figures = self._organizations.get(organization_id)
        if figures is None:
            figures = self._organizations[organization_id] = Figures()
        return figures

    def event(self, organization_id: str) -> None:
        """A socket of the organization sent an event (any: refused ones too)."""
        self.node.events += 1
        self.of(organization_id).events += 1

    def error(self, organization_id: str) -> None:
        """An event of a socket of the organization failed."""
        self.node.errors += 1
        self.of(organization_id).errors += 1

    def delivered(self, target: str, count: int) -> None:
        """`count` sockets of this node were sent one emit to `target`: a room's key
        (`{organizationId}/{scope}`) or a socket's id (no `/` in either sort of id)."""
        if not count:
            return
        self.node.deliveries += count
        organization_id, slash, _ = target.partition("/")
        if not slash:
            session = self._sessions.get(target)
            if session is None:
                return
            organization_id = session.organization_id
        self.of(organization_id).deliveries += count

    def connections(self, organization_id: str | None = None) -> int:
        """This node's sockets, of one organization or in all."""
        if organization_id is None:
            return len(self._sessions)
        return sum(1 for s in self._sessions.values() if s.organization_id == organization_id)

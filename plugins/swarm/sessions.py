"""Sessions: who owns a session id, its status, and pages of its updates.

A session id belongs to the organization of its first publish (contract section 4).
Before that it is `pending`: anyone may subscribe to it or read it (an empty page), and
nothing is created by doing so. Another organization's id is refused with the same words
as any owned id (`not_yours`), saying nothing of the owner.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.api import Room, not_yours, within_budget
from plugins.swarm import payloads
from plugins.swarm.models import SwarmSession, SwarmUpdate

if TYPE_CHECKING:
    from core.api import Identity

PENDING, RUNNING, COMPLETED, FAILED = "pending", "running", "completed", "failed"
TERMINAL = frozenset({COMPLETED, FAILED})

# The session's status after an event of each type (contract section 8).
STATUS_AFTER = {
    "session.started": RUNNING,
    "step.started": RUNNING,
    "step.completed": RUNNING,
    "step.failed": RUNNING,
    "session.completed": COMPLETED,
    "session.failed": FAILED,
}
# An update's own `status` when the agent gives none.
DEFAULT_STATUS = {
    "session.started": "running",
    "step.started": "running",
    "step.completed": "completed",
    "step.failed": "failed",
    "session.completed": "completed",
    "session.failed": "failed",
}


def room_of(organization_id: str, session_id: str) -> Room:
    """The session's room, `swarm:{sessionId}`, of the organization that uses it."""
    return Room.of(organization_id, "swarm", session_id)


class Sessions:
    """Ownership and reading; shared by publishing, subscriptions and the routes."""

    async def owned(self, identity: Identity, session_id: str) -> SwarmSession | None:
        """The session if the caller's organization owns it, None if no one does yet;
        FORBIDDEN when another organization does."""
        session = await SwarmSession.get_or_none(session_id=session_id)
        if session is not None and session.organization_id != identity.organization_id:
            raise not_yours("swarm session", session_id)
        return session

    async def page(
        self, identity: Identity, session_id: str, *, after_seq: int, limit: int
    ) -> dict[str, Any]:
        """`{sessionId, status, updates, hasMore}`: at most `limit` updates after
        `after_seq`, oldest first, under 1 MB of JSON (`hasMore` when more follow)."""
        session = await self.owned(identity, session_id)
        if session is None:
            return payloads.state(session_id, PENDING, [], False)
        rows = (
            await SwarmUpdate.filter(
                session_id=session_id, organization_id=session.organization_id, seq__gt=after_seq
            )
            .order_by("seq")
            .limit(limit + 1)
        )
        described = [payloads.update(row) for row in rows[:limit]]
        kept = within_budget(described, keep_newest=False)
        return payloads.state(
            session_id, session.status, kept, len(rows) > limit or len(kept) < len(described)
        )

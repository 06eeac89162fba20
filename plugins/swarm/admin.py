"""The swarm plugin's section of the inspection page (`lvng_admin_snapshot`): one
organization's latest sessions, with their status and subscribers."""

from __future__ import annotations

from typing import Any

from core.api import Platform, iso
from plugins.swarm.models import SwarmSession
from plugins.swarm.sessions import room_of

MAX_SESSIONS = 50


async def snapshot(platform: Platform, organization_id: str) -> dict[str, Any]:
    rows = (
        await SwarmSession.filter(organization_id=organization_id)
        .order_by("-updated_at")
        .limit(MAX_SESSIONS)
    )
    sessions = []
    for row in rows:
        subscribers = await platform.rooms.users(room_of(organization_id, row.session_id))
        sessions.append(
            {
                "sessionId": row.session_id,
                "status": row.status,
                "lastSeq": row.last_seq,
                "createdBy": row.created_by,
                "updatedAt": iso(row.updated_at),
                "subscribers": sorted(subscribers),
            }
        )
    return {"sessions": sessions}

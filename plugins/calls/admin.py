"""The calls plugin's section of the inspection page (`lvng_admin_snapshot`): the calls
in progress of one organization, with who is in each."""

from __future__ import annotations

from typing import Any

from core.api import iso
from plugins.calls.models import Call, Participant

MAX_CALLS = 100


async def snapshot(organization_id: str) -> dict[str, Any]:
    calls = (
        await Call.filter(organization_id=organization_id, ended_at__isnull=True)
        .order_by("-started_at")
        .limit(MAX_CALLS)
    )
    present = await Participant.filter(
        call_id__in=[c.call_id for c in calls], left_at__isnull=True
    ).order_by("joined_at")
    by_call: dict[str, list[dict[str, Any]]] = {}
    for row in present:
        by_call.setdefault(row.call_id, []).append(
            {"userId": row.user_id, "userName": row.user_name, "joinedAt": iso(row.joined_at)}
        )
    return {
        "calls": [
            {
                "roomName": c.room_name,
                "callId": c.call_id,
                "startedAt": iso(c.started_at),
                "segments": c.segments,
                "participants": by_call.get(c.call_id, []),
            }
            for c in calls
        ]
    }

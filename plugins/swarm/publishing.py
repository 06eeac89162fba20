"""Publishing: agents report progress (contract section 8).

One publish, under the session room's turn (a cross-node lock with Redis):

1. claim the session id for the publisher's organization if no one has it;
2. in one transaction, lock the session row (`SELECT … FOR UPDATE`), answer a repeated
   `eventId` with its first update, refuse anything after a terminal event (CONFLICT),
   store the update with `seq = last_seq + 1` and move the session's status;
3. once committed, queue `swarm:update` to the room, still in the turn, so subscribers
   hear updates in seq order and a subscribe's snapshot never overlaps the live stream;
4. after that, a `swarm.{type}` domain event when the data names a customer.

The row lock alone makes seqs gap-free and unique on any number of processes; the turn
adds the broadcast order.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError

from core.api import ErrorCode, LvngError, json_size, not_yours, now_utc
from plugins.swarm import domain_events, payloads
from plugins.swarm.models import SwarmSession, SwarmUpdate
from plugins.swarm.sessions import (
    DEFAULT_STATUS,
    PENDING,
    STATUS_AFTER,
    TERMINAL,
    Sessions,
    room_of,
)

if TYPE_CHECKING:
    from core.api import AfterAck, Identity, Platform
    from plugins.swarm.metrics import SwarmMetrics
    from plugins.swarm.schemas import PublishEvent
    from plugins.swarm.settings import SwarmSettings


class Publishing:
    """The publishing rules of one platform."""

    def __init__(
        self, platform: Platform, settings: SwarmSettings, metrics: SwarmMetrics, sessions: Sessions
    ) -> None:
        self.platform = platform
        self.settings = settings
        self.metrics = metrics
        self.sessions = sessions

    @staticmethod
    def require_service(identity: Identity) -> None:
        """Only `service` tokens publish (contract section 8)."""
        if not identity.is_service:
            raise LvngError(
                ErrorCode.FORBIDDEN, "publishing to a swarm session needs a service token"
            )

    def check(self, identity: Identity, body: PublishEvent) -> None:
        """What needs no database: a service token, and an event of a sane size."""
        self.require_service(identity)
        size = json_size({"output": body.output, "data": body.data})
        if size > self.settings.max_event_bytes:
            raise LvngError(
                ErrorCode.PAYLOAD_TOO_LARGE,
                f"an event's output and data are {size} bytes of JSON; at most "
                f"{self.settings.max_event_bytes} are allowed",
            )

    async def publish(
        self, identity: Identity, session_id: str, body: PublishEvent, after: AfterAck
    ) -> tuple[SwarmUpdate, bool]:
        """Store and tell one event; returns the update and whether it repeated an
        eventId (then nothing is stored and no one is told)."""
        self.check(identity, body)
        await self.sessions.owned(identity, session_id)  # fail fast; checked again below
        room = room_of(identity.organization_id, session_id)
        async with self.platform.turn(room, after) as turn:
            started = time.perf_counter()
            try:
                async with turn.transaction() as connection:
                    row, duplicate, status, claimed = await self._store(
                        connection, identity, session_id, body
                    )
            except IntegrityError:
                # Another organization claimed the id between our look and our insert.
                await self.sessions.owned(identity, session_id)
                raise
            if duplicate:
                self.metrics.duplicates.inc()
                return row, True
            self.metrics.publish_seconds.observe(time.perf_counter() - started)
            described = payloads.update(row)
            after.emit("swarm:update", described, room=room)  # committed: now tell
        self._count(row.type, status, claimed)
        customer_id = body.customer_id
        if customer_id is not None:
            event = payloads.domain_event(
                described, status, customer_id, identity.user_id, identity.user_name
            )
            after.then(
                lambda: self.platform.publish(
                    "swarm", domain_events.name_of(row.type), identity.organization_id, event
                )
            )
        return row, False

    async def _store(
        self, connection: BaseDBAsyncClient, identity: Identity, session_id: str, body: PublishEvent
    ) -> tuple[SwarmUpdate, bool, str, bool]:
        """Inside the transaction: (update, duplicate, session status after, claimed)."""
        moment = now_utc()
        session = (
            await SwarmSession.filter(session_id=session_id)
            .using_db(connection)
            .select_for_update()
            .first()
        )
        claimed = session is None
        if session is None:
            session = await SwarmSession.create(
                using_db=connection,
                session_id=session_id,
                organization_id=identity.organization_id,
                status=PENDING,
                last_seq=0,
                created_by=identity.user_id,
                created_at=moment,
                updated_at=moment,
            )
        elif session.organization_id != identity.organization_id:
            raise not_yours("swarm session", session_id)
        if body.eventId is not None:
            earlier = (
                await SwarmUpdate.filter(session_id=session_id, event_id=body.eventId)
                .using_db(connection)
                .first()
            )
            if earlier is not None:
                return earlier, True, session.status, False
        if session.status in TERMINAL:
            self.metrics.refused.inc()
            raise LvngError(
                ErrorCode.CONFLICT,
                f"swarm session {session_id} has {session.status}; it takes no more events",
            )
        seq = session.last_seq + 1
        row = await SwarmUpdate.create(
            using_db=connection,
            session_id=session_id,
            organization_id=identity.organization_id,
            seq=seq,
            event_id=body.eventId,
            type=body.type,
            agent=body.agent,
            step_id=body.stepId,
            title=body.title,
            status=body.status if body.status is not None else DEFAULT_STATUS[body.type],
            output=None if body.output is None else json.dumps(body.output, ensure_ascii=False),
            data=body.data,
            published_by=identity.user_id,
            published_by_name=identity.user_name,
            created_at=moment,
        )
        was = session.status
        session.last_seq, session.status = seq, STATUS_AFTER[body.type]
        session.updated_at = moment
        await session.save(using_db=connection, update_fields=["last_seq", "status", "updated_at"])
        return row, False, session.status, claimed or was != session.status

    def _count(self, event_type: str, status: str, changed: bool) -> None:
        self.metrics.updates.labels(type=event_type).inc()
        if changed:
            self.metrics.sessions.labels(status=status).inc()

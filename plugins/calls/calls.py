"""Calls: who is in a call room, and when a call starts and ends.

A call room is `call:{roomName}` of one organization (`Room.of(org, "call", roomName)`):
two organizations using one roomName have two rooms and two calls. Participants are
users, not sockets: a user's first socket in the room (on any node) joins the call and
its last one leaves it (`Joined.first`, `Left.last`, asked of the cluster state). A call
starts with its first participant and ends when the last one is gone; both are decided
and written under the room's turn, so two nodes never start two calls of one room, and
every socket hears the room in the order it changed.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from core.api import MAX_PAGE_JSON, Room, json_size, new_id
from plugins.calls import payloads
from plugins.calls.models import Call, Participant, Segment
from plugins.calls.rooms import call_room, room_name_of

if TYPE_CHECKING:
    from core.api import AfterAck, Caller, Member, Platform, RoomTurn, Session
    from plugins.calls.metrics import CallsMetrics
    from plugins.calls.transcripts import Transcripts

log = logging.getLogger("lvng.calls")

PLUGIN = "calls"


def now() -> datetime:
    return datetime.now(UTC)


def told_reason(reason: str) -> str:
    """`call:participant_left`'s reason for a socket that left without asking: a client
    that went, or whose node died, `disconnected`; anything else (a refresh that took
    the room away) `left`."""
    return "disconnected" if reason in ("disconnected", "node_lost") else "left"


class Calls:
    """The call rules of one platform."""

    def __init__(self, platform: Platform, metrics: CallsMetrics, transcripts: Transcripts) -> None:
        self.platform = platform
        self.metrics = metrics
        self.transcripts = transcripts

    async def publish(self, name: str, organization_id: str, data: dict[str, Any]) -> None:
        await self.platform.publish(PLUGIN, name, organization_id, data)

    @staticmethod
    async def in_progress(organization_id: str, room_name: str) -> Call | None:
        """The room's call in progress, if any."""
        return await Call.filter(
            organization_id=organization_id, room_name=room_name, ended_at__isnull=True
        ).first()

    async def participants(self, room: Room, call: Call) -> list[dict[str, Any]]:
        """`[{userId, userName, joinedAt}]`: the users in the room on any node, with when
        they joined this call; earliest first."""
        users = await self.platform.rooms.users(room)
        rows = {
            p.user_id: p
            for p in await Participant.filter(call_id=call.call_id, left_at__isnull=True)
        }
        found = []
        for user_id, user_name in users.items():
            row = rows.get(user_id)
            joined_at = row.joined_at if row is not None else call.started_at
            found.append((joined_at, user_id, payloads.participant(user_id, user_name, joined_at)))
        return [entry for _, _, entry in sorted(found, key=lambda f: (f[0], f[1]))]

    # --- joining -----------------------------------------------------------------------

    async def join(self, caller: Caller, room_name: str) -> dict[str, Any]:
        """Ack `{roomName, callId, participants}`; then `call:joined` to the socket and,
        for the user's first socket, `call:participant_joined` to the others."""
        room = call_room(caller.identity.organization_id, room_name)
        after = caller.after
        user_id, user_name = caller.identity.user_id, caller.identity.user_name
        async with self.platform.turn(room, caller.after) as turn:
            joined = await self.platform.rooms.join(caller.socket, room)
            try:
                call, started = await self._enter(
                    turn, room, room_name, user_id, user_name, first=joined.first
                )
            except BaseException:
                if joined:  # nothing was written: the socket is not in the call either
                    await self.platform.rooms.leave(caller.socket, room)
                raise
            participants = await self.participants(room, call)
            joined_payload = payloads.joined(call, participants, [], False)
            transcript, more = await self.transcripts.for_joiner(
                call, budget=MAX_PAGE_JSON - json_size(joined_payload)
            )
            joined_payload.update(transcript=transcript, transcriptHasMore=more)
            after.emit("call:joined", joined_payload, to=caller.sid)
            if joined.first:
                after.emit(
                    "call:participant_joined",
                    payloads.participant_joined(room_name, call.call_id, user_id, user_name),
                    room=room,
                    skip_sid=caller.sid,
                )
        org = room.organization_id
        if started:
            data = payloads.call_event(call, user_id, user_name)
            after.then(lambda: self.publish("call.started", org, data))
        if joined.first:
            data = payloads.call_event(call, user_id, user_name)
            after.then(lambda: self.publish("call.participant_joined", org, data))
        return payloads.joined_ack(call, participants)

    async def _enter(
        self,
        turn: RoomTurn,
        room: Room,
        room_name: str,
        user_id: str,
        user_name: str,
        *,
        first: bool,
    ) -> tuple[Call, bool]:
        """The call the user is in now, started if there was none (the room's turn held);
        True when it started here."""
        org = room.organization_id
        call = await self.in_progress(org, room_name)
        moment = now()
        if call is not None and first and set(await self.platform.rooms.users(room)) == {user_id}:
            # No one else is in the room on any node: that call's participants vanished
            # (every node serving them crashed). It ended; this join starts a new one.
            log.warning("call %s of %s had no one left in it; ending it", call.call_id, room.key)
            await self._end(call, await self._last_activity(call), "disconnected")
            call = None
        started = call is None
        async with turn.transaction() as connection:
            if call is None:
                call = await Call.create(
                    using_db=connection,
                    call_id=new_id("call"),
                    organization_id=org,
                    room_name=room_name,
                    started_by=user_id,
                    started_at=moment,
                )
            row = (
                await Participant.filter(call_id=call.call_id, user_id=user_id)
                .using_db(connection)
                .first()
            )
            entered = row is None or row.left_at is not None
            if row is None:
                await Participant.create(
                    using_db=connection,
                    call_id=call.call_id,
                    user_id=user_id,
                    user_name=user_name,
                    joined_at=moment,
                )
            elif first or entered:  # back in the call: a new stint
                row.user_name, row.joined_at, row.left_at, row.left_reason = (
                    user_name,
                    moment,
                    None,
                    None,
                )
                await row.save(using_db=connection)
        if started:
            self.metrics.started.inc()
            self.metrics.active.inc()
        if entered:
            self.metrics.participants.inc()
        return call, started

    async def came_back(self, session: Session, room: Room) -> None:
        """A recovered socket (contract section 12), its user's first in the call room
        again: back in the call in progress as the same participant (a new stint of its
        row), told as a join: `call:joined` to it, `call:participant_joined` to the
        others. A call that ended meanwhile is not started again."""
        room_name = room_name_of(room)
        if room_name is None:
            return
        after = self.platform.after_ack()
        org, user_id, user_name = room.organization_id, session.user_id, session.identity.user_name
        async with self.platform.turn(room, after) as turn:
            if await self.in_progress(org, room_name) is not None:
                call, _ = await self._enter(turn, room, room_name, user_id, user_name, first=True)
                participants = await self.participants(room, call)
                joined_payload = payloads.joined(call, participants, [], False)
                transcript, more = await self.transcripts.for_joiner(
                    call, budget=MAX_PAGE_JSON - json_size(joined_payload)
                )
                joined_payload.update(transcript=transcript, transcriptHasMore=more)
                after.emit("call:joined", joined_payload, to=session.sid)
                after.emit(
                    "call:participant_joined",
                    payloads.participant_joined(room_name, call.call_id, user_id, user_name),
                    room=room,
                    skip_sid=session.sid,
                )
                data = payloads.call_event(call, user_id, user_name)
                after.then(lambda: self.publish("call.participant_joined", org, data))
        await after.run()

    # --- leaving -----------------------------------------------------------------------

    async def leave(self, caller: Caller, room_name: str) -> dict[str, Any]:
        """Ack `{roomName, callId, left, callEnded}`; `call:participant_left` (reason
        `left`) to the others when it was the user's last socket in the call."""
        room = call_room(caller.identity.organization_id, room_name)
        async with self.platform.turn(room, caller.after):
            if room not in caller.socket.rooms:
                return {"roomName": room_name, "callId": None, "left": False, "callEnded": False}
            left = await self.platform.rooms.leave(caller.socket, room)
            if left.last:
                call, ended = await self._depart(
                    room, caller.identity.user_id, caller.identity.user_name, "left", caller.after
                )
            else:
                call, ended = await self.in_progress(room.organization_id, room_name), False
        return {
            "roomName": room_name,
            "callId": call.call_id if call else None,
            "left": True,
            "callEnded": ended,
        }

    async def left_room(self, room: Room, member: Member, last: bool, reason: str) -> None:
        """A socket left a call room without asking (`lvng_client_left_room`; the core
        holds the room's turn): its user's last socket leaves the call, reason
        `disconnected` (also for a dead node's users, `node_lost`), else `left`. A socket an
        admin removed (`removed`) also hears its own `call:participant_left`, reason
        `removed`."""
        room_name = room_name_of(room)
        if room_name is None or not (last or reason == "removed"):
            return
        after = self.platform.after_ack()
        if last:
            call, _ = await self._depart(
                room, member.user_id, member.user_name, told_reason(reason), after
            )
        else:
            call = await self.in_progress(room.organization_id, room_name)
        if reason == "removed":  # an admin took the user out: its sockets hear it too
            after.emit(
                "call:participant_left",
                payloads.participant_left(
                    room_name,
                    call.call_id if call is not None else None,
                    member.user_id,
                    member.user_name,
                    "removed",
                ),
                to=member.sid,
            )
        await after.run()

    async def _depart(
        self, room: Room, user_id: str, user_name: str, reason: str, after: AfterAck
    ) -> tuple[Call | None, bool]:
        """The user's last socket left the room (its turn held): tell the others, and
        end the call when no one is left in it on any node. The call and whether it
        ended."""
        room_name = room_name_of(room) or ""
        org = room.organization_id
        call = await self.in_progress(org, room_name)
        moment = now()
        ended = False
        if call is not None:
            gone = await Participant.filter(
                call_id=call.call_id, user_id=user_id, left_at__isnull=True
            ).update(left_at=moment, left_reason=reason)
            self.metrics.participants.dec(gone)
            if not await self.platform.rooms.users(room):
                await self._end(call, moment, reason)
                ended = True
        call_id = call.call_id if call is not None else None
        after.emit(
            "call:participant_left",
            payloads.participant_left(room_name, call_id, user_id, user_name, reason),
            room=room,
        )
        if call is not None:
            left = {
                "roomName": room_name,
                "callId": call.call_id,
                "userId": user_id,
                "userName": user_name,
                "reason": reason,
            }
            after.then(lambda: self.publish("call.participant_left", org, left))
        if ended:
            assert call is not None
            data = payloads.call_ended_event(call, user_id, user_name)
            after.then(lambda: self.publish("call.ended", org, data))
        return call, ended

    async def _end(self, call: Call, moment: datetime, reason: str) -> None:
        """End the call (its room's turn held): no participant is left in it."""
        call.ended_at = moment
        if await Call.filter(id=call.id, ended_at__isnull=True).update(ended_at=moment):
            self.metrics.ended.inc()
            self.metrics.active.dec()
        self.metrics.participants.dec(
            await Participant.filter(call_id=call.call_id, left_at__isnull=True).update(
                left_at=moment, left_reason=reason
            )
        )

    @staticmethod
    async def _last_activity(call: Call) -> datetime:
        """When anything last happened in a call: a join, a leave or a final segment."""
        moments = [call.started_at]
        for row in await Participant.filter(call_id=call.call_id):
            moments += [m for m in (row.joined_at, row.left_at) if m is not None]
        last = await Segment.filter(call_id=call.call_id).order_by("-sequence").first()
        if last is not None:
            moments.append(last.created_at)
        return max(moments)

    # --- housekeeping ------------------------------------------------------------------

    async def end_abandoned(self) -> int:
        """End every call in progress whose room has no one in it on any node (left
        behind when every node serving it crashed). Run at start; each room's turn is
        held, so a call being joined right now is never ended."""
        ended = 0
        for call in await Call.filter(ended_at__isnull=True).order_by("id"):
            room = call_room(call.organization_id, call.room_name)
            after = self.platform.after_ack()
            async with self.platform.turn(room, after):
                fresh = await Call.filter(id=call.id, ended_at__isnull=True).first()
                if fresh is None or await self.platform.rooms.users(room):
                    continue
                await self._end(fresh, await self._last_activity(fresh), "disconnected")
                data = payloads.call_ended_event(fresh)
                org = room.organization_id
                after.then(partial(self.publish, "call.ended", org, data))
                ended += 1
            await after.run()
        if ended:
            log.warning("ended %d call(s) that no one was in any more", ended)
        await self.refresh_metrics()
        return ended

    async def refresh_metrics(self) -> None:
        """Set the gauges to the whole cluster's numbers, from the database (at start and
        every `metrics_refresh_seconds`; between, this node moves them by what it does)."""
        self.metrics.active.set(await Call.filter(ended_at__isnull=True).count())
        self.metrics.participants.set(await Participant.filter(left_at__isnull=True).count())

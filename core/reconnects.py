"""The gateway's side of recovery (core/recovery.py): a dropped socket is saved, a claimed
one gets its rights checked again and its rooms back.

- `save`: a socket that dropped (core.recovery.RECOVERABLE) is kept under its pid with
  its rooms, before the gateway leaves them.
- `check`: the saved session must be the verified token's user (else the handshake is
  refused, as any forged id would be).
- `restore`: each saved room is authorized again (the core's rules and every plugin's
  `lvng_authorize_join`); those that pass are joined without entering the Socket.IO room
  (`finish` does, once the missed events are out); the others are neither set back nor
  replayed. Plugins hear of it through `lvng_client_recovered` once `connected` is out.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from core.errors import ErrorCode, LvngError
from core.recovery import RECOVERABLE, Recovery, Saved, floors, new_pid
from core.rooms import Room

if TYPE_CHECKING:
    from core.data import Session
    from core.identity import Identity
    from core.platform import Platform

log = logging.getLogger("lvng.recovery")

ALWAYS = ("org", "user")  # joined by every handshake, without a check


class Reconnects:
    def __init__(self, platform: Platform, recovery: Recovery | None) -> None:
        self.platform = platform
        self.recovery = recovery if recovery is not None and recovery.enabled else None

    def claimed(self, sid: str, identity: Identity) -> Saved | None:
        """The saved session socket `sid` claimed, if any; raises FORBIDDEN when it is
        another user's."""
        if self.recovery is None:
            return None
        saved = self.recovery.pending.get(sid)
        if saved is None:
            return None
        if (saved.organization_id, saved.user_id) != (
            identity.organization_id,
            identity.user_id,
        ):
            raise LvngError(ErrorCode.FORBIDDEN, "that session is another user's")
        return saved

    def start(self, session: Session, saved: Saved | None) -> None:
        """Give the new socket its pid (the recovered one's, or a new one)."""
        if self.recovery is None:
            return
        session.pid = saved.pid if saved is not None else new_pid()
        self.recovery.pids[session.sid] = session.pid
        self.recovery.live[session.pid] = session.sid

    async def restore(self, session: Session, saved: Saved) -> list[Room]:
        """Join the saved rooms the user may still join; plan their replay. Returns those
        where the user had no other socket (`lvng_client_recovered`'s `rooms`)."""
        assert self.recovery is not None
        rooms = self.platform.rooms
        restored: list[Room] = []  # the user's first socket there again
        for key in saved.rooms:
            room = Room.from_key(key)
            if room.kind in ALWAYS or room.organization_id != session.organization_id:
                continue
            if not await rooms.may_join(session.identity, room):
                log.info("recovery of %s: %s not set back (no longer allowed)", session.sid, key)
                continue
            joined = await rooms.join(session, room, authorize=False, enter=False)
            if joined.first:
                restored.append(room)
        # Each room replays from the offset it was the socket's (the old session's).
        since = floors([r.key for r in session.rooms], saved.rooms, self.recovery.seq)
        session.since = dict(since)
        self.recovery.plan(session.sid, since)
        if session.pid is not None:  # with Redis, the floors a later recovery starts from
            await self.recovery.keep(
                session.pid, session.sid, session.organization_id, session.user_id, since, since
            )
        return restored

    def refuse(self, sid: str) -> None:
        if self.recovery is not None:
            self.recovery.refuse(sid)
            pid = self.recovery.pids.pop(sid, None)
            if pid is not None and self.recovery.live.get(pid) == sid:
                self.recovery.ended(pid)

    def save(self, session: Session, reason: Any) -> None:
        """Keep a dropped socket for a reconnect; a socket gone for good loses its log."""
        recovery = self.recovery
        if recovery is None or session.pid is None:
            return
        recovery.ended(session.pid)
        saved = str(reason) in RECOVERABLE
        if saved:
            since = floors([r.key for r in session.rooms], session.since, recovery.seq)
            recovery.save(session.sid, session.pid, session.organization_id, session.user_id, since)
        else:
            recovery.drop_socket_log(session.sid)
        if recovery.store is not None:  # on any node: kept a window, or gone
            store = recovery.store
            store.spawn(session.pid, store.let_go(session.pid, session.sid, saved))

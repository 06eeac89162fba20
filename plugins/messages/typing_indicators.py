"""Typing indicators, right on several nodes.

Who is typing where is a cluster key per (room, user) holding a token of the `typing:start`
that set it; the node that took the start also keeps a timer. Whoever removes the key
tells the room `typing:stop`: any device of the user on any node (`typing:stop`), the
socket leaving or going, or the timer after `typing_timeout_seconds` (a compare-and-delete
on its own token, so a newer start or an explicit stop wins and the room hears one stop).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from plugins.messages import payloads

if TYPE_CHECKING:
    from core.api import AfterAck, Caller, Platform
    from plugins.messages.target import Target


@dataclass(frozen=True, slots=True)
class _Typist:
    key: str
    token: str
    target: Target
    user_id: str
    user_name: str


class Typing:
    def __init__(self, platform: Platform, timeout: float) -> None:
        self.platform = platform
        self.timeout = timeout
        self._by_socket: dict[str, dict[str, _Typist]] = {}  # this node's starts

    @staticmethod
    def _key(target: Target, user_id: str) -> str:
        return f"messages/typing/{target.room.key}/{user_id}"

    async def start(self, caller: Caller, target: Target) -> None:
        sid = caller.sid or ""
        key = self._key(target, caller.user_id)
        typist = _Typist(key, f"{sid}/{uuid.uuid4().hex}", target, caller.user_id, caller.user_name)
        # The key outlives the timer a little, so a stop racing the timer still finds it.
        await self.platform.cluster.put(key, typist.token, ttl=self.timeout + 5)
        self._by_socket.setdefault(sid, {})[key] = typist
        self.platform.timers.schedule(key, self.timeout, lambda: self._expire(sid, typist))
        caller.after.emit(
            "typing:start",
            payloads.typing(target, caller.user_id, caller.user_name),
            room=target.room,
            skip_sid=sid,
        )

    async def stop(self, caller: Caller, target: Target) -> bool:
        """End the user's typing in the room, whichever device started it; False if it
        was not typing there."""
        key = self._key(target, caller.user_id)
        self.platform.timers.cancel(key)
        self._by_socket.get(caller.sid or "", {}).pop(key, None)
        if not await self.platform.cluster.delete(key):
            return False
        caller.after.emit(
            "typing:stop",
            payloads.typing(target, caller.user_id, caller.user_name),
            room=target.room,
            skip_sid=caller.sid,
        )
        return True

    async def _expire(self, sid: str, typist: _Typist) -> None:
        self._forget(sid, typist)
        if await self.platform.cluster.delete(typist.key, only_if=typist.token):
            await self.platform.emit(
                "typing:stop",
                payloads.typing(typist.target, typist.user_id, typist.user_name, "timeout"),
                room=typist.target.room,
                skip_sid=sid,
            )

    def _forget(self, sid: str, typist: _Typist) -> None:
        mine = self._by_socket.get(sid)
        if mine is not None and mine.get(typist.key) is typist:
            del mine[typist.key]
            if not mine:
                del self._by_socket[sid]

    async def socket_left(self, sid: str, target: Target | None, after: AfterAck) -> None:
        """Stop what this socket started typing (in `target` only, when given)."""
        for typist in list(self._by_socket.get(sid, {}).values()):
            if target is not None and typist.target != target:
                continue
            self._forget(sid, typist)
            if await self.platform.cluster.delete(typist.key, only_if=typist.token):
                self.platform.timers.cancel(typist.key)  # still ours: no newer start
                after.emit(
                    "typing:stop",
                    payloads.typing(typist.target, typist.user_id, typist.user_name, "left"),
                    room=typist.target.room,
                    skip_sid=sid,
                )

"""Typing indicators, right on several nodes.

Who is typing where is a cluster key per (room, user) holding a token of the `typing:start`
that set it; the node that took the start also keeps a timer. Whoever removes the key
tells the room `typing:stop`: any device of the user on any node (`typing:stop`), the
socket leaving or going, or the timer after `typing_timeout_seconds` (a compare-and-delete
on its own token, so a newer start or an explicit stop wins and the room hears one stop).
The timer is a deadline (`platform.deadlines`): if that node dies, a survivor adopts it
and says `typing:stop` (`timeout`) when it is due.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.api import Room
from plugins.messages import payloads
from plugins.messages.target import Target

if TYPE_CHECKING:
    from core.api import AfterAck, Caller, Platform

EXPIRY = "messages.typing"  # the kind of a typist's deadline (core.deadlines)


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
        platform.deadlines.handle(EXPIRY, self._due)

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
        await self.platform.deadlines.schedule(
            EXPIRY,
            key,
            self.timeout,
            {
                "sid": sid,
                "key": key,
                "token": typist.token,
                "room": target.room.key,
                "user": caller.user_id,
                "name": caller.user_name,
            },
        )
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
        await self.platform.deadlines.cancel(EXPIRY, key)
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

    async def _due(self, args: dict[str, Any]) -> None:
        """A typist's deadline, on the node that took the start or a survivor."""
        sid = args["sid"]
        typist = self._by_socket.get(sid, {}).get(args["key"])
        if typist is None or typist.token != args["token"]:
            target = Target.from_room(Room.from_key(args["room"]))
            if target is None:
                return
            typist = _Typist(args["key"], args["token"], target, args["user"], args["name"])
        await self._expire(sid, typist)

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
                # still ours: no newer start
                await self.platform.deadlines.cancel(EXPIRY, typist.key)
                after.emit(
                    "typing:stop",
                    payloads.typing(typist.target, typist.user_id, typist.user_name, "left"),
                    room=typist.target.room,
                    skip_sid=sid,
                )

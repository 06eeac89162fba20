"""`LocalCluster`: the cluster state when one process is the whole cluster (the default);
the contract is in `core.cluster.state`."""

from __future__ import annotations

import time
from typing import Any

from core.cluster.state import ClusterState, new_node_id


class LocalCluster(ClusterState):
    """One process is the whole cluster (the embedded default)."""

    def __init__(self) -> None:
        self.node_id = new_node_id()
        self._rooms: dict[str, dict[str, dict[str, str]]] = {}  # room → user → sid → name
        self._values: dict[str, tuple[Any, float | None]] = {}

    async def enter(self, room_key: str, user_id: str, sid: str, user_name: str) -> bool:
        users = self._rooms.setdefault(room_key, {})
        sockets = users.setdefault(user_id, {})
        first = not sockets
        sockets[sid] = user_name
        return first

    async def exit(self, room_key: str, user_id: str, sid: str) -> bool:
        users = self._rooms.get(room_key)
        sockets = users.get(user_id) if users else None
        if users is None or sockets is None or sockets.pop(sid, None) is None:
            return False
        if sockets:
            return False
        del users[user_id]
        if not users:
            del self._rooms[room_key]
        return True

    async def sockets(self, room_key: str, user_id: str) -> int:
        return len(self._rooms.get(room_key, {}).get(user_id, {}))

    async def users(self, room_key: str) -> dict[str, str]:
        return {
            user: next(iter(sockets.values()))
            for user, sockets in self._rooms.get(room_key, {}).items()
        }

    async def count(self, room_key: str) -> int:
        return len(self._rooms.get(room_key, ()))

    def _live(self, key: str) -> Any:
        found = self._values.get(key)
        if found is None:
            return None
        value, deadline = found
        if deadline is not None and deadline <= time.monotonic():
            del self._values[key]
            return None
        return value

    @staticmethod
    def _deadline(ttl: float | None) -> float | None:
        return None if ttl is None else time.monotonic() + ttl

    async def get(self, key: str) -> str | None:
        value = self._live(key)
        return value if isinstance(value, str) else None

    async def put(
        self, key: str, value: str, *, ttl: float | None = None, only_if_absent: bool = False
    ) -> bool:
        if only_if_absent and self._live(key) is not None:
            return False
        self._values[key] = (value, self._deadline(ttl))
        return True

    async def delete(self, key: str, *, only_if: str | None = None) -> bool:
        value = self._live(key)
        if value is None or (only_if is not None and value != only_if):
            return False
        del self._values[key]
        return True

    async def push(self, key: str, value: str, *, ttl: float) -> int:
        items = self._live(key)
        if not isinstance(items, list):
            items = []
        items.append(value)
        self._values[key] = (items, self._deadline(ttl))
        return len(items)

    async def take(self, key: str) -> list[str]:
        items = self._live(key)
        self._values.pop(key, None)
        return list(items) if isinstance(items, list) else []

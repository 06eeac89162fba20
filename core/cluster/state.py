"""The cluster state's interface, and the contract both implementations keep.

What every node must agree on, behind one interface with two implementations, after
centrifuge's broker/presence split (`broker.go`: the contract written beside the
interface): `core.cluster.local.LocalCluster`, in-process, the default, and
`core.cluster.redis_cluster.RedisCluster`, every node on one Redis (`LVNG_REDIS_URL`).
One set of tests runs against both: `tests/unit/test_cluster_local.py` (in-process) and
`tests/test_cluster_state.py` (Redis).

**Membership.** Which sockets of which user are in which room, on which node.
- `enter` and `exit` are atomic for the whole cluster: of two sockets of one user
  entering a room at once, on any nodes, exactly one is told `first`; of the last two
  leaving, exactly one is told `last`. "First device joined / last device left" is asked
  here, never counted in one process.
- A socket is entered and exited by its own node. `exit` of a socket that is not in the
  room changes nothing and answers False; `enter` of a socket already there is not
  `first` again.
- `users(room)` is every user with a socket in the room, on any node, with the name
  given at its first entering socket's `enter`; `count(room)` is how many (without
  reading them: a large organization's size, asked at each presence change);
  `sockets(room, user)` counts a user's sockets.
- Telling a room is not part of `enter`/`exit`: callers that announce a transition hold
  the room's turn (`core.turns`) around the call and the emit, so announcements are in
  the order of the transitions.

**Key-value with TTL.** `get`, `put` (with `only_if_absent`: set only when the key holds
nothing, atomically: of two at once exactly one wins), `delete` (with `only_if`: a
compare-and-delete), lists (`push`, `take`) for things gathered from several nodes (read
receipts being coalesced). A key whose TTL has passed is gone for every reader (`get`
None, `put(only_if_absent=True)` succeeds); `push` renews its list's TTL; `take` returns
and removes the whole list in one step, so two takers never both get an item. Without a
TTL a value stays until deleted. TTLs are in seconds; Redis keeps milliseconds (at least
one).

**Locks.** `lock(key)` is the cross-node side of a room's turn: it waits its turn (up to
`LOCK_WAIT`, then UNAVAILABLE) and returns a token for `unlock`; a holder's lock frees
itself after a lease (`LOCK_LEASE`) so a dead node never blocks a room for ever. In one
process (`cross_node` False) it returns None: the in-process lock of `core.turns` is the
whole of the turn.

**Nodes.** `tell_nodes(message)` hands a JSON-able message to the `on_message` callback
of every node, this one included (a message published while a node is reconnecting to
Redis is lost to that node; callers use it for re-checks that are harmless to miss).
Every node refreshes a heartbeat key with a TTL (`node_ttl`). When a node dies, its
heartbeat expires and one surviving node (chosen by a lock) frees the room turns it held,
then removes that node's memberships, calling `on_member_lost(room_key, user_id,
user_name)` for each user whose last socket in a room was there, so plugins can tell the
room (`member:left`, presence offline, a call's participant left). A crash leaves no
ghosts once `node_ttl` and a third of it have passed. `stop` forgets this node's
memberships at once, without announcing them (the server told its clients already),
leaves the node set and hands its deadlines (`core.deadlines`) to the survivors, as a
reaped node's are.
"""

from __future__ import annotations

import os
import socket
import uuid
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any

MemberLost = Callable[[str, str, str], Awaitable[None]]
NodeMessage = Callable[[dict[str, Any]], Awaitable[None]]


def new_node_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class ClusterState(ABC):
    """The interface every plugin and the core use; see the module docstring."""

    node_id: str
    cross_node = False  # whether `lock` serializes across processes
    _on_message: NodeMessage | None = None

    async def start(
        self, on_member_lost: MemberLost | None = None, on_message: NodeMessage | None = None
    ) -> None:
        """Begin heartbeats (Redis); `on_member_lost` is called for a dead node's users,
        `on_message` on every node for each `tell_nodes`."""
        self._on_message = on_message

    async def tell_nodes(self, message: dict[str, Any]) -> None:
        """Hand `message` (JSON-able) to `on_message` on every node, this one included."""
        if self._on_message is not None:
            await self._on_message(message)

    async def stop(self) -> None:  # noqa: B027
        """Stop heartbeats and forget this node's memberships."""

    async def settled(self) -> bool:
        """Whether writes owed since an outage may be made now (`core.cluster.owed`)."""
        return True

    # --- deadlines (`core.deadlines`): one process keeps them in its timers alone ------

    async def deadline_put(self, field: str, value: str) -> None:  # noqa: B027
        """Record one of this node's deadlines, for a survivor to adopt if it dies."""

    async def deadline_delete(self, field: str) -> None:  # noqa: B027
        """Forget one of this node's deadlines (done or cancelled)."""

    async def adopt_deadlines(self) -> dict[str, str]:
        """Take over a dead or stopped node's deadlines: `{field: value}`, now this
        node's (empty when there are none)."""
        return {}

    # --- locks ------------------------------------------------------------------------

    async def lock(self, key: str) -> str | None:
        """Take the cluster-wide lock `key`; a token for `unlock`, or None when this
        process is the whole cluster (its in-process lock is enough)."""
        return None

    async def unlock(self, key: str, token: str) -> None:  # noqa: B027
        """Release what `lock` took."""

    # --- membership --------------------------------------------------------------------

    @abstractmethod
    async def enter(self, room_key: str, user_id: str, sid: str, user_name: str) -> bool:
        """Record the socket in the room; True when no other socket of the user (on any
        node) was in it."""

    @abstractmethod
    async def exit(self, room_key: str, user_id: str, sid: str) -> bool:
        """Forget the socket in the room; True when it was the user's last one there."""

    @abstractmethod
    async def sockets(self, room_key: str, user_id: str) -> int:
        """How many sockets of the user are in the room, on every node."""

    @abstractmethod
    async def users(self, room_key: str) -> dict[str, str]:
        """Every user with a socket in the room, on any node: `{userId: userName}`."""

    @abstractmethod
    async def count(self, room_key: str) -> int:
        """How many users have a socket in the room, on every node (`len(users(room))`,
        in one step whatever the room's size)."""

    # --- key-value with TTL ------------------------------------------------------------

    @abstractmethod
    async def get(self, key: str) -> str | None: ...

    @abstractmethod
    async def put(
        self, key: str, value: str, *, ttl: float | None = None, only_if_absent: bool = False
    ) -> bool:
        """Store `value`; with `only_if_absent`, only when the key holds nothing (False
        then). `ttl` in seconds."""

    @abstractmethod
    async def delete(self, key: str, *, only_if: str | None = None) -> bool:
        """Remove the key (only while it holds `only_if`, when given); True if removed."""

    @abstractmethod
    async def push(self, key: str, value: str, *, ttl: float) -> int:
        """Append to the key's list (made if absent, TTL renewed); the list's new length."""

    @abstractmethod
    async def take(self, key: str) -> list[str]:
        """The key's whole list, removed in the same step."""

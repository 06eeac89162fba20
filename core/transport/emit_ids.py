"""Emit ids: an emit through Redis heard once on each node, whatever Redis did with it.

Each emit `FastRedisManager` publishes carries an id (`lvng_e`: its node's id and a
counter), kept with it in the room streams (core/recovery_store.py). The same emit can
reach a node twice:

- redis-py tries a command once more after a connection error (`redis_client`): a
  broadcast script that ran but whose answer was lost runs again, under a new offset;
- an emit that Redis failed is delivered by its node to its own sockets and owed to the
  others (core/cluster/owed.py); if its script had run after all, the nodes that heard it
  then hear the owed one too.

Each node's listener keeps the last `size` ids it heard from each node and drops a
repeat; an owed emit is made before its node's newer ones, so the first copy is among
those. The sending node also remembers the emits it delivered itself when Redis failed
them (`failed_here`): its listener drops them if the script had run after all.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict, deque


class _Heard:
    """The last `size` ids heard from one node, with O(1) membership."""

    __slots__ = ("ids", "order", "size")

    def __init__(self, size: int) -> None:
        self.ids: set[str] = set()
        self.order: deque[str] = deque()
        self.size = size

    def add(self, emit_id: str) -> bool:
        """Remember `emit_id`; False when it was heard already."""
        if emit_id in self.ids:
            return False
        self.ids.add(emit_id)
        self.order.append(emit_id)
        if len(self.order) > self.size:
            self.ids.discard(self.order.popleft())
        return True


class EmitIds:
    """One node's emit ids: those it makes, and those it heard (see the module docstring)."""

    NODES = 64  # nodes remembered (a node's id is per process: restarts make new ones)
    FAILED = 10_000  # own emits failed and delivered here, not heard back (Redis lost them)

    def __init__(self, node: str, size: int = 4096) -> None:
        self.node = node
        self.size = size
        self._counter = itertools.count()
        self._heard: OrderedDict[str, _Heard] = OrderedDict()
        self._failed: set[str] = set()

    def new(self) -> str:
        return f"{self.node}.{next(self._counter)}"

    def hear(self, origin: str, emit_id: str) -> bool:
        """The listener heard `emit_id` from `origin`: True the first time."""
        heard = self._heard.get(origin)
        if heard is None:
            if len(self._heard) >= self.NODES:
                self._heard.popitem(last=False)  # the node heard from least lately
            heard = self._heard[origin] = _Heard(self.size)
        elif origin != next(reversed(self._heard)):
            self._heard.move_to_end(origin)
        return heard.add(emit_id)

    def heard_own(self, emit_id: str) -> bool:
        """This node's listener heard its own `emit_id` already."""
        heard = self._heard.get(self.node)
        return heard is not None and emit_id in heard.ids

    def failed_here(self, emit_id: str) -> None:
        """Redis failed this node's `emit_id`, which its own sockets got then."""
        if len(self._failed) >= self.FAILED:
            self._failed.clear()
        self._failed.add(emit_id)

    def take_failed(self, emit_id: str) -> bool:
        """Whether `emit_id` was failed and delivered here (forgotten now)."""
        if emit_id in self._failed:
            self._failed.discard(emit_id)
            return True
        return False

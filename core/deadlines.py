"""`Deadlines`: timers that outlive their node (issue 26), in the realtime kit.

A `platform.timers` timer dies with its node: a user whose node died during the offline
grace was never announced offline, a typist's `typing:stop` never came. A deadline is a
local timer too, and is also written to the node's deadline hash in the cluster state
(`{cluster}:dl:{node}`, field `kind\\tkey`, value `{"due": epoch seconds, "args": {...}}`).
When the node is reaped (or stops cleanly), the hash goes to the cluster's orphans; every
node looks for orphans every second and one adopts each hash whole (`SPOP` and a move, one
Lua script), running its deadlines at their due time, late ones at once.

    platform.deadlines.handle("presence.grace", self._grace_due)    # at start-up
    await platform.deadlines.schedule("presence.grace", key, delay, {"org": o, "user": u})
    await platform.deadlines.cancel("presence.grace", key)

A handler gets the `args` (JSON-able) it was scheduled with, on whichever node runs it,
and re-checks the shared state, as a timer's function does. Without Redis a deadline is a
timer alone. Writing a deadline while Redis is away is owed (`core.cluster.owed`); the
local timer runs meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.cluster.owed import OwedWrites
    from core.cluster.state import ClusterState
    from core.tasks import Tasks, Timers

log = logging.getLogger("lvng.deadlines")

Handler = Callable[[dict[str, Any]], Awaitable[Any]]
ADOPT_EVERY = 1.0  # seconds between looks for a dead node's deadlines
_SEP = "\t"


class Deadlines:
    """Deadlines by (kind, key) that a survivor adopts when their node dies."""

    def __init__(
        self, cluster: ClusterState, timers: Timers, tasks: Tasks, owed: OwedWrites
    ) -> None:
        self._cluster = cluster
        self._timers = timers
        self._tasks = tasks
        self._owed = owed
        self._handlers: dict[str, Handler] = {}
        self._adopting: asyncio.Task[None] | None = None
        self._held = False

    def handle(self, kind: str, fn: Handler) -> None:
        """`fn(args)` runs each deadline of `kind` when due (on this node or an adopter)."""
        self._handlers[kind] = fn

    async def schedule(
        self, kind: str, key: str, delay: float, args: dict[str, Any] | None = None
    ) -> None:
        """Run `kind`'s handler with `args` in `delay` seconds, replacing the (kind, key)
        deadline of this node."""
        if kind not in self._handlers:
            raise KeyError(f"no handler for deadlines of kind {kind!r}")
        field = f"{kind}{_SEP}{key}"
        value = json.dumps({"due": time.time() + max(0.0, delay), "args": args or {}})
        self._arm(field, max(0.0, delay), kind, args or {})
        await self._write(field, value)

    async def cancel(self, kind: str, key: str) -> None:
        field = f"{kind}{_SEP}{key}"
        self._timers.cancel(f"deadline/{field}")
        await self._forget(field)

    def _arm(self, field: str, delay: float, kind: str, args: dict[str, Any]) -> None:
        self._timers.schedule(f"deadline/{field}", delay, lambda: self._run(field, kind, args))

    def hold(self) -> None:
        """A stopping node: deadlines are still recorded but none runs here any more; the
        cluster's hand them to a survivor at the stop (`cross_node`), a local one ends
        with the process."""
        self._held = True

    async def _run(self, field: str, kind: str, args: dict[str, Any]) -> None:
        if self._held:
            return  # recorded still: a survivor runs it
        try:
            await self._handlers[kind](args)
        finally:
            await self._forget(field)

    async def _write(self, field: str, value: str) -> None:
        try:
            await self._cluster.deadline_put(field, value)
        except Exception:  # noqa: BLE001 - Redis away: the local timer runs meanwhile
            self._owed.owe(f"deadline {field}", lambda: self._cluster.deadline_put(field, value))

    async def _forget(self, field: str) -> None:
        if self._timers.pending(f"deadline/{field}"):
            return  # scheduled again meanwhile: that one stays recorded
        try:
            await self._cluster.deadline_delete(field)
        except Exception:  # noqa: BLE001 - Redis away: the delete itself is owed (not
            # `_forget`, which would owe itself again while the settle loop runs)
            self._owed.owe(f"deadline {field} done", lambda: self._cluster.deadline_delete(field))

    # --- adoption ---------------------------------------------------------------------

    def start(self) -> None:
        """Look for orphaned deadlines every `ADOPT_EVERY` s (only with a cross-node
        cluster state)."""
        if self._cluster.cross_node and self._adopting is None:
            self._adopting = asyncio.ensure_future(self._adopt_loop())

    async def stop(self) -> None:
        if self._adopting is not None:
            self._adopting.cancel()
            await asyncio.gather(self._adopting, return_exceptions=True)
            self._adopting = None

    async def _adopt_loop(self) -> None:
        while True:
            await asyncio.sleep(ADOPT_EVERY)
            try:
                await self.adopt()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis away: look again later
                log.debug("looking for orphaned deadlines failed: %r", exc)

    async def adopt(self) -> int:
        """Take over every orphaned deadline hash there is; how many deadlines."""
        adopted = 0
        while True:
            found = await self._cluster.adopt_deadlines()
            if not found:
                return adopted
            now = time.time()
            for field, value in found.items():
                kind = field.split(_SEP, 1)[0]
                if kind not in self._handlers:
                    log.warning("adopted a deadline of unknown kind %r; dropped", kind)
                    await self._forget(field)
                    continue
                record = json.loads(value)
                self._arm(field, max(0.0, float(record["due"]) - now), kind, record["args"])
                adopted += 1
            log.warning("adopted %d deadline(s) of a node that is gone", len(found))

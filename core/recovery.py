"""Connection-state recovery (contract section 12), as socket.io-client 4.x speaks it.

- Every emit to a room (a socket's own included) gets the next offset of this node, a
  decimal string, as its last argument: one counter per node, so one socket's events
  arrive in offset order and the last offset a client saw says what it has. The packet
  is encoded once with it (the offset belongs to the broadcast) and kept in each of its
  rooms' logs, unless its event is ephemeral (`events.emits(..., ephemeral=True)`).
- A room's log keeps `window` seconds and at most `log_size` packets; what falls out is
  remembered (`trimmed`: the highest offset dropped), so a gap is seen, never silent.
- The CONNECT reply carries `pid`. A socket that drops (transport closed or failed, ping
  timeout, server shutdown: never a disconnect asked by either side) is `save`d under its
  pid for `window` seconds: its sid, user, rooms and from which offset each room is its.
- A CONNECT with `{pid, offset}` is `claim`ed before the sid is chosen: the same sid when
  the whole gap is still here, else a fresh connection (`unknown`, `expired`). The gateway
  verifies the token, authorizes each room again and joins it without entering the
  Socket.IO room yet (`RoomService.join(enter=False)`); `finish` then, with no await, sends
  nothing before the CONNECT reply, enters the rooms and delivers the missed packets in
  offset order: a new emit can only come after them.
- `dump`/`load`: what a restart needs, in a JSON file (beside the SQLite database by
  default, `LVNG_RECOVERY_FILE`), written at a graceful stop.
- With Redis (`store`, core/recovery_store.py) offsets, logs and sessions are the
  cluster's (`seq`: the last offset this node's listener heard) and `claim_cluster` there
  replaces `claim`: a socket recovers on any node, also after its node was killed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from core.transport.closing import SHUTDOWN_REASON

log = logging.getLogger("lvng.recovery")

# Disconnect reasons after which a client may come back and recover (as Node's socket.io:
# never one the client or the server asked for).
RECOVERABLE = frozenset({"transport close", "transport error", "ping timeout", SHUTDOWN_REASON})
LOG_SIZE = 1000
# At most this much is replayed to one socket (below the slow-consumer bounds: 1,024
# queued packets, 1 MB unsent): a longer gap is a fresh connection.
MAX_REPLAY = 512
MAX_REPLAY_BYTES = 512 * 1024
FORMAT = 1


class Entry(NamedTuple):
    seq: int
    at: float  # wall clock, seconds
    packet: str  # the encoded Socket.IO packet, offset included
    skip: tuple[str, ...]  # sids it was not for


@dataclass(slots=True)
class Saved:
    """A dropped socket that may come back: what `finish` needs to set it back."""

    pid: str
    sid: str
    organization_id: str
    user_id: str
    rooms: dict[str, int]  # room key -> the offset from which the room's events are its
    at: float  # when it dropped (wall clock)


@dataclass(slots=True)
class Plan:
    """A recovery between the handler's verdict and the CONNECT reply (`finish`)."""

    offset: int
    until: int  # the socket's own log: what was sent to the old one only
    rooms: dict[str, int] = field(default_factory=dict)  # key -> from which offset
    saved: Saved | None = None  # what was claimed (its rooms are watched until finish)


def new_pid() -> str:
    return secrets.token_urlsafe(18)


def _offset(value: Any) -> int | None:
    if isinstance(value, str) and 0 < len(value) <= 20 and value.isdigit():
        return int(value)
    return None


class Recovery:
    """One node's logs and saved sessions (see the module docstring)."""

    def __init__(
        self,
        window: float,
        log_size: int = LOG_SIZE,
        path: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.window = window
        self.enabled = window > 0
        self.log_size = log_size
        self.path = path
        self.clock = clock
        self.seq = 0
        self.logs: dict[str, deque[Entry]] = {}
        self.trimmed: dict[str, tuple[int, float]] = {}  # key -> (highest dropped, when)
        self.saved: dict[str, Saved] = {}  # pid -> session
        self.expired: dict[str, float] = {}  # pid -> when swept (told `expired`, a window)
        self.ephemeral: frozenset[str] = frozenset()
        self.pending: dict[str, Saved] = {}  # sid -> claimed, the handler not done yet
        self.claimed_at: dict[str, tuple[int, int]] = {}  # sid -> (offset, seq at claim)
        self.plans: dict[str, Plan] = {}  # sid -> what finish sets back
        self.pids: dict[str, str] = {}  # sid -> pid of the CONNECT reply
        self.live: dict[str, str] = {}  # pid -> sid of a connected socket
        self._gone: dict[str, asyncio.Future[None]] = {}  # pid -> its disconnect handled
        # Rooms with no socket here that a saved session was in: still logged (an emit to
        # a room with neither is not: with Redis every node sees every room's emits).
        self.watched: dict[str, int] = {}
        self.on_result: Callable[[str], None] = lambda result: None
        self.on_replayed: Callable[[int], None] = lambda count: None
        # The Redis set-up (core/recovery_store.py): the cluster's offsets and sessions.
        self.store: Any = None  # a core.recovery_store.RecoveryStore
        # sid -> what a cluster claim read of each stream: key -> [(offset, packet, skip)]
        self.remote: dict[str, dict[str, list[tuple[int, str, tuple[str, ...]]]]] = {}

    # --- the emit path -----------------------------------------------------------------

    def next_offset(self) -> str:
        self.seq += 1
        return str(self.seq)

    def record(
        self,
        event: str,
        room: Any,
        packet: str,
        skip_sid: Any,
        local: Any = None,
        seq: int | None = None,
    ) -> None:
        """Keep `packet` (offset `seq`, by default `self.seq`) in the log of each room it
        went to that has a socket here (`local`: the manager's rooms, None: every room) or
        is watched."""
        if event in self.ephemeral:
            return
        if skip_sid is None:
            skip: tuple[str, ...] = ()
        else:
            skip = tuple(skip_sid) if isinstance(skip_sid, list) else (skip_sid,)
        now = self.clock()
        entry = Entry(self.seq if seq is None else seq, now, packet, skip)
        watched = self.watched
        for key in (room,) if isinstance(room, str) else room:
            if local is not None and key not in local and key not in watched:
                continue
            entries = self.logs.get(key)
            if entries is None:
                self.logs[key] = deque((entry,))
                continue
            entries.append(entry)
            if len(entries) > self.log_size or entries[0].at < now - self.window:
                self._trim(key, entries, now)

    def _trim(self, key: str, entries: deque[Entry], now: float) -> None:
        oldest = now - self.window
        dropped = 0
        while entries and (len(entries) > self.log_size or entries[0].at < oldest):
            dropped = entries.popleft().seq
        if dropped:
            self.trimmed[key] = (dropped, now)

    # --- saving and claiming -----------------------------------------------------------

    def save(self, sid: str, pid: str, org: str, user: str, rooms: dict[str, int]) -> None:
        old = self.saved.get(pid)
        if old is not None:
            self._watch(old, -1)
        saved = self.saved[pid] = Saved(pid, sid, org, user, dict(rooms), self.clock())
        self._watch(saved, 1)

    def _watch(self, saved: Saved, step: int) -> None:
        watched = self.watched
        for key in (*saved.rooms, saved.sid):
            count = watched.get(key, 0) + step
            if count > 0:
                watched[key] = count
            else:
                watched.pop(key, None)

    def still_connected(self, auth: Any) -> str | None:
        """The sid of the connected socket whose pid a CONNECT names, if any."""
        if not self.enabled or not isinstance(auth, dict) or not isinstance(auth.get("pid"), str):
            return None
        return self.live.get(auth["pid"])

    async def gone(self, pid: str, timeout: float = 5.0) -> None:
        """Wait until the connected socket of `pid` has been handled as gone (`ended`)."""
        if pid not in self.live:
            return
        future = self._gone.get(pid)
        if future is None:
            future = self._gone[pid] = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            log.warning("the socket of a reconnecting session was not gone within %g s", timeout)

    def ended(self, pid: str) -> None:
        """The connected socket of `pid` is gone (saved or not)."""
        self.live.pop(pid, None)
        future = self._gone.pop(pid, None)
        if future is not None and not future.done():
            future.set_result(None)

    def claim(self, auth: Any) -> Saved | None:
        """The saved session a CONNECT's `{pid, offset}` may recover, taken out; None (and
        the result counted) when the reconnect must be a fresh connection."""
        if not self.enabled or not isinstance(auth, dict) or not isinstance(auth.get("pid"), str):
            return None
        saved = self.saved.pop(auth["pid"], None)
        if saved is None:
            self.on_result("expired" if self.expired.pop(auth["pid"], None) else "unknown")
            return None
        offset = _offset(auth.get("offset"))
        result = None
        if self.clock() - saved.at > self.window:
            result = "expired"
        elif offset is None or offset > self.seq:
            result = "unknown"
        else:
            for key, since in [*saved.rooms.items(), (saved.sid, 0)]:
                if self.trimmed.get(key, (0, 0.0))[0] > max(offset, since):
                    result = "expired"  # a log lost part of the gap: never a silent one
                    log.info("%s not recovered: the log of %s lost part of the gap", saved.sid, key)
                    break
            else:
                if self._too_much(saved, offset):
                    result = "expired"
        if result is not None:
            self._forget(saved)
            self.on_result(result)
            return None
        assert offset is not None
        self.pending[saved.sid] = saved
        self.claimed_at[saved.sid] = (offset, self.seq)
        return saved

    def _too_much(self, saved: Saved, offset: int) -> bool:
        """Whether the replay would pass the slow-consumer bounds of one socket
        (core/transport/delivery.py): then it is a fresh connection, never a drop."""
        count = size = 0
        for key, since in [*saved.rooms.items(), (saved.sid, 0)]:
            floor = max(offset, since)
            for entry in reversed(self.logs.get(key, ())):
                if entry.seq <= floor:
                    break
                count += 1
                size += len(entry.packet)
        if count > MAX_REPLAY or size > MAX_REPLAY_BYTES:
            log.info("%s not recovered: %d events (%d bytes) missed", saved.sid, count, size)
            return True
        return False

    async def keep(
        self, pid: str, sid: str, org: str, user: str, keys: Iterable[str], since: Any
    ) -> None:
        """With Redis: write a live socket's session (its rooms and their floors), so any
        node can recover it, also after this one was killed."""
        if self.store is not None and self.enabled:
            await self.store.keep(pid, sid, org, user, floors(keys, since, self.seq))

    def refuse(self, sid: str) -> None:
        """The handshake of a claimed socket was refused: keep it saved for a retry."""
        saved = self.pending.pop(sid, None)
        self.claimed_at.pop(sid, None)
        self.remote.pop(sid, None)
        plan = self.plans.pop(sid, None)
        if plan is not None and plan.saved is not None:
            saved = plan.saved
        if saved is not None:
            self.saved[saved.pid] = saved
            self.on_result("refused")
            if self.store is not None:  # on any node
                self.store.spawn(saved.pid, self.store.put_back(saved))

    def plan(self, sid: str, rooms: dict[str, int]) -> Plan | None:
        """What `finish` sets back for claimed `sid`: `rooms` (key -> since)."""
        saved = self.pending.pop(sid, None)
        offset, until = self.claimed_at.pop(sid)
        plan = self.plans[sid] = Plan(offset, until, rooms, saved)
        return plan

    def finish(
        self, sid: str, enter: Callable[[str], None], deliver: Callable[[str], None]
    ) -> bool:
        """After the CONNECT reply, with no await: enter the rooms, then deliver every
        missed packet once, in offset order. False when `sid` recovers nothing."""
        plan = self.plans.pop(sid, None)
        remote = self.remote.pop(sid, None)
        if plan is None:
            return False
        missed: dict[int, str] = {}
        for key, since in plan.rooms.items():
            enter(key)
            floor = max(plan.offset, since)
            for entry in self.logs.get(key, ()):
                if entry.seq > floor and sid not in entry.skip:
                    missed[entry.seq] = entry.packet
        for entry in self.logs.get(sid, ()):
            if plan.offset < entry.seq <= plan.until:
                missed[entry.seq] = entry.packet
        if remote is not None:  # what Redis had (core/recovery_store.py)
            self.store.merge(missed, remote, plan, sid, self.seq)
        for seq in sorted(missed):
            deliver(missed[seq])
        if plan.saved is not None:  # its rooms have a socket here again
            self._watch(plan.saved, -1)
        self.on_result("recovered")
        self.on_replayed(len(missed))
        return True

    def _forget(self, saved: Saved) -> None:
        self._watch(saved, -1)
        self.logs.pop(saved.sid, None)
        self.trimmed.pop(saved.sid, None)

    # --- upkeep ------------------------------------------------------------------------

    def sweep(self) -> None:
        """Drop sessions past the window and log entries older than it; forget a dropped
        offset two windows later (no session saved then can still need it)."""
        now = self.clock()
        for pid, saved in list(self.saved.items()):
            if now - saved.at > self.window:
                del self.saved[pid]
                self._forget(saved)
                self.expired[pid] = now
        for pid, when in list(self.expired.items()):
            if now - when > self.window:
                del self.expired[pid]
        for key, entries in list(self.logs.items()):
            self._trim(key, entries, now)
            if not entries:
                del self.logs[key]
        for key, (_, when) in list(self.trimmed.items()):
            if now - when > 2 * self.window:
                del self.trimmed[key]

    def drop_socket_log(self, sid: str) -> None:
        """A socket gone for good (not saved): its own log goes."""
        self.logs.pop(sid, None)
        self.trimmed.pop(sid, None)

    # --- a restart ---------------------------------------------------------------------

    def dump(self) -> None:
        """Write what a restart needs to `path` (atomically)."""
        if self.path is None or not self.enabled:
            return
        self.sweep()
        state = {
            "format": FORMAT,
            "seq": self.seq,
            "logs": {key: [list(e) for e in entries] for key, entries in self.logs.items()},
            "trimmed": {key: list(value) for key, value in self.trimmed.items()},
            "saved": [
                [s.pid, s.sid, s.organization_id, s.user_id, s.rooms, s.at]
                for s in self.saved.values()
            ],
        }
        temporary = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump(state, file, separators=(",", ":"))
        os.replace(temporary, self.path)
        log.info("kept %d dropped session(s) for recovery in %s", len(self.saved), self.path)

    def load(self) -> None:
        """Read what `dump` wrote (then remove it: it is used once). A missing or unreadable
        file is a start with nothing to recover."""
        if self.path is None or not self.enabled or not self.path.exists():
            return
        try:
            state = json.loads(self.path.read_text(encoding="utf-8"))
            if state.get("format") != FORMAT:
                raise ValueError(f"format {state.get('format')!r}")
            self.seq = max(self.seq, int(state["seq"]))
            for key, entries in state["logs"].items():
                self.logs[key] = deque(
                    Entry(int(s), float(a), str(p), tuple(k)) for s, a, p, k in entries
                )
            for key, (seq, when) in state["trimmed"].items():
                self.trimmed[key] = (int(seq), float(when))
            for pid, sid, org, user, rooms, at in state["saved"]:
                saved = self.saved[pid] = Saved(pid, sid, org, user, dict(rooms), float(at))
                self._watch(saved, 1)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("recovery state %s not used: %s", self.path, exc)
        finally:
            self.path.unlink(missing_ok=True)
        self.sweep()


def recovery_path(
    database_url: str, explicit: str | None, redis_url: str | None, workers: int = 1
) -> Path | None:
    """Where a graceful stop keeps the recovery state: `explicit` (LVNG_RECOVERY_FILE), else
    beside the SQLite file, else `lvng.recovery.json` for one node without Redis. With
    Redis and no file given, or several workers (each its own offsets, and one file): none."""
    if workers > 1:
        return None
    if explicit:
        return Path(explicit)
    if database_url.startswith("sqlite://"):
        database = database_url[len("sqlite://") :].split("?", 1)[0]
        if database and database != ":memory:":
            return Path(database + ".recovery.json")
        return None
    return None if redis_url else Path("lvng.recovery.json")


async def upkeep(recovery: Recovery) -> None:
    """Sweep now and then, for as long as the node runs."""
    store = recovery.store
    # With Redis the live sockets' sessions are kept another window every third of it.
    every = recovery.window / 3 if store is not None else recovery.window / 2
    while True:
        await asyncio.sleep(min(30.0, max(every, 0.5)))
        recovery.sweep()
        if store is not None:
            try:
                await store.refresh(list(recovery.live))
            except Exception as exc:  # noqa: BLE001 - Redis away: next time
                log.warning("recovery sessions not refreshed: %r", exc)


def floors(keys: Iterable[str], since: dict[str, int] | None, default: int) -> dict[str, int]:
    """Each key's offset from `since`, `default` when it has none."""
    known = since or {}
    return {key: known.get(key, default) for key in keys}

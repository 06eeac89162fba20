"""Recovery across the Redis set-up (contract section 12: "with Redis, on any node of the
cluster, also after the first node died"). See core/recovery.py for the protocol.

- **Offsets are the cluster's.** The node an emit starts on runs one Lua script
  (`BROADCAST`): INCR the cluster's counter (n), XADD the packet (encoded once, here, with
  n as its last argument) to each room's stream with the id `n-0` (`MAXLEN ~` the log
  size, a TTL of two windows), PUBLISH the emit with n. Offset order is publish order, so
  every node (the origin too: it delivers its own emit when its listener hears it) hands
  a room's packets to its sockets in offset order.
- **Sessions are in a hash per pid** (`sid`, `org`, `user`, `node`, `rooms`: room key ->
  the offset from which the room is the socket's), written at connect, join and leave,
  with a TTL of the window that the node refreshes for its live sockets: a node killed
  outright leaves them behind, to expire a window later.
- **A claim on any node** takes the hash (read and deleted at once), checks each room's
  stream (`max-deleted-entry-id` past the offset: the log lost part of the gap) and reads
  what follows the offset (`XRANGE`); `Recovery.finish` merges it by offset.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from core.recovery import MAX_REPLAY, MAX_REPLAY_BYTES, Plan, Recovery, Saved, _offset

log = logging.getLogger("lvng.recovery")

# KEYS: the counter, then each room's stream. ARGV: the packet up to its offset's opening
# quote, the MAXLEN, the skipped sids (JSON), the streams' TTL, the channel, the message
# up to its offset, the trim operator, the emit's id (kept in the streams: an emit owed
# since an outage may be logged twice, see `missed`). Returns n.
BROADCAST = """
local n = redis.call('INCR', KEYS[1])
local id = n .. '-0'
local packet = ARGV[1] .. n .. '"]'
for i = 2, #KEYS do
  redis.call('XADD', KEYS[i], 'MAXLEN', ARGV[7], ARGV[2], id, 'p', packet, 's', ARGV[3],
    'e', ARGV[8])
  redis.call('EXPIRE', KEYS[i], ARGV[4])
end
redis.call('PUBLISH', ARGV[5], ARGV[6] .. n .. '}')
return n
"""

# KEYS: a session's hash. ARGV: this node, 'save' (keep it a window) or 'drop', the TTL.
# Only the node that holds the socket may change it (another may have claimed it since).
LET_GO = """
if redis.call('HGET', KEYS[1], 'node') ~= ARGV[1] then return 0 end
if ARGV[2] == 'save' then
  redis.call('HSET', KEYS[1], 'live', '0')
  return redis.call('EXPIRE', KEYS[1], ARGV[3])
end
return redis.call('DEL', KEYS[1])
"""


# Entries read before a claim's floor, for the ids of what the socket had: a repeat comes
# soon after its first copy in its room (a retry at once; an owed emit before the room's
# next turn, and no turn is taken while it is owed).
LOOK_BACK = 32


class Taken:
    """A session taken out of Redis by a claim."""

    __slots__ = ("sid", "org", "user", "rooms")

    def __init__(self, sid: str, org: str, user: str, rooms: dict[str, int]) -> None:
        self.sid, self.org, self.user, self.rooms = sid, org, user, rooms


class RecoveryStore:
    """The Redis side of recovery for one node (see the module docstring)."""

    def __init__(
        self, url: str, prefix: str, channel: str, window: float, log_size: int, node: str
    ) -> None:
        from core.cluster.redis_cluster import redis_client

        self.redis: Any = redis_client(url, decode_responses=True)
        self.prefix = f"{prefix}:recovery"
        self.counter = f"{self.prefix}:n"
        self.channel = channel
        self.window = window
        self.ttl = max(1, int(window + 0.999))
        self.stream_ttl = 2 * self.ttl
        self.log_size = log_size
        # `~`: Redis trims whole nodes of a stream (100 entries by default), cheaply; a log
        # size under that would never be trimmed so, hence exact trimming there.
        self.trim = "~" if log_size >= 100 else "="
        self.node = node
        self._writes: dict[str, asyncio.Task[Any]] = {}  # pid -> its last write
        self._broadcast = self.redis.register_script(BROADCAST)
        self._let_go = self.redis.register_script(LET_GO)

    def stream(self, key: str) -> str:
        return f"{self.prefix}:s:{key}"

    def session(self, pid: str) -> str:
        return f"{self.prefix}:p:{pid}"

    # --- the emit path -----------------------------------------------------------------

    async def broadcast(
        self, rooms: list[str], head: str, skip: str, message_head: str, logged: bool, emit_id: str
    ) -> int:
        """Give the emit its offset, log it in its rooms' streams (`logged`), publish it."""
        keys = [self.counter, *(self.stream(room) for room in rooms)] if logged else [self.counter]
        args = [
            *(head, self.log_size, skip, self.stream_ttl, self.channel, message_head),
            *(self.trim, emit_id),
        ]
        return int(await self._broadcast(keys=keys, args=args))

    # --- sessions ----------------------------------------------------------------------

    async def keep(self, pid: str, sid: str, org: str, user: str, rooms: dict[str, int]) -> None:
        """Write a live socket's session (at connect, join and leave)."""
        key = self.session(pid)
        mapping = {
            "sid": sid,
            "org": org,
            "user": user,
            "node": self.node,
            "live": "1",
            "rooms": json.dumps(rooms, separators=(",", ":")),
        }
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=mapping)
            pipe.expire(key, self.ttl)
            await pipe.execute()

    async def refresh(self, pids: list[str]) -> None:
        """Keep the live sockets' sessions another window."""
        for start in range(0, len(pids), 1000):
            async with self.redis.pipeline(transaction=False) as pipe:
                for pid in pids[start : start + 1000]:
                    pipe.expire(self.session(pid), self.ttl)
                await pipe.execute()

    async def let_go(self, pid: str, sid: str, saved: bool) -> None:
        """A socket of this node dropped (`saved`: it may come back a window) or ended."""
        await self._let_go(
            keys=[self.session(pid)], args=[self.node, "save" if saved else "drop", self.ttl]
        )
        if not saved:
            await self.redis.delete(self.stream(sid))

    async def put_back(self, saved: Saved) -> None:
        """A claim whose handshake was refused: the session stays for a retry."""
        pid = saved.pid
        await self.keep(pid, saved.sid, saved.organization_id, saved.user_id, saved.rooms)
        await self.redis.hset(self.session(pid), "live", "0")

    def spawn(self, pid: str, write: Any) -> None:
        """Run a write of `pid`'s session in the background (a drop's own, a refused
        claim's); a claim of `pid` on this node waits for it (`written`)."""
        task = asyncio.ensure_future(write)
        self._writes[pid] = task
        task.add_done_callback(lambda done: self._written(pid, done))

    def _written(self, pid: str, task: asyncio.Task[Any]) -> None:
        if self._writes.get(pid) is task:
            del self._writes[pid]
        if not task.cancelled() and task.exception() is not None:
            log.warning("a recovery write to Redis failed: %r", task.exception())

    async def written(self, pid: str) -> None:
        """Wait for the background write of `pid`'s session, if any."""
        task = self._writes.get(pid)
        if task is not None:
            await asyncio.wait({task}, timeout=5.0)

    async def take(self, pid: str) -> tuple[Taken | None, int]:
        """The session of `pid`, deleted from Redis (one claim wins), and the counter."""
        key = self.session(pid)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(key)
            pipe.delete(key)
            pipe.get(self.counter)
            found, _, counter = await pipe.execute()
        if not found:
            return None, int(counter or 0)
        try:
            rooms = {str(k): int(v) for k, v in json.loads(found["rooms"]).items()}
            taken = Taken(found["sid"], found["org"], found["user"], rooms)
        except (KeyError, ValueError, TypeError, AttributeError):
            return None, int(counter or 0)
        return taken, int(counter or 0)

    async def missed(
        self, floors: dict[str, int], limit: int
    ) -> dict[str, list[tuple[int, str, tuple[str, ...]]]] | None:
        """Each stream's entries after its floor (at most `limit` each); None when a
        stream lost some of them (trimmed: never a silent gap) or one holds more. An emit
        logged twice (a script run again after its answer was lost, an emit owed since an
        outage: core/transport/emit_ids.py) is read once, at its first offset, and not at
        all when that one is at or before the floor (the socket had it): for the streams
        with entries after their floor, the last `LOOK_BACK` up to it are read for their
        ids (a second round trip, only then)."""
        keys = list(floors)
        async with self.redis.pipeline(transaction=True) as pipe:
            for key in keys:
                pipe.execute_command("XINFO", "STREAM", self.stream(key))
                pipe.xrange(self.stream(key), min=f"({floors[key]}-0", max="+", count=limit + 1)
            answers = await pipe.execute(raise_on_error=False)
        after: dict[str, list[Any]] = {}
        for index, key in enumerate(keys):
            info, entries = answers[2 * index], answers[2 * index + 1]
            if isinstance(info, Exception):
                if "no such key" not in str(info).lower():
                    raise info
                after[key] = []
                continue
            if _trimmed_past(info, floors[key]):
                log.info("not recovered: the log of %s lost part of the gap", key)
                return None
            if isinstance(entries, Exception):
                raise entries
            if len(entries) > limit:
                return None
            after[key] = entries
        first = await self._first_offsets({k: floors[k] for k, e in after.items() if e})
        found: dict[str, list[tuple[int, str, tuple[str, ...]]]] = {}
        for key, entries in after.items():
            found[key] = rows = []
            for entry_id, fields in entries:
                n = int(entry_id.split("-", 1)[0])
                emit = fields.get("e")
                if emit is not None and first.setdefault(emit, n) != n:
                    continue  # the same emit, logged again
                rows.append((n, fields["p"], tuple(json.loads(fields["s"]))))
        return found

    async def _first_offsets(self, floors: dict[str, int]) -> dict[str, int]:
        """Emit id -> its offset, for the last `LOOK_BACK` entries up to each floor."""
        if not floors:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for key, floor in floors.items():
                pipe.xrevrange(self.stream(key), max=f"{floor}-0", min="-", count=LOOK_BACK)
            answers = await pipe.execute()
        first: dict[str, int] = {}
        for before in answers:
            for entry_id, fields in reversed(before):
                if "e" in fields:
                    first.setdefault(fields["e"], int(entry_id.split("-", 1)[0]))
        return first

    def merge(
        self,
        missed: dict[int, str],
        remote: dict[str, list[tuple[int, str, tuple[str, ...]]]],
        plan: Plan,
        sid: str,
        heard: int,
    ) -> None:
        """Add to `missed` what a claim read in Redis for `plan`'s rooms and the socket's own
        log. Past `heard` (the last offset this node's listener heard) it is left out: it
        reaches the socket live, now that it is in its rooms."""
        for key, since in plan.rooms.items():
            floor = max(plan.offset, since)
            for n, encoded, skip in remote.get(key, ()):
                if floor < n <= heard and sid not in skip:
                    missed[n] = encoded
        for n, encoded, _ in remote.get(sid, ()):
            if plan.offset < n <= plan.until:
                missed[n] = encoded

    async def close(self) -> None:
        await self.redis.aclose()


async def claim_cluster(recovery: Recovery, auth: Any) -> Saved | None:
    """`claim` with Redis (core/recovery_store.py): the session is taken from Redis,
    whichever node it was on, and what each of its rooms missed is read there."""
    store = recovery.store
    if (
        store is None
        or not recovery.enabled
        or not isinstance(auth, dict)
        or not isinstance(auth.get("pid"), str)
    ):
        return None
    pid: str = auth["pid"]
    old = recovery.saved.pop(pid, None)  # this node's copy: Redis says what is current
    if old is not None:
        recovery._watch(old, -1)
    offset = _offset(auth.get("offset"))
    try:
        await store.written(pid)  # this node's drop or refusal of it, written first
        taken, counter = await store.take(pid)
    except Exception as exc:  # noqa: BLE001 - Redis away: a fresh connection
        log.warning("recovery of a session not tried: Redis is unavailable (%r)", exc)
        return None
    if taken is None:
        recovery.on_result("expired" if recovery.expired.pop(pid, None) else "unknown")
        return None
    if offset is None or offset > counter:
        recovery.on_result("unknown")
        return None
    saved = Saved(pid, taken.sid, taken.org, taken.user, dict(taken.rooms), recovery.clock())
    # From now on this node logs what it hears of those rooms: with what Redis had
    # when read below, nothing between can be missed (core/recovery_store.py).
    recovery._watch(saved, 1)
    wanted = {key: max(offset, since) for key, since in saved.rooms.items()}
    wanted[saved.sid] = offset
    try:
        found = await store.missed(wanted, MAX_REPLAY)
    except Exception as exc:  # noqa: BLE001 - Redis away: a fresh connection
        log.warning("recovery of %s not done: Redis is unavailable (%r)", saved.sid, exc)
        found = None
    if found is not None:
        count = {n for entries in found.values() for n, _, _ in entries}
        size = sum(len(p) for entries in found.values() for _, p, _ in entries)
        if len(count) > MAX_REPLAY or size > MAX_REPLAY_BYTES:
            log.info("%s not recovered: %d events missed", saved.sid, len(count))
            found = None
    if found is None:
        recovery._forget(saved)
        recovery.on_result("expired")
        return None
    recovery.remote[saved.sid] = found
    recovery.pending[saved.sid] = saved
    recovery.claimed_at[saved.sid] = (offset, recovery.seq)
    return saved


def _trimmed_past(info: Any, floor: int) -> bool:
    """Whether a stream (its XINFO STREAM) may have lost an entry after `floor`.

    Trimming takes entries from the head and Redis does not say which (its
    `max-deleted-entry-id` is XDEL's): when some were trimmed (`entries-added` over
    `length`) and the first one kept is past the floor, one between may be gone: refused.
    (It may also be that none was: a fresh connection then, never a silent gap. A gap
    that long holds the log size's worth of entries anyway.) Redis 7 gives
    `entries-added`; without it, a first entry past the floor is taken as trimmed."""
    first = _field(info, "first-entry")
    if not first:
        return False
    first_id = int(str(first[0]).split("-", 1)[0])
    if first_id <= floor:
        return False
    added, length = _field(info, "entries-added"), _field(info, "length")
    if added is None or length is None:
        return True
    return int(added) > int(length)


def _field(info: Any, name: str) -> Any:
    if isinstance(info, dict):
        return info.get(name)
    if isinstance(info, list):
        for index in range(0, len(info) - 1, 2):
            if info[index] == name:
                return info[index + 1]
    return None

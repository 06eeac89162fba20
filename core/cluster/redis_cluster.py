"""`RedisCluster`: the cluster state of every node sharing one Redis (`LVNG_REDIS_URL`);
the contract is in `core.cluster.state`. Each transition is one Lua script, so it is atomic
for the whole cluster (`core.cluster.scripts`); keys are prefixed with the cluster's name
(`LVNG_CLUSTER_NAME`). Beyond the contract: connection slots and sliding windows counted
for every node (`core.slots`, `core.ratelimit`), the nodes' deadline hashes
(`core.deadlines`), and whether every node listens again after an outage (`settled`)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

from core.cluster import scripts
from core.cluster.owed import CatchingUp
from core.cluster.state import ClusterState, MemberLost, NodeMessage, new_node_id
from core.errors import ErrorCode, LvngError

if TYPE_CHECKING:
    from core.cluster.owed import OwedWrites

log = logging.getLogger("lvng.cluster")


def redis_client(url: str, **options: Any) -> Any:
    """A Redis client that tries a command once more, on a fresh connection, after a
    connection error. When Redis restarts, every connection in a client's pool is dead and
    would fail its next command once (`Connection closed by server`) although Redis is back;
    a Redis that is really down still fails at once (its reconnect is refused)."""
    import redis.asyncio as aioredis
    from redis.exceptions import ConnectionError as RedisConnectionError

    return aioredis.from_url(url, retry_on_error=[RedisConnectionError], **options)


_SEP = "\t"  # ids never hold a tab


class RedisCluster(ClusterState):
    """The cluster state of every node sharing one Redis."""

    cross_node = True
    LOCK_LEASE = 10.0  # a dead holder's lock frees itself after this
    LOCK_WAIT = 10.0  # longer than this means Redis or a holder is stuck

    def __init__(self, url: str, *, node_ttl: float = 15.0, prefix: str = "lvng") -> None:
        self.node_id = new_node_id()
        self.node_ttl = node_ttl
        self.redis = redis_client(url, decode_responses=True)
        self._p = prefix
        script = self.redis.register_script
        self._enter = script(scripts.ENTER)
        self._exit = script(scripts.EXIT)
        self._users = script(scripts.USERS)
        self._delete_if = script(scripts.DELETE_IF)
        self._push = script(scripts.PUSH)
        self._take = script(scripts.TAKE)
        self._lock = script(scripts.LOCK)
        self._unlock = script(scripts.UNLOCK)
        self._hold = script(scripts.HOLD)
        self._free_locks = script(scripts.FREE_LOCKS)
        self._claim = script(scripts.CLAIM)
        self._release = script(scripts.RELEASE)
        self._window = script(scripts.WINDOW)
        self._adopt = script(scripts.ADOPT)
        self._orphan = script(scripts.ORPHAN)
        self._heartbeat: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._on_member_lost: MemberLost | None = None
        self._on_message: NodeMessage | None = None
        # After this node's heartbeat failed, the others' could not beat either: no reaping
        # until a whole TTL has passed with Redis back (monotonic time).
        self._reap_after = 0.0
        self._beat_failing = False
        # Redis failed since the cluster was last seen settled (`_check_settled`).
        self._unsettled = False
        self._known_nodes = 0  # the node set's size at the last reap, before any outage
        # Room turns whose release failed (Redis away): key -> token. Their release is
        # owed (after the emits the turn owes, core/cluster/owed.py) and they are held again
        # before this node listens after the outage (`hold_owed_turns`). The platform sets
        # `owed` (core/platform.py).
        self.owed: OwedWrites | None = None
        self._held: dict[str, str] = {}

    # key names
    def _members(self, room_key: str, user_id: str) -> str:
        return f"{self._p}:m:{room_key}{_SEP}{user_id}"

    def _room_users(self, room_key: str) -> str:
        return f"{self._p}:u:{room_key}"

    def _node_index(self, node: str) -> str:
        return f"{self._p}:n:{node}"

    def _node_locks(self, node: str) -> str:
        return f"{self._p}:nl:{node}"

    def _node_slots(self, node: str) -> str:
        return f"{self._p}:ns:{node}"

    def _deadlines(self, node: str) -> str:
        return f"{self._p}:dl:{node}"

    def _alive(self, node: str) -> str:
        return f"{self._p}:alive:{node}"

    def _kv(self, key: str) -> str:
        return f"{self._p}:kv:{key}"

    def _slots(self, organization_id: str, user_id: str) -> str:
        return f"{self._p}:conn:{organization_id}{_SEP}{user_id}"

    # --- heartbeat and dead nodes ------------------------------------------------------

    async def start(
        self, on_member_lost: MemberLost | None = None, on_message: NodeMessage | None = None
    ) -> None:
        self._on_member_lost = on_member_lost
        self._on_message = on_message
        if on_message is not None:
            self._listener = asyncio.ensure_future(self._listen())
        try:
            await self._beat()
        except Exception as exc:  # noqa: BLE001 - serve anyway; /readyz says Redis failed
            log.warning("Redis unreachable at start (%r); retrying with the heartbeat", exc)
        self._heartbeat = asyncio.ensure_future(self._keep_alive())

    async def stop(self) -> None:
        """A clean stop: this node leaves the node set, its memberships, slots and locks
        go, and its unfinished deadlines are handed to the survivors."""
        for task in (self._heartbeat, self._listener):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        try:
            await self._forget(self.node_id, announce=False)
            await self._let_go(self.node_id)
        except Exception as exc:  # noqa: BLE001 - Redis gone: entries expire with the node
            log.warning("could not remove this node's cluster entries: %r", exc)
        await self.redis.aclose()

    async def _let_go(self, node: str) -> None:
        """The node's locks, slots and node-set entry go; its deadlines become orphans."""
        await self._free_locks(keys=[self._node_locks(node)], args=[f"{node}/"])
        orphaned = f"{self._p}:dlo:{node}"
        await self._orphan(keys=[self._deadlines(node), f"{self._p}:orphans", orphaned])
        await self.redis.srem(f"{self._p}:nodes", node)
        await self.redis.delete(self._alive(node))

    async def tell_nodes(self, message: dict[str, Any]) -> None:
        await self.redis.publish(f"{self._p}:nodes-channel", json.dumps(message))

    async def _listen(self) -> None:
        """Hand every node message to `on_message`; a lost connection is taken up again."""
        on_message = self._on_message
        if on_message is None:
            return
        down = False
        while True:
            try:
                async with self.redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(f"{self._p}:nodes-channel")
                    if down:
                        down = False
                        log.warning("node messages: listening again")
                    async for item in pubsub.listen():
                        try:
                            await on_message(json.loads(item["data"]))
                        except Exception:  # noqa: BLE001 - one message must not end it
                            log.exception("a node message failed")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis away: listen again soon
                if not down:
                    down = True
                    log.warning("node messages: %r; listening again every 0.5 s", exc)
                await asyncio.sleep(0.5)

    async def settled(self) -> bool:
        """Redis answers and every node listens on the Socket.IO channel again (a message
        published to a node that is not subscribed is lost to it). Every node of the node
        set; and while recovering from an outage (until a TTL after this node's heartbeat
        came back) as many as were known before it: a Redis that restarted empty has no
        node set until the heartbeats rebuild it, and heartbeat keys may all have expired."""
        nodes = int(await self.redis.scard(f"{self._p}:nodes"))
        [(_, listening)] = await self.redis.pubsub_numsub(self._p)
        recovering = self._beat_failing or time.monotonic() < self._reap_after
        if recovering:
            nodes = max(nodes, self._known_nodes)
        return bool(int(listening) >= nodes)

    async def _beat(self) -> None:
        await self.redis.set(self._alive(self.node_id), "1", px=int(self.node_ttl * 1000))
        await self.redis.sadd(f"{self._p}:nodes", self.node_id)

    async def _keep_alive(self) -> None:
        interval = max(0.2, self.node_ttl / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                await self._beat()
                if self._beat_failing:
                    self._beat_failing = False
                    self._reap_after = time.monotonic() + self.node_ttl
                    log.warning("cluster heartbeat back; reaping again in %g s", self.node_ttl)
                if time.monotonic() >= self._reap_after:
                    await self.reap()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis blips must not end the heartbeat
                self._unsettled = True
                if not self._beat_failing:
                    self._beat_failing = True
                    log.warning("cluster heartbeat failed: %r", exc)

    async def reap(self) -> list[str]:
        """Remove the memberships of every node whose heartbeat expired; the dead nodes."""
        dead = []
        members = await self.redis.smembers(f"{self._p}:nodes")
        self._known_nodes = len(members)
        for node in members:
            if node == self.node_id or await self.redis.exists(self._alive(node)):
                continue
            # One survivor reaps each dead node.
            if not await self.redis.set(f"{self._p}:reap:{node}", self.node_id, nx=True, px=60_000):
                continue
            log.warning("node %s stopped answering; removing its sockets", node)
            # Its room turns first: announcing its users' departures needs those rooms.
            await self._free_locks(keys=[self._node_locks(node)], args=[f"{node}/"])
            await self._forget(node, announce=True)
            await self._let_go(node)
            dead.append(node)
        return dead

    async def _forget(self, node: str, *, announce: bool) -> None:
        slots = self._node_slots(node)
        for entry in await self.redis.smembers(slots):
            organization_id, user_id, sid = entry.split(_SEP)
            await self._release(
                keys=[self._slots(organization_id, user_id), slots], args=[sid, entry]
            )
        await self.redis.delete(slots)
        index = self._node_index(node)
        for entry in await self.redis.smembers(index):
            room_key, user_id, sid = entry.split(_SEP)
            last, name = await self._exit(
                keys=[self._members(room_key, user_id), self._room_users(room_key), index],
                args=[f"{node}|{sid}", user_id, entry],
            )
            if announce and last and self._on_member_lost is not None:
                try:
                    await self._on_member_lost(room_key, user_id, name or user_id)
                except Exception:  # noqa: BLE001 - one room's failure must not stop the rest
                    log.exception("announcing the loss of %s in %s failed", user_id, room_key)
        await self.redis.delete(index)

    # --- connection slots, windows, deadlines (beyond the contract) ----------------------

    async def claim_slot(self, organization_id: str, user_id: str, sid: str, cap: int) -> int:
        """0: the user holds `cap` sockets already; 1: claimed; 2: claimed, and another
        node holds some of the user's sockets."""
        entry = _SEP.join((organization_id, user_id, sid))
        keys = [self._slots(organization_id, user_id), self._node_slots(self.node_id)]
        return int(await self._claim(keys=keys, args=[sid, self.node_id, cap, entry]))

    async def release_slot(self, organization_id: str, user_id: str, sid: str) -> None:
        entry = _SEP.join((organization_id, user_id, sid))
        keys = [self._slots(organization_id, user_id), self._node_slots(self.node_id)]
        await self._release(keys=keys, args=[sid, entry])

    async def hit_window(self, key: str, limit: int, window: float) -> int:
        """Count one hit in the sliding window `key` (Redis's clock, every node): 0, or
        the milliseconds until the window has room again."""
        member = uuid.uuid4().hex
        ms = max(1, int(window * 1000))
        return int(await self._window(keys=[f"{self._p}:win:{key}"], args=[limit, ms, member]))

    async def deadline_put(self, field: str, value: str) -> None:
        await self.redis.hset(self._deadlines(self.node_id), field, value)

    async def deadline_delete(self, field: str) -> None:
        await self.redis.hdel(self._deadlines(self.node_id), field)

    async def adopt_deadlines(self) -> dict[str, str]:
        keys = [f"{self._p}:orphans", self._deadlines(self.node_id)]
        flat = await self._adopt(keys=keys)
        return dict(zip(flat[::2], flat[1::2], strict=True))

    # --- locks ------------------------------------------------------------------------

    async def lock(self, key: str) -> str | None:
        owed = self.owed
        if owed is not None and owed:
            if owed.making():
                # An owed write (a leave) in a room whose turn this node holds until a
                # later owed release: it comes first in the owed order: it shares the turn.
                held = self._held.get(key)
                if held is not None:
                    return held
            else:
                raise CatchingUp()  # its emits would be owed behind, the room held
        if self._unsettled:
            await self._check_settled()
        token = f"{self.node_id}/{uuid.uuid4().hex}"
        keys = [f"{self._p}:lock:{key}", self._node_locks(self.node_id)]
        lease = int(self.LOCK_LEASE * 1000)
        deadline = time.monotonic() + self.LOCK_WAIT
        pause = 0.0005
        try:
            while not await self._lock(keys=keys, args=[token, lease]):
                if time.monotonic() > deadline:
                    raise LvngError(ErrorCode.UNAVAILABLE, "the room is busy; try again")
                await asyncio.sleep(pause)
                pause = min(pause * 2, 0.02)
        except LvngError:
            raise
        except Exception:
            self._unsettled = True  # Redis failed: settle before the next turn
            raise
        return token

    async def _check_settled(self) -> None:
        """After this node saw Redis fail, no room turn (so no broadcast) until every node
        listens on the Socket.IO channel again: what is published before a node has
        subscribed again is lost to its clients. The sender is told UNAVAILABLE and sends
        again, as during the outage."""
        try:
            settled = await self.settled()
        except Exception:  # noqa: BLE001 - Redis still away: the lock itself will say so
            return
        if not settled:
            raise LvngError(
                ErrorCode.UNAVAILABLE, "the cluster is reconnecting after a Redis outage; try again"
            )
        self._unsettled = False
        log.warning("every node listens again: room turns are taken again")

    async def unlock(self, key: str, token: str) -> None:
        """Release a room's turn. When Redis is away, or this node owes the cluster writes
        (its emits are owed then: `FastRedisManager._here_and_owed`), the release is owed,
        after what the turn owes the room: the room stays this node's until the other
        nodes have heard it, so nothing newer overtakes it."""
        owed = self.owed
        if owed is not None and owed.making() and self._held.get(key) == token:
            return  # an earlier owed write shared the turn: its release comes later
        try:
            if owed is None or not owed.pending():
                await self._unlock_now(key, token)
                return
        except Exception:
            if owed is None:
                raise
            self._unsettled = True
        self._held[key] = token
        owed.owe(f"the turn of {key}", lambda: self._unlock_now(key, token))

    async def _unlock_now(self, key: str, token: str) -> None:
        await self._unlock(
            keys=[f"{self._p}:lock:{key}", self._node_locks(self.node_id)], args=[token]
        )
        if self._held.get(key) == token:
            del self._held[key]

    def saw_redis_fail(self) -> None:
        """Redis failed somewhere on this node (the Socket.IO listener): no room turn
        before every node listens again (`_check_settled`)."""
        self._unsettled = True

    async def hold_owed_turns(self) -> None:
        """Before this node listens again after an outage: take again the turns whose
        release is owed (a Redis that restarted empty lost them), so no other node takes
        one before this node has told the room what it owes it. Raises while Redis is away
        (the listener tries again)."""
        lease = int(self.LOCK_LEASE * 1000)
        for key, token in list(self._held.items()):
            keys = [f"{self._p}:lock:{key}", self._node_locks(self.node_id)]
            # A whole lease from now: the owed writes are made within it (once every node
            # listens); not renewed after, so a node that never makes them frees the room.
            if not await self._hold(keys=keys, args=[token, lease]):
                log.warning("the turn of %s was taken during the outage", key)

    # --- membership --------------------------------------------------------------------

    async def enter(self, room_key: str, user_id: str, sid: str, user_name: str) -> bool:
        entry = _SEP.join((room_key, user_id, sid))
        first = await self._enter(
            keys=[
                self._members(room_key, user_id),
                self._room_users(room_key),
                self._node_index(self.node_id),
            ],
            args=[f"{self.node_id}|{sid}", user_name, user_id, entry],
        )
        return bool(first)

    async def exit(self, room_key: str, user_id: str, sid: str) -> bool:
        entry = _SEP.join((room_key, user_id, sid))
        last, _ = await self._exit(
            keys=[
                self._members(room_key, user_id),
                self._room_users(room_key),
                self._node_index(self.node_id),
            ],
            args=[f"{self.node_id}|{sid}", user_id, entry],
        )
        return bool(last)

    async def sockets(self, room_key: str, user_id: str) -> int:
        return int(await self.redis.hlen(self._members(room_key, user_id)))

    async def users(self, room_key: str) -> dict[str, str]:
        flat = await self._users(
            keys=[self._room_users(room_key)], args=[f"{self._p}:m:{room_key}{_SEP}"]
        )
        return dict(zip(flat[::2], flat[1::2], strict=True))

    async def count(self, room_key: str) -> int:
        return int(await self.redis.scard(self._room_users(room_key)))

    # --- key-value ---------------------------------------------------------------------

    async def get(self, key: str) -> str | None:
        value: str | None = await self.redis.get(self._kv(key))
        return value

    async def put(
        self, key: str, value: str, *, ttl: float | None = None, only_if_absent: bool = False
    ) -> bool:
        done = await self.redis.set(
            self._kv(key),
            value,
            px=None if ttl is None else max(1, int(ttl * 1000)),
            nx=only_if_absent,
        )
        return bool(done)

    async def delete(self, key: str, *, only_if: str | None = None) -> bool:
        if only_if is None:
            return bool(await self.redis.delete(self._kv(key)))
        return bool(await self._delete_if(keys=[self._kv(key)], args=[only_if]))

    async def push(self, key: str, value: str, *, ttl: float) -> int:
        return int(await self._push(keys=[self._kv(key)], args=[value, max(1, int(ttl * 1000))]))

    async def take(self, key: str) -> list[str]:
        return list(await self._take(keys=[self._kv(key)]))

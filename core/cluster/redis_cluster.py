"""`RedisCluster`: the cluster state of every node sharing one Redis (`LVNG_REDIS_URL`);
the contract is in `core.cluster.state`. Each transition is one Lua script, so it is atomic
for the whole cluster; keys are prefixed with the cluster's name (`LVNG_CLUSTER_NAME`)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import Any

from core.cluster.state import ClusterState, MemberLost, NodeMessage, new_node_id

log = logging.getLogger("lvng.cluster")


def redis_client(url: str, **options: Any) -> Any:
    """A Redis client that tries a command once more, on a fresh connection, after a
    connection error. When Redis restarts, every connection in a client's pool is dead and
    would fail its next command once (`Connection closed by server`) although Redis is back;
    a Redis that is really down still fails at once (its reconnect is refused)."""
    import redis.asyncio as aioredis
    from redis.exceptions import ConnectionError as RedisConnectionError

    return aioredis.from_url(url, retry_on_error=[RedisConnectionError], **options)


# KEYS: members hash of (room, user), users set of the room, node index set
# ARGV: field "{node}|{sid}", user name, user id, index entry
_ENTER = """
local had = redis.call('HLEN', KEYS[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
redis.call('SADD', KEYS[3], ARGV[4])
if had == 0 then return 1 else return 0 end
"""

# Returns {last (0/1), user name or false}
_EXIT = """
local name = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[3], ARGV[3])
if not name then return {0, false} end
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('HLEN', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[2], ARGV[2])
  return {1, name}
end
return {0, name}
"""

_USERS = """
local out = {}
for _, user in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local names = redis.call('HVALS', ARGV[1] .. user)
  if #names > 0 then
    table.insert(out, user)
    table.insert(out, names[1])
  end
end
return out
"""

_DELETE_IF = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

_PUSH = """
local n = redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return n
"""

_TAKE = """
local items = redis.call('LRANGE', KEYS[1], 0, -1)
redis.call('DEL', KEYS[1])
return items
"""

# KEYS: the lock, the node's set of locks; ARGV: token, lease ms
_LOCK = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  redis.call('SADD', KEYS[2], KEYS[1])
  return 1
end
return 0
"""

_UNLOCK = """
redis.call('SREM', KEYS[2], KEYS[1])
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# A dead node's locks, freed by its reaper: KEYS[1] the node's set; ARGV[1] token prefix
_FREE_LOCKS = """
local freed = 0
for _, key in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local token = redis.call('GET', key)
  if token and string.sub(token, 1, string.len(ARGV[1])) == ARGV[1] then
    freed = freed + redis.call('DEL', key)
  end
end
redis.call('DEL', KEYS[1])
return freed
"""

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
        self._enter = self.redis.register_script(_ENTER)
        self._exit = self.redis.register_script(_EXIT)
        self._users = self.redis.register_script(_USERS)
        self._delete_if = self.redis.register_script(_DELETE_IF)
        self._push = self.redis.register_script(_PUSH)
        self._take = self.redis.register_script(_TAKE)
        self._lock = self.redis.register_script(_LOCK)
        self._unlock = self.redis.register_script(_UNLOCK)
        self._free_locks = self.redis.register_script(_FREE_LOCKS)
        self._heartbeat: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._on_member_lost: MemberLost | None = None
        self._on_message: NodeMessage | None = None

    # key names
    def _members(self, room_key: str, user_id: str) -> str:
        return f"{self._p}:m:{room_key}{_SEP}{user_id}"

    def _room_users(self, room_key: str) -> str:
        return f"{self._p}:u:{room_key}"

    def _node_index(self, node: str) -> str:
        return f"{self._p}:n:{node}"

    def _node_locks(self, node: str) -> str:
        return f"{self._p}:nl:{node}"

    def _alive(self, node: str) -> str:
        return f"{self._p}:alive:{node}"

    def _kv(self, key: str) -> str:
        return f"{self._p}:kv:{key}"

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
        for task in (self._heartbeat, self._listener):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        try:
            await self._forget(self.node_id, announce=False)
            await self.redis.delete(self._alive(self.node_id))
        except Exception as exc:  # noqa: BLE001 - Redis gone: entries expire with the node
            log.warning("could not remove this node's cluster entries: %r", exc)
        await self.redis.aclose()

    async def tell_nodes(self, message: dict[str, Any]) -> None:
        await self.redis.publish(f"{self._p}:nodes-channel", json.dumps(message))

    async def _listen(self) -> None:
        """Hand every node message to `on_message`; a lost connection is taken up again."""
        on_message = self._on_message
        if on_message is None:
            return
        while True:
            try:
                async with self.redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(f"{self._p}:nodes-channel")
                    async for item in pubsub.listen():
                        try:
                            await on_message(json.loads(item["data"]))
                        except Exception:  # noqa: BLE001 - one message must not end it
                            log.exception("a node message failed")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis away: listen again soon
                log.warning("node messages: %r; listening again in 1 s", exc)
                await asyncio.sleep(1)

    async def _beat(self) -> None:
        await self.redis.set(self._alive(self.node_id), "1", px=int(self.node_ttl * 1000))
        await self.redis.sadd(f"{self._p}:nodes", self.node_id)

    async def _keep_alive(self) -> None:
        interval = max(0.2, self.node_ttl / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                await self._beat()
                await self.reap()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis blips must not end the heartbeat
                log.warning("cluster heartbeat failed: %r", exc)

    async def reap(self) -> list[str]:
        """Remove the memberships of every node whose heartbeat expired; the dead nodes."""
        dead = []
        for node in await self.redis.smembers(f"{self._p}:nodes"):
            if node == self.node_id or await self.redis.exists(self._alive(node)):
                continue
            # One survivor reaps each dead node.
            if not await self.redis.set(f"{self._p}:reap:{node}", self.node_id, nx=True, px=60_000):
                continue
            log.warning("node %s stopped answering; removing its sockets", node)
            # Its room turns first: announcing its users' departures needs those rooms.
            await self._free_locks(keys=[self._node_locks(node)], args=[f"{node}/"])
            await self._forget(node, announce=True)
            await self.redis.srem(f"{self._p}:nodes", node)
            dead.append(node)
        return dead

    async def _forget(self, node: str, *, announce: bool) -> None:
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

    # --- locks ------------------------------------------------------------------------

    async def lock(self, key: str) -> str | None:
        token = f"{self.node_id}/{uuid.uuid4().hex}"
        keys = [f"{self._p}:lock:{key}", self._node_locks(self.node_id)]
        lease = int(self.LOCK_LEASE * 1000)
        deadline = time.monotonic() + self.LOCK_WAIT
        pause = 0.0005
        while not await self._lock(keys=keys, args=[token, lease]):
            if time.monotonic() > deadline:
                from core.errors import ErrorCode, LvngError

                raise LvngError(ErrorCode.UNAVAILABLE, "the room is busy; try again")
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.02)
        return token

    async def unlock(self, key: str, token: str) -> None:
        await self._unlock(
            keys=[f"{self._p}:lock:{key}", self._node_locks(self.node_id)], args=[token]
        )

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

"""`FastRedisManager`: python-socketio's `AsyncRedisManager` with `FastManager`'s local
delivery (core/transport/delivery.py), cluster-wide recovery offsets
(core/recovery_store.py) and a shorter listener backoff (issue 26)."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any

import socketio
from socketio import packet

from core.transport.delivery import FastManager, to_room
from core.transport.emit_ids import EmitIds

if TYPE_CHECKING:
    from core.cluster.owed import OwedWrites
    from core.cluster.redis_cluster import RedisCluster

log = logging.getLogger("lvng.engine")


class FastRedisManager(socketio.AsyncRedisManager, FastManager):
    """`AsyncRedisManager` whose local delivery is `FastManager.emit`.

    With recovery on, an emit to a room gets its offset from the cluster
    (core/recovery_store.py): one Lua script gives it the next offset, logs the packet
    (encoded once, here) in each room's stream and publishes it. Every node, this one
    included, hands it to its sockets when its listener hears it (`_handle_emit`): a room's
    packets reach every socket in offset order. The emit returns once this node's sockets
    have it, as python-socketio's does (an ack sent after an emit still follows it): at
    once when the listener has heard every offset before it (offsets are contiguous on the
    channel), else when the listener hears it; if that takes `OWN_WAIT` (the listener is
    subscribing again after an outage), the emit delivers it here itself. The listener
    skips what the emit delivered.
    """

    OWN_WAIT = 2.0

    # python-socketio's listener waits 1, 2, 4... up to 60 s between attempts while Redis
    # is away, so after a long outage a node heard nothing from the others for up to a
    # minute after Redis returned (issue 26). Here: 0.25 s doubling to 1 s, one log line
    # per outage. Adapted from `AsyncRedisManager._redis_listen_with_retries` (5.18.1).
    LISTEN_RETRY_FIRST = 0.25
    LISTEN_RETRY_MAX = 1.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._waiting: dict[int, asyncio.Future[None]] = {}  # own offsets not heard yet
        self._heard: set[int] = set()  # own offsets heard before the script answered
        self._self_delivered: set[int] = set()  # own offsets delivered without the listener
        # Each emit's id (`lvng_e`): a repeat of an emit is heard once (emit_ids.py).
        self._ids = EmitIds(self.host_id)
        self._unlogged = False  # one log line per Redis outage
        # Set by the app with Redis (core/app.py): emits the cluster is owed after an
        # outage, and the cluster state, told when the listener loses Redis and asked to
        # hold the rooms whose turns are owed before it listens again.
        self.owed: OwedWrites | None = None
        self.cluster: RedisCluster | None = None

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str | None = None,
        room: Any = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: Any = None,
        **kwargs: Any,
    ) -> None:
        room = to or room
        server = self.server
        recovery = getattr(server, "recovery", None)
        store = recovery.store if recovery is not None and recovery.enabled else None
        delivery = getattr(server, "delivery", None)
        if (
            store is None
            or delivery is None
            or room is None
            or callback is not None
            or kwargs.get("ignore_queue")
        ):
            await super().emit(
                event,
                data,
                namespace or "/",
                room=room,
                skip_sid=skip_sid,
                callback=callback,
                **kwargs,
            )
            return
        assert recovery is not None
        namespace = namespace or "/"
        if isinstance(data, tuple):
            args = list(data)
        elif data is not None:
            args = [data]
        else:
            args = []
        # Encoded once, with an empty offset whose value the script puts in.
        encoded = server.packet_class(
            packet.EVENT, namespace=namespace, data=[event, *args, ""]
        ).encode()
        if not isinstance(encoded, str) or not encoded.endswith('""]'):
            await super().emit(event, data, namespace, room=room, skip_sid=skip_sid, **kwargs)
            return
        head = encoded[:-2]
        rooms = [room] if isinstance(room, str) else list(room)
        if skip_sid is None:
            skip: list[Any] = []
        else:
            skip = list(skip_sid) if isinstance(skip_sid, list) else [skip_sid]
        emit_id = self._ids.new()
        message = self._message(event, namespace, room, skip_sid, head, emit_id)
        owed = self.owed
        if owed is not None and owed.pending():
            # Behind what this node owes the cluster since an outage: owed too, in order.
            self._here_and_owed(event, args, namespace, room, skip, head, skip_sid, emit_id)
            return
        try:
            n = await store.broadcast(
                rooms,
                head,
                json.dumps(skip),
                message[:-1] + ',"lvng_n":',
                event not in recovery.ephemeral,
                emit_id,
            )
        except Exception as exc:  # noqa: BLE001 - Redis away: this node's sockets still get it
            if not self._unlogged:
                self._unlogged = True
                log.warning("recovery offsets unavailable (%r): emits go without one", exc)
            self._here_and_owed(event, args, namespace, room, skip, head, skip_sid, emit_id)
            return
        self._unlogged = False
        if n in self._heard:
            self._heard.discard(n)
            return
        if self._ids.heard_own(emit_id):
            return  # a retry of a script that had run: heard at its first offset already
        if recovery.seq == n - 1:
            # Offsets are contiguous on the channel and this node's listener has heard
            # every one before n: delivering n now keeps offset order (the listener skips
            # it when it comes), and saves the wait for it.
            self._self_delivered.add(n)
            self._deliver_logged(head + str(n) + '"]', n, event, namespace, room, skip_sid)
            return
        future = self._waiting[n] = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(future, self.OWN_WAIT)
        except TimeoutError:
            if self._waiting.pop(n, None) is not None:
                if len(self._self_delivered) > 10_000:  # lost in an outage: never heard
                    self._self_delivered.clear()
                self._self_delivered.add(n)
                self._deliver_logged(head + str(n) + '"]', n, event, namespace, room, skip_sid)
        finally:
            self._waiting.pop(n, None)

    def _message(
        self,
        event: str,
        namespace: str,
        room: Any,
        skip_sid: Any,
        head: str,
        emit_id: str,
        owed: bool = False,
    ) -> str:
        """The emit as published on the Socket.IO channel (its offset appended by the
        script). `owed`: made after an outage; this node's listener neither waits for it
        nor counts it (its sockets here got it then, and are in `skip_sid`)."""
        message: dict[str, Any] = {
            "method": "emit",
            "host_id": "lvng",  # every node handles it, this one too
            "origin": self.host_id,
            "event": event,
            "namespace": namespace,
            "room": room,
            "skip_sid": skip_sid,
            "lvng_packet": head,
            "lvng_e": emit_id,
        }
        if owed:
            message["owed"] = True
        return json.dumps(message, separators=(",", ":"))

    def _here_and_owed(
        self,
        event: str,
        args: list[Any],
        namespace: str,
        room: Any,
        skip: list[Any],
        head: str,
        skip_sid: Any,
        emit_id: str,
    ) -> None:
        """An emit the cluster did not get (Redis went away, maybe after the write it tells
        was committed): this node's sockets get it now, with no offset (they keep their
        older one, so a recovery replays from there); the other nodes are owed it
        (core/cluster/owed.py), made once every node listens again and before the room's
        turn is handed on (`RedisCluster.unlock` owes that too, after this). Its id goes
        with it: whoever heard it already skips it (emit_ids.py)."""
        server = self.server
        if event not in server.recovery.ephemeral:  # a typing indicator is stale by then
            self._owe(event, namespace, room, skip, head, emit_id)
        if self._ids.heard_own(emit_id):
            return  # its script had run: this node's listener delivered it already
        self._ids.failed_here(emit_id)
        if namespace not in self.rooms:  # no socket here (python-socketio drops it then)
            return
        without = server.packet_class(packet.EVENT, namespace=namespace, data=[event, *args])
        to_room(self, server.delivery, without.encode(), namespace, room, skip_sid)

    def _owe(
        self, event: str, namespace: str, room: Any, skip: list[Any], head: str, emit_id: str
    ) -> None:
        """Owe the other nodes an emit this node's sockets get now (so they are skipped)."""
        owed, store = self.owed, self.server.recovery.store
        if owed is None or store is None:
            return
        rooms = [room] if isinstance(room, str) else list(room)
        here: set[Any] = set()
        if namespace in self.rooms:
            if all(self.eio_sid_from_sid(each, namespace) is not None for each in rooms):
                return  # to sockets of this node alone (`to=sid`): they have it
            here = {sid for sid, _ in self.get_participants(namespace, room)}
        skipped = sorted({*skip, *here})
        message = self._message(event, namespace, room, skipped, head, emit_id, owed=True)

        async def broadcast() -> None:
            await store.broadcast(
                rooms, head, json.dumps(skipped), message[:-1] + ',"lvng_n":', True, emit_id
            )

        owed.owe(f"{event} to {room}", broadcast)

    async def _handle_emit(self, message: Any) -> None:
        n = message.get("lvng_n")
        if n is None:
            await super()._handle_emit(message)
            return
        n = int(n)
        if self._repeated(message, n):
            return
        if message.get("origin") == self.host_id and not message.get("owed"):
            if n in self._self_delivered:
                self._self_delivered.discard(n)
                return
            future = self._waiting.pop(n, None)
            if future is None:
                if len(self._heard) > 10_000:  # the first runs of retried scripts (never
                    # asked for: their emit got the retry's offset), long gone
                    self._heard = {x for x in self._heard if x > n - 100_000}
                self._heard.add(n)
            elif not future.done():
                future.set_result(None)
        self._deliver_logged(
            message["lvng_packet"] + str(n) + '"]',
            n,
            message.get("event", ""),
            message.get("namespace") or "/",
            message.get("room"),
            message.get("skip_sid"),
        )

    def _repeated(self, message: Any, n: int) -> bool:
        """Whether this node has this emit already (emit_ids.py): heard under an earlier
        offset, or (its own) failed by Redis and delivered here then."""
        emit_id, origin = message.get("lvng_e"), message.get("origin")
        if emit_id is None or not isinstance(origin, str):
            return False
        if self._ids.hear(origin, emit_id):
            if origin != self.host_id or not self._ids.take_failed(emit_id):
                return False
        recovery = getattr(self.server, "recovery", None)
        if recovery is not None and n > recovery.seq:
            recovery.seq = n
        if origin == self.host_id:
            self._self_delivered.discard(n)
            future = self._waiting.pop(n, None)
            if future is not None and not future.done():
                future.set_result(None)  # its emit: delivered under the first offset
        return True

    def _deliver_logged(
        self, encoded: str, n: int, event: str, namespace: str, room: Any, skip_sid: Any
    ) -> None:
        """Log (for this node's recoveries) and deliver an emit of offset `n`."""
        server = self.server
        delivery = getattr(server, "delivery", None)
        if delivery is None or namespace not in self.rooms or room is None:
            return
        recovery = getattr(server, "recovery", None)
        if recovery is not None and recovery.enabled:
            if n > recovery.seq:
                recovery.seq = n
            recovery.record(event, room, encoded, skip_sid, self.rooms[namespace], seq=n)
        to_room(self, delivery, encoded, namespace, room, skip_sid)

    async def _redis_listen_with_retries(self) -> Any:  # pragma: no cover - live tests
        retry_sleep = self.LISTEN_RETRY_FIRST
        subscribed = False
        down = False
        while True:
            try:
                if not subscribed:
                    if down and self.cluster is not None:
                        # The rooms whose turns are owed are held again before this node
                        # listens: no other node takes a turn (its `settled` wants every
                        # listener) before what this node owes the room is told.
                        await self.cluster.hold_owed_turns()
                    self._redis_connect()
                    await self.pubsub.subscribe(self.channel)
                    subscribed = True
                    retry_sleep = self.LISTEN_RETRY_FIRST
                    if down:
                        down = False
                        log.warning("Socket.IO's Redis listener is subscribed again")
                async for message in self.pubsub.listen():
                    yield message
            except Exception as exc:  # noqa: BLE001 - Redis away: listen again soon
                if self.cluster is not None:
                    self.cluster.saw_redis_fail()  # no room turn before every node listens
                if not down:
                    down = True
                    log.warning(
                        "Socket.IO's Redis listener lost Redis (%s); retrying every %g s",
                        exc,
                        self.LISTEN_RETRY_MAX,
                    )
                subscribed = False
                await asyncio.sleep(retry_sleep)
                retry_sleep = min(retry_sleep * 2, self.LISTEN_RETRY_MAX)

"""The soak's users (bench/soak.py): python-socketio clients that do what users do, through
nginx, and keep the books the invariants are checked against.

Each `User` is one socket of one user from a loopback network of its own (127.0.N.1, so
nginx's `ip_hash` spreads them over the nodes), reconnecting by itself after a fault and
then recovering as a real client does: `channel:history` after the last message it heard,
`conversation:rejoin` with its last message id, `swarm:subscribe` after its last seq, the
call and the feeds joined again. What it hears live and what it recovers are kept apart.

A send is `acked` only when its ack said ok; an error ack (UNAVAILABLE while PostgreSQL
is away) is a `refused` send; a send whose ack never came (its node died) is retried with
the same `optimisticId` (the server deduplicates) and counted `unanswered` if no answer
ever comes.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import jwt
import socketio

SECRET = "soak-secret-" + "x" * 32
RETRIES = 6
WAIT = aiohttp.ClientTimeout(total=8)


def make_token(sub: str, org: str, customers: list[str], roles: list[str] | None = None) -> str:
    claims: dict[str, Any] = {"sub": sub, "org": org, "name": sub, "customers": customers}
    claims["exp"] = int(time.time()) + 7200
    if roles:
        claims["roles"] = roles
    return jwt.encode(claims, SECRET, algorithm="HS256")


@dataclass
class Books:
    """Everything the users did and heard, for the invariants."""

    acked: dict[str, str] = field(default_factory=dict)  # optimisticId → message id
    refused: Counter[str] = field(default_factory=Counter)  # error code → sends
    unanswered: int = 0
    deduplicated: int = 0  # a retry the server answered with `duplicate: true`
    segments_acked: set[tuple[str, str]] = field(default_factory=set)  # (user, segmentId)
    segments_refused: Counter[str] = field(default_factory=Counter)
    segments_unanswered: int = 0
    swarm_acked: set[str] = field(default_factory=set)  # eventId
    swarm_refused: Counter[str] = field(default_factory=Counter)
    swarm_unanswered: int = 0

    def refusal(self, what: str) -> None:
        """When refusals of one kind (`segment:NOT_IN_ROOM`) came: the seconds (UTC) that
        had one, the first 100, to set beside the faults' times."""
        now = time.strftime("%H:%M:%S", time.gmtime())
        seconds = self.refused_when.setdefault(what, [])
        if (not seconds or seconds[-1] != now) and len(seconds) < 100:
            seconds.append(now)

    reconnects: int = 0
    refused_when: dict[str, list[str]] = field(default_factory=dict)  # what: seconds
    back_after: list[float] = field(default_factory=list)  # s from a drop to rejoined
    errors: Counter[str] = field(default_factory=Counter)  # other events' error codes


class User:
    """One socket: channels, conversations, typing, presence, a call, swarm, feeds."""

    def __init__(
        self,
        url: str,
        network: int,
        name: str,
        org: str,
        books: Books,
        *,
        channels: list[str] = (),  # type: ignore[assignment]
        conversations: list[tuple[str, str]] = (),  # type: ignore[assignment]
        call: str | None = None,
        swarm: str | None = None,
        feeds: list[str] = (),  # type: ignore[assignment]
        customers: list[str] = (),  # type: ignore[assignment]
        reconnect: bool = True,
    ) -> None:
        self.url, self.network, self.name, self.org, self.books = url, network, name, org, books
        self.channels, self.conversations = list(channels), list(conversations)
        self.call, self.swarm, self.feeds = call, swarm, list(feeds)
        self.token = make_token(name, org, list(customers))
        # What this socket heard: per room, message ids in arrival order (live) and the
        # ones recovered after a reconnect; per connection, live ids (for duplicates).
        self.live: dict[str, list[str]] = {}
        self.recovered: dict[str, set[str]] = {}
        self.duplicates = 0
        self.epoch_seen: set[str] = set()
        self.swarm_seqs: list[int] = []
        self.feed_items: dict[str, list[str]] = {}
        self.unread: dict[str, int] = {}  # the last `activity:subscribed` count per feed
        self.subscribed = asyncio.Event()
        self.ready = asyncio.Event()
        self.connected_once = False
        self.closing = False
        self.http: aiohttp.ClientSession | None = None
        self.sio: socketio.AsyncClient | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.reconnect = reconnect
        self.dropped_at: float | None = None

    # --- connection --------------------------------------------------------------------

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(local_addr=(f"127.0.{self.network}.1", 0))
        self.http = aiohttp.ClientSession(connector=connector)
        sio = socketio.AsyncClient(
            reconnection=self.reconnect,
            reconnection_attempts=0,
            reconnection_delay=0.5,
            reconnection_delay_max=2,
            http_session=self.http,
        )
        self.sio = sio
        sio.on("connect", self._on_connect)
        sio.on("disconnect", self._on_disconnect)
        # A room event carries the recovery offset as its last argument (contract section
        # 12); these clients rejoin by hand, as the reference's manual path does.
        sio.on("message:new", self._on_message)
        sio.on("swarm:update", self._on_swarm_update)
        sio.on("swarm:state", self._on_swarm_state)
        sio.on("conversation:rejoined", self._on_rejoined)
        sio.on("activity:new", self._on_activity)
        sio.on("activity:subscribed", self._on_activity_subscribed)
        await sio.connect(
            self.url, auth={"token": self.token}, transports=["websocket"], wait_timeout=20
        )
        await asyncio.wait_for(self.ready.wait(), 30)

    async def _on_connect(self) -> None:
        self.epoch_seen = set()
        task = asyncio.create_task(self._enter())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _on_disconnect(self, *_: Any) -> None:
        self.ready.clear()
        self.dropped_at = time.monotonic()

    async def _enter(self) -> None:
        """Join everything (again) and recover what was missed while away."""
        again = self.connected_once
        if again:
            self.books.reconnects += 1
        try:
            for channel in self.channels:
                await self._call("channel:join", {"channelId": channel})
                if again:
                    await self._recover_channel(channel)
            for customer, conversation in self.conversations:
                room = f"conv:{conversation}"
                heard = self.live.get(room) or []
                if again:
                    data: dict[str, Any] = {"conversationId": conversation, "customerId": customer}
                    if heard:
                        data["lastMessageId"] = heard[-1]
                    await self._call("conversation:rejoin", data)
                else:
                    payload = {"conversationId": conversation, "customerId": customer}
                    await self._call("conversation:join", payload)
            if self.call is not None:
                await self._call("call:join", {"roomName": self.call})
            if self.swarm is not None:
                data = {"sessionId": self.swarm}
                if self.swarm_seqs:
                    data["afterSeq"] = max(self.swarm_seqs)
                await self._call("swarm:subscribe", data)
            for customer in self.feeds:
                await self._call("activity:subscribe", {"customerId": customer})
        except Exception:  # noqa: BLE001 - the socket went away meanwhile: the next connect retries
            return
        if again and self.dropped_at is not None:
            self.books.back_after.append(round(time.monotonic() - self.dropped_at, 2))
        self.dropped_at = None
        self.connected_once = True
        self.ready.set()

    async def _recover_channel(self, channel: str) -> None:
        room = f"ch:{channel}"
        heard = self.live.get(room) or []
        after: str | None = heard[-1] if heard else None
        while True:
            data: dict[str, Any] = {"channelId": channel, "limit": 100}
            if after is not None:
                data["after"] = after
            ack = await self._call("channel:history", data)
            messages = ack.get("messages") or []
            for message in messages:
                self.recovered.setdefault(room, set()).add(message["id"])
            if not ack.get("hasMore") or not messages or after is None:
                return
            after = messages[-1]["id"]

    async def _call(self, event: str, data: Any, timeout: float = 8) -> dict[str, Any]:
        assert self.sio is not None
        ack: dict[str, Any] = await self.sio.call(event, data, timeout=timeout)
        if not ack.get("ok"):
            self.books.errors[f"{event}:{(ack.get('error') or {}).get('code')}"] += 1
        return ack

    # --- what it hears -----------------------------------------------------------------

    async def _on_message(self, message: dict[str, Any], *_offset: str) -> None:
        room = (
            f"ch:{message['channelId']}"
            if message.get("channelId")
            else f"conv:{message['conversationId']}"
        )
        if message["id"] in self.epoch_seen:
            self.duplicates += 1
        self.epoch_seen.add(message["id"])
        self.live.setdefault(room, []).append(message["id"])

    async def _on_rejoined(self, data: dict[str, Any], *_offset: str) -> None:
        room = f"conv:{data.get('conversationId')}"
        for message in data.get("missed_messages") or []:
            self.recovered.setdefault(room, set()).add(message["id"])

    async def _on_swarm_update(self, update: dict[str, Any], *_offset: str) -> None:
        self.swarm_seqs.append(int(update["seq"]))

    async def _on_swarm_state(self, state: dict[str, Any], *_offset: str) -> None:
        self.swarm_seqs.extend(int(u["seq"]) for u in state.get("updates") or [])

    async def _on_activity(self, item: dict[str, Any], *_offset: str) -> None:
        self.feed_items.setdefault(item["customerId"], []).append(item["id"])

    async def _on_activity_subscribed(self, data: dict[str, Any], *_offset: str) -> None:
        self.unread[data["customerId"]] = int(data["unreadCount"])
        self.subscribed.set()
        items = self.feed_items.setdefault(data["customerId"], [])
        items.extend(item["id"] for item in reversed(data.get("items") or []))

    # --- what it does ------------------------------------------------------------------

    async def _wait_ready(self, seconds: float = 15) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.ready.wait(), seconds)
        return self.ready.is_set()

    async def send(self, target: dict[str, Any]) -> None:
        """One message, retried with its optimisticId until an answer comes."""
        oid = f"soak-{uuid.uuid4().hex[:16]}"
        data = {**target, "content": f"soak {oid}", "optimisticId": oid}
        for _ in range(RETRIES):
            if self.closing or not await self._wait_ready():
                continue
            try:
                assert self.sio is not None
                ack = await self.sio.call("message:send", data, timeout=8)
            except Exception:  # noqa: BLE001 - no answer (the node died, the socket dropped)
                await asyncio.sleep(0.5)
                continue
            if ack.get("ok"):
                self.books.acked[oid] = ack["id"]
                self.books.deduplicated += bool(ack.get("duplicate"))
            else:
                code = (ack.get("error") or {}).get("code", "?")
                self.books.refused[code] += 1
                self.books.refusal(f"message:{code}")
            return
        self.books.unanswered += 1

    async def transcribe(self, n: int) -> None:
        if self.call is None or not self.ready.is_set():
            return
        segment_id = f"seg-{self.name}-{n}"
        segment = {"speaker": self.name, "text": f"line {n}", "isFinal": True}
        data = {"roomName": self.call, "segment": {**segment, "segmentId": segment_id}}
        try:
            assert self.sio is not None
            ack = await self.sio.call("call:transcription", data, timeout=8)
        except Exception:  # noqa: BLE001 - live audio is not resent
            self.books.segments_unanswered += 1
            return
        if ack.get("ok"):
            self.books.segments_acked.add((self.name, segment_id))
        else:
            code = (ack.get("error") or {}).get("code", "?")
            self.books.segments_refused[code] += 1
            self.books.refusal(f"segment:{code}")

    async def chatter(self) -> None:
        """Typing, a presence change, a read of a feed: the events around the sends."""
        if not self.ready.is_set():
            return
        with contextlib.suppress(Exception):
            if self.channels:
                target = {"channelId": random.choice(self.channels)}
                await self._call("typing:start", target)
                await self._call("typing:stop", target)
            status = random.choice(["online", "away", "busy", "online"])
            await self._call("presence:update", {"status": status})
            for customer in self.feeds:
                items = self.feed_items.get(customer) or []
                if items:
                    await self._call("activity:read", {"customerId": customer, "itemId": items[-1]})

    async def unread_now(self, customer: str) -> int | None:
        """The server's unread count for this user's feed, from a fresh subscribe."""
        self.subscribed.clear()
        self.unread.pop(customer, None)
        try:
            await self._call("activity:unsubscribe", {"customerId": customer})
            await self._call("activity:subscribe", {"customerId": customer})
            await asyncio.wait_for(self.subscribed.wait(), 10)
        except Exception:  # noqa: BLE001 - reported as unchecked
            return None
        return self.unread.get(customer)

    async def close(self) -> None:
        self.closing = True
        for task in list(self.tasks):
            task.cancel()
        if self.sio is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.sio.disconnect(), 10)
        if self.http is not None:
            await self.http.close()


class Publisher:
    """A swarm agent publishing a session's progress over HTTP through nginx with a
    `service` token; a publish without an answer is retried with its eventId."""

    def __init__(self, url: str, org: str, session: str, books: Books) -> None:
        self.url, self.session, self.books = url, session, books
        self.token = make_token("soak-agent", org, [], roles=["service"])
        self.n = 0

    async def publish(self, http: aiohttp.ClientSession) -> None:
        self.n += 1
        kind = "session.started" if self.n == 1 else ("step.started", "step.completed")[self.n % 2]
        event_id = f"ev-{self.session}-{self.n}"
        body = {"type": kind, "agent": "soak", "stepId": f"step{self.n // 2}", "eventId": event_id}
        url = f"{self.url}/api/v1/swarm/sessions/{self.session}/events"
        headers = {"Authorization": f"Bearer {self.token}"}
        for _ in range(RETRIES):
            try:
                async with http.post(url, json=body, headers=headers, timeout=WAIT) as resp:
                    if resp.status in (200, 201):
                        self.books.swarm_acked.add(event_id)
                        return
                    if resp.status < 500 and resp.status != 429:
                        self.books.swarm_refused[str(resp.status)] += 1
                        return
                    code = str(resp.status)
            except (aiohttp.ClientError, TimeoutError):
                code = "no answer"
            await asyncio.sleep(0.5)
        self.books.swarm_refused[code] += 1

"""`python -m bench --sections soak`: two LVNG nodes behind nginx (deploy/'s set-up), a
PostgreSQL and a Redis of the soak's own, users of every domain (bench/soak_users.py), and
faults on a schedule: a node SIGKILLed and restarted, a node SIGTERMed and restarted,
Redis stopped and started, PostgreSQL stopped and started. Then the invariants, under
`soak` in the JSON: what was acked and is stored and heard, duplicates, ghosts after the
node TTL, swarm seq gaps, unread counts against the stored feed, RSS, tracebacks.

The schedule repeats every `CYCLE` seconds (or once over a shorter run); the nodes run
with a short node TTL and offline grace so the ghost check need not wait long.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import shutil
import signal
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import socketio

from bench import soak_services as services
from bench.soak_users import SECRET, Books, Publisher, User, make_token

CYCLE = 60.0
NODE_TTL = 3.0
GRACE = 1.0
ORG = "soak"
CUSTOMERS = ["cust_soak1", "cust_soak2"]
CHANNELS = {"general": range(0, 8), "random": range(0, 4)}
CONVERSATIONS = {("cust_soak1", "conv_soak1"): range(4, 8), ("cust_soak2", "conv_soak2"): (8, 9)}
CALLS = {"standup": (0, 1), "sync": (8, 9)}
SWARM, SWARM_USERS = "swarm_soak1", (2, 3, 10, 11)
FEEDS = {"cust_soak1": (4, 5, 10), "cust_soak2": (8, 11)}
USERS = 12


def schedule(seconds: float) -> list[tuple[float, str, float]]:
    """(offset, kind, seconds down) of every fault over a run of `seconds`."""
    cycle = min(CYCLE, seconds)
    down = max(4.0, 0.1 * cycle)
    plan: list[tuple[float, str, float]] = []
    for k in range(max(1, int(seconds // cycle))):
        base = k * cycle
        # The SIGKILL last: its ghosts are checked after the run, and a Redis that restarts
        # empty would have forgotten them (hiding a ghost) had it come after.
        plan += [
            (base + 0.08 * cycle, "redis", down),
            (base + 0.30 * cycle, "postgres", down),
            (base + 0.52 * cycle, "sigterm", 0.0),
            (base + 0.72 * cycle, "sigkill", 2.0),
        ]
    return plan


class Soak:
    def __init__(self, seconds: float, root: Path, progress: Callable[[str], None]) -> None:
        self.seconds, self.root, self.progress = seconds, root, progress
        self.books = Books()
        self.faults: list[dict[str, Any]] = []
        self.rss: list[dict[str, Any]] = []
        self.started = time.monotonic()
        self.redis = services.OwnRedis(root / "redis")
        self.pg = services.OwnPostgres()
        self.nodes: list[services.Node] = []
        self.nginx: services.Nginx | None = None
        self.users: list[User] = []
        self.leavers: list[User] = []  # gone for good before a SIGKILL (bench/soak.py)

    def at(self) -> float:
        return round(time.monotonic() - self.started, 1)

    # --- set-up ------------------------------------------------------------------------

    def start_services(self) -> None:
        import os

        self.redis.start()
        self.pg.start()
        env = {k: v for k, v in os.environ.items() if not k.startswith("LVNG_")}
        env.update(
            {
                "LVNG_JWT_SECRET": SECRET,
                "LVNG_DATABASE_URL": self.pg.url,
                "LVNG_REDIS_URL": self.redis.url,
                "LVNG_CLUSTER_NAME": "soak",
                "LVNG_NODE_TTL": str(NODE_TTL),
                "LVNG_STOP_DRAIN_SECONDS": "2",
                "LVNG_LOG_LEVEL": "WARNING",
                "LVNG_ENTRY_POINTS": "false",
                "LVNG_RATE_LIMIT_EVENTS": "1000000",
                "LVNG_RATE_LIMIT_USER_EVENTS": "1000000",
                "LVNG_MAX_CONNECTIONS_PER_USER": "1000",
                "BENCH_MAX_SECONDS": str(int(self.seconds) + 600),
                "PYTHONPATH": str(services.REPO),
            }
        )
        services.migrate(env, self.root)
        for name in ("a", "b"):
            node = services.Node(name, self.root / f"node-{name}", env)
            node.workdir.mkdir(parents=True, exist_ok=True)
            (node.workdir / "lvng.toml").write_text(
                f"[plugins.presence]\noffline_grace_seconds = {GRACE}\n"
            )
            self.nodes.append(node.start())
        self.nginx = services.Nginx(self.root / "nginx", self.nodes).start()

    async def start_users(self) -> None:
        assert self.nginx is not None
        for i in range(USERS):
            user = User(
                self.nginx.url,
                10 + i,
                f"soak{i}",
                ORG,
                self.books,
                channels=[c for c, members in CHANNELS.items() if i in members],
                conversations=[cc for cc, members in CONVERSATIONS.items() if i in members],
                call=next((c for c, members in CALLS.items() if i in members), None),
                swarm=SWARM if i in SWARM_USERS else None,
                feeds=[c for c, members in FEEDS.items() if i in members],
                customers=CUSTOMERS,
            )
            await user.start()
            self.users.append(user)

    # --- faults and samples ------------------------------------------------------------

    async def inject(self) -> None:
        for n, (offset, kind, down) in enumerate(schedule(self.seconds)):
            await asyncio.sleep(max(0.0, offset - (time.monotonic() - self.traffic_start)))
            node = self.nodes[n // 4 % 2] if kind == "sigkill" else self.nodes[(n // 4 + 1) % 2]
            if kind == "sigkill":
                await self.leave_before_kill(node, n, offset)
            fault: dict[str, Any] = {"kind": kind, "at_s": self.at(), "at": clock()}
            if kind in ("sigkill", "sigterm"):
                fault["node"] = node.name
                sig = signal.SIGKILL if kind == "sigkill" else signal.SIGTERM
                await asyncio.to_thread(node.signal, sig)
                fault["stopped_s"] = self.at()
                await asyncio.sleep(down)
                await asyncio.to_thread(node.start)
            elif kind == "redis":
                await asyncio.to_thread(self.redis.stop)
                await asyncio.sleep(down)
                await asyncio.to_thread(self.redis.start)
            else:
                await asyncio.to_thread(self.pg.stop)
                await asyncio.sleep(down)
                await asyncio.to_thread(self.pg.start)
            fault["back_s"], fault["back"] = self.at(), clock()
            self.faults.append(fault)
            self.progress(f"soak fault {kind} {fault.get('node', '')} at {fault['at_s']} s")

    async def leave_before_kill(self, node: services.Node, n: int, offset: float) -> None:
        """Two users of the node about to be SIGKILLed who never come back: one in a call
        whose socket dies with the node, one who closed its socket just before, so the
        node dies during its offline grace. Neither may be shown afterwards (ghosts)."""
        await asyncio.sleep(max(0.0, offset - 3 - (time.monotonic() - self.traffic_start)))
        gone = User(node.url, 200, f"gone{n}", ORG, self.books, call="standup")
        grace = User(node.url, 200, f"grace{n}", ORG, self.books)
        for user in (gone, grace):
            user.reconnect = False  # gone for good
            with contextlib.suppress(Exception):
                await user.start()
            self.leavers.append(user)
        await asyncio.sleep(max(0.0, offset - 0.3 - (time.monotonic() - self.traffic_start)))
        await grace.close()
        await asyncio.sleep(max(0.0, offset - (time.monotonic() - self.traffic_start)))

    async def sample(self) -> None:
        while True:
            self.rss.append(
                {"t_s": self.at(), **{n.name: services.rss_kib(n.pid or 0) for n in self.nodes}}
            )
            await asyncio.sleep(2)

    # --- traffic -----------------------------------------------------------------------

    async def user_loop(self, user: User, until: float) -> None:
        targets: list[dict[str, Any]] = [{"channelId": c} for c in user.channels]
        targets += [{"conversationId": v, "customerId": c} for c, v in user.conversations]
        n = 0
        while time.monotonic() < until:
            n += 1
            if targets:
                await user.send(random.choice(targets))
            if user.call is not None:
                await user.transcribe(n)
            if n % 4 == 0:
                await user.chatter()
            await asyncio.sleep(random.uniform(0.3, 0.8))

    async def publish_loop(self, until: float) -> None:
        assert self.nginx is not None
        publisher = Publisher(self.nginx.url, ORG, SWARM, self.books)
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < until:
                await publisher.publish(http)
                await asyncio.sleep(0.5)

    async def traffic(self) -> None:
        self.traffic_start = time.monotonic()
        until = self.traffic_start + self.seconds
        jobs = [self.user_loop(user, until) for user in self.users]
        await asyncio.gather(*jobs, self.publish_loop(until), self.inject())

    # --- invariants --------------------------------------------------------------------

    async def settle(self) -> list[str]:
        """Every user back and recovered, then a moment for the last deliveries."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(u.ready.is_set() for u in self.users):
            await asyncio.sleep(0.2)
        await asyncio.sleep(3)
        return [u.name for u in self.users if not u.ready.is_set()]

    async def check_store(self, unrecovered: list[str]) -> dict[str, Any]:
        db = await asyncpg.connect(self.pg.url)
        try:
            rows = await db.fetch(
                "SELECT message_id, optimistic_id, channel_id, conversation_id FROM "
                "messages_message WHERE organization_id = $1 ORDER BY seq",
                ORG,
            )
            segments = await db.fetch("SELECT user_id, segment_id FROM calls_segment")
            swarm = await db.fetch(
                "SELECT seq, event_id FROM swarm_update WHERE session_id = $1 ORDER BY seq", SWARM
            )
            # Every stored message of a customer conversation makes a feed item.
            no_item = await db.fetch(
                "SELECT m.message_id FROM messages_message m WHERE m.organization_id = $1 AND "
                "m.conversation_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM activity_item i "
                "WHERE i.subject_type = 'message' AND i.subject_id = m.message_id)",
                ORG,
            )
            unread_checks: list[dict[str, Any]] = []
            for customer, members in FEEDS.items():
                for i in members:
                    user = self.users[i]
                    if user.name in unrecovered:
                        continue
                    said = await user.unread_now(customer)
                    stored = await db.fetchval(
                        "SELECT count(*) FROM activity_item i WHERE i.organization_id = $1 "
                        "AND i.customer_id = $2 AND (i.actor_id IS NULL OR i.actor_id <> $3) "
                        "AND i.seq > coalesce((SELECT item_seq FROM activity_read r WHERE "
                        "r.customer_id = $2 AND r.user_id = $3), 0)",
                        ORG, customer, user.name,
                    )  # fmt: skip
                    unread_checks.append({"user": user.name, "customer": customer, "said": said})
                    unread_checks[-1]["stored"] = stored
        finally:
            await db.close()
        by_oid: dict[str, list[str]] = {}
        rooms: dict[str, list[str]] = {}
        for row in rows:
            if (row["optimistic_id"] or "").startswith("soak-"):
                by_oid.setdefault(row["optimistic_id"], []).append(row["message_id"])
            room = (
                f"ch:{row['channel_id']}" if row["channel_id"] else f"conv:{row['conversation_id']}"
            )
            rooms.setdefault(room, []).append(row["message_id"])
        stored_ids = {row["message_id"] for row in rows}
        not_stored = [o for o, mid in self.books.acked.items() if mid not in stored_ids]
        not_delivered: list[dict[str, Any]] = []
        for user in self.users:
            if user.name in unrecovered:
                continue
            joined = [f"ch:{c}" for c in user.channels] + [
                f"conv:{v}" for _, v in user.conversations
            ]
            for room in joined:
                heard = set(user.live.get(room, [])) | user.recovered.get(room, set())
                missing = [m for m in rooms.get(room, []) if m not in heard]
                if missing:
                    when = sorted(sent_at(m) for m in missing)
                    not_delivered.append({"user": user.name, "room": room, "count": len(missing)})
                    not_delivered[-1].update(first=when[0], last=when[-1], missing=missing[:5])
        seg_rows = Counter_of((r["user_id"], r["segment_id"]) for r in segments)
        seqs = [int(r["seq"]) for r in swarm]
        top = max(seqs, default=0)
        subscriber_gaps = {
            self.users[i].name: sorted(set(range(1, top + 1)) - set(self.users[i].swarm_seqs))[:10]
            for i in SWARM_USERS
            if self.users[i].name not in unrecovered
        }
        swarm_events = {r["event_id"] for r in swarm}
        return {
            "messages_stored": len(rows),
            "lost_not_stored": len(not_stored),
            "lost_not_delivered": sum(d["count"] for d in not_delivered),
            "not_delivered": not_delivered[:10],
            "duplicates_stored": sum(len(ids) - 1 for ids in by_oid.values()),
            "duplicates_delivered": sum(u.duplicates for u in self.users),
            "segments_stored": len(segments),
            "segments_lost": len(self.books.segments_acked - set(seg_rows)),
            "segments_duplicated": sum(n - 1 for n in seg_rows.values()),
            "swarm_stored": len(seqs),
            "swarm_lost": len(self.books.swarm_acked - swarm_events),
            "swarm_stored_gaps": sorted(set(range(1, top + 1)) - set(seqs))[:10],
            "swarm_subscriber_gaps": {k: v for k, v in subscriber_gaps.items() if v},
            "activity_items_missing": len(no_item),
            "activity_items_missing_at": [sent_at(r["message_id"]) for r in no_item][:20],
            "unread": unread_checks,
            "unread_mismatches": sum(1 for c in unread_checks if c["said"] != c["stored"]),
        }

    async def check_ghosts(self) -> dict[str, Any]:
        """Everyone gone; after the node TTL and the grace, nobody of the soak is shown."""
        await asyncio.gather(*(user.close() for user in self.users + self.leavers))
        self.progress("soak: everyone gone; the ghost check follows the node TTL and grace")
        await asyncio.sleep(NODE_TTL + GRACE + 3)
        names = {u.name for u in self.users + self.leavers}
        ghosts: list[dict[str, Any]] = []
        for node in self.nodes:
            sio = socketio.AsyncClient(reconnection=False)
            await sio.connect(
                node.url,
                auth={"token": make_token(f"observer-{node.name}", ORG, CUSTOMERS)},
                transports=["websocket"],
                wait_timeout=20,
            )
            try:
                listed = await sio.call("presence:list", {}, timeout=10)
                for entry in listed.get("users") or []:
                    if entry["userId"] in names and entry["status"] != "offline":
                        ghosts.append({"node": node.name, "presence": entry["userId"]})
                for room in CALLS:
                    joined = await sio.call("call:join", {"roomName": room}, timeout=10)
                    for p in joined.get("participants") or []:
                        if p["userId"] in names:
                            ghosts.append({"node": node.name, "call": room, "user": p["userId"]})
                    await sio.call("call:leave", {"roomName": room}, timeout=10)
            finally:
                await sio.disconnect()
        return {"ghosts": len(ghosts), "ghost_list": ghosts[:20]}

    def tracebacks(self) -> list[str]:
        found: list[str] = []
        for node in self.nodes:
            lines = node.log.read_text(errors="replace").splitlines()
            for n, line in enumerate(lines):
                if line.startswith("Traceback"):
                    tail = next((x for x in lines[n + 1 : n + 80] if x and x[0] != " "), "?")
                    found.append(f"{node.name}: {tail[:300]}")
        return found

    def close(self) -> None:
        if self.nginx is not None:
            self.nginx.stop()
        for node in self.nodes:
            node.signal(signal.SIGINT)
        self.redis.stop()
        self.pg.remove()


def clock(at: float | None = None) -> str:
    """Wall-clock time of day with milliseconds (UTC), to set losses beside faults."""
    at = time.time() if at is None else at
    return time.strftime("%H:%M:%S", time.gmtime(at)) + f".{int(at % 1 * 1000):03d}"


def sent_at(message_id: str) -> str:
    """When a message was made: its id is `msg_<uuid7>`, milliseconds in the first 48 bits."""
    return clock(int(message_id[4:].replace("-", "")[:12], 16) / 1000)


def Counter_of(items: Any) -> dict[Any, int]:  # noqa: N802
    counts: dict[Any, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    return counts


async def run(
    seconds: float, progress: Callable[[str], None], keep: bool = False
) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="lvng-soak-"))
    soak = Soak(seconds, root, progress)
    try:
        await asyncio.to_thread(soak.start_services)
        await soak.start_users()
        progress(f"soak: {len(soak.users)} users on 2 nodes, {seconds:.0f} s of faults")
        sampler = asyncio.create_task(soak.sample())
        try:
            await soak.traffic()
            unrecovered = await soak.settle()
            progress(f"soak: traffic over, {len(unrecovered)} users not back; checking the store")
            store = await soak.check_store(unrecovered)
            ghosts = await soak.check_ghosts()
        finally:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
        books = soak.books
        report: dict[str, Any] = {
            "seconds": seconds,
            "users": len(soak.users),
            "faults": soak.faults,
            "fault_kinds": sorted({f["kind"] for f in soak.faults}),
            "acked": len(books.acked),
            "refused": dict(books.refused),
            "unanswered": books.unanswered,
            "deduplicated_retries": books.deduplicated,
            "reconnects": books.reconnects,
            "reconnect_s_max": max(books.back_after, default=None),
            "reconnect_s_p50": sorted(books.back_after)[len(books.back_after) // 2]
            if books.back_after
            else None,
            "segments_acked": len(books.segments_acked),
            "segments_refused": dict(books.segments_refused),
            "refused_when": books.refused_when,
            "segments_unanswered": books.segments_unanswered,
            "swarm_acked": len(books.swarm_acked),
            "swarm_refused": dict(books.swarm_refused),
            "other_errors": dict(books.errors),
            "unrecovered_users": unrecovered,
            "gone_for_good": [u.name for u in soak.leavers],
            **store,
            **ghosts,
            "rss_kib": soak.rss,
            "tracebacks": soak.tracebacks(),
        }
        report["lost"] = report["lost_not_stored"] + report["lost_not_delivered"]
        report["lost"] += report["segments_lost"] + report["swarm_lost"]
        report["duplicates"] = report["duplicates_stored"] + report["duplicates_delivered"]
        report["duplicates"] += report["segments_duplicated"]
        report["swarm_seq_gaps"] = len(report["swarm_stored_gaps"]) + sum(
            len(v) for v in report["swarm_subscriber_gaps"].values()
        )
        return report
    finally:
        await asyncio.to_thread(soak.close)
        if keep:
            progress(f"soak logs kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)

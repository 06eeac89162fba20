"""The courier: a worker on every node that sends the outbox's pending deliveries.

Per (endpoint, ordering key), only the oldest pending row is ever sent, and only by the
node that holds its lease: one conditional UPDATE (`state = pending` and no live lease)
sets `lease_owner` to this node until `timeout_seconds` plus a margin. So one room's
events reach an endpoint in order, two nodes never send one row at once, and a node that
died (SIGKILL) leaves leases that simply run out. At SIGTERM the courier lets the POSTs in
flight finish (up to `timeout_seconds`, bounded), then hands its leases back.

Each (endpoint, room) is its own task, at most `concurrency_per_endpoint` of them per
endpoint: a slow or dead endpoint holds only its own slots, never another endpoint's or a
publisher's (the outbox hook never waits for a POST). A 2xx marks the row delivered; any
other answer, a timeout or a refused connection schedules a retry after
`retry_initial_seconds` doubling per attempt up to `retry_max_seconds`, with ±20% jitter;
`give_up_after_seconds` after it became pending the row is kept as failed and the room's
next event goes.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import aiohttp
from tortoise.expressions import Q
from tortoise.functions import Count, Min

from core.api import new_id, now_utc, store_unavailable
from plugins.webhooks.models import DELIVERED, FAILED, PENDING, WebhookDelivery
from plugins.webhooks.signing import headers

if TYPE_CHECKING:
    from core.api import Platform
    from plugins.webhooks.metrics import WebhooksMetrics
    from plugins.webhooks.settings import Endpoint, WebhooksSettings

log = logging.getLogger("lvng.webhooks")

LEASE_MARGIN_SECONDS = 2.0
ROUND_LIMIT = 500  # due rows looked at per round
GAUGES_EVERY_SECONDS = 1.0  # pending and oldest age, read at most this often
PRUNE_EVERY_SECONDS = 60.0  # delivered rows past keep_delivered_seconds, deleted
Group = tuple[str, str]  # (endpoint, ordering key)


def _free(now: datetime) -> Q:
    return Q(lease_until__isnull=True) | Q(lease_until__lt=now)


class Courier:
    def __init__(
        self, platform: Platform, settings: WebhooksSettings, metrics: WebhooksMetrics
    ) -> None:
        self.platform = platform
        self.settings = settings
        self.metrics = metrics
        self.owner = new_id("courier")
        self.endpoints: dict[str, Endpoint] = {e.key: e for e in settings.endpoints}
        self._wake = asyncio.Event()
        self._stopping = False
        self._outage = False  # the database is unreachable: said once, not per round
        self._loop: asyncio.Task[Any] | None = None
        self._groups: dict[Group, asyncio.Task[Any]] = {}
        self._session: aiohttp.ClientSession | None = None
        self._gauges_read_at = 0.0
        self._pruned_at = time.monotonic()

    # --- life ------------------------------------------------------------------------

    def start(self) -> None:
        if self.endpoints:
            self._loop = self.platform.tasks.spawn(self._run(), name="webhooks courier")
        else:
            self._loop = self.platform.tasks.spawn(self._gauges_only(), name="webhooks gauges")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        """SIGTERM: no new sends, the ones in flight finish (bounded), leases handed back."""
        self._stopping = True
        self._wake.set()
        if self._loop is not None:
            self._loop.cancel()
            await asyncio.gather(self._loop, return_exceptions=True)
        groups = list(self._groups.values())
        if groups:
            await asyncio.wait(groups, timeout=min(self.settings.timeout_seconds, 5.0))
            for task in groups:
                task.cancel()
            await asyncio.gather(*groups, return_exceptions=True)
        try:
            returned = await WebhookDelivery.filter(lease_owner=self.owner, state=PENDING).update(
                lease_owner=None, lease_until=None
            )
            if returned:
                log.info("webhooks: %d lease(s) handed back at shutdown", returned)
        except Exception:  # noqa: BLE001 - the leases run out anyway
            log.exception("webhooks: leases not handed back; they run out by themselves")
        if self._session is not None:
            await self._session.close()

    # --- the rounds ------------------------------------------------------------------

    async def _gauges_only(self) -> None:
        while True:
            try:
                await self._read_gauges()  # rows left by endpoints since removed
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the next read tries again
                self._failed("the outbox's gauges could not be read", exc)
            await asyncio.sleep(max(self.settings.poll_seconds, 5.0))

    async def _run(self) -> None:
        self._session = aiohttp.ClientSession()
        while not self._stopping:
            self._wake.clear()
            try:
                await self._round()
                if time.monotonic() - self._gauges_read_at >= GAUGES_EVERY_SECONDS:
                    await self._read_gauges()
                if time.monotonic() - self._pruned_at >= self.prune_every:
                    await self.prune()
                if self._outage:
                    self._outage = False
                    log.warning("webhooks: the database answers again; deliveries resume")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the next round tries again
                self._failed("a courier round failed", exc)
            try:
                await asyncio.wait_for(self._wake.wait(), self.settings.poll_seconds)
            except TimeoutError:
                pass

    def _failed(self, what: str, exc: Exception) -> None:
        """A round that failed: an outage of the database is one line while it lasts (the
        rows wait in the outbox); anything else is a bug, with its traceback."""
        if not store_unavailable(exc):
            log.exception("webhooks: %s", what)
        elif not self._outage:
            self._outage = True
            log.warning(
                "webhooks: %s: the database is unavailable (%s: %s); pending deliveries wait",
                what,
                type(exc).__name__,
                exc,
            )

    @property
    def prune_every(self) -> float:
        return min(PRUNE_EVERY_SECONDS, max(self.settings.keep_delivered_seconds, 1.0))

    async def prune(self) -> int:
        """Delete delivered rows older than `keep_delivered_seconds` (every node may: the
        same statement, harmless twice)."""
        self._pruned_at = time.monotonic()
        keep = self.settings.keep_delivered_seconds
        if not keep:
            return 0
        cutoff = now_utc() - timedelta(seconds=keep)
        return int(await WebhookDelivery.filter(state=DELIVERED, finished_at__lt=cutoff).delete())

    async def _read_gauges(self) -> None:
        self._gauges_read_at = time.monotonic()
        found = (
            await WebhookDelivery.filter(state=PENDING)
            .annotate(n=Count("id"), oldest=Min("pending_since"))
            .values("n", "oldest")
        )
        n = found[0]["n"] if found else 0
        oldest = found[0]["oldest"] if found else None
        self.metrics.pending.set(n or 0)
        age = (now_utc() - oldest).total_seconds() if isinstance(oldest, datetime) else 0.0
        self.metrics.oldest_pending_age.set(max(age, 0.0))

    async def _round(self) -> None:
        now = now_utc()
        heads = (
            await WebhookDelivery.filter(state=PENDING, endpoint__in=list(self.endpoints))
            .group_by("endpoint", "ordering_key")
            .annotate(head=Min("id"))
            .values_list("head", flat=True)
        )
        if not heads:
            return
        due = (
            await WebhookDelivery.filter(id__in=list(heads), next_at__lte=now)
            .filter(_free(now))
            .order_by("next_at", "id")
            .limit(ROUND_LIMIT)
        )
        busy: dict[str, int] = {}
        for group in self._groups:
            busy[group[0]] = busy.get(group[0], 0) + 1
        for row in due:
            group = (row.endpoint, row.ordering_key)
            if self._stopping or group in self._groups:
                continue
            if busy.get(row.endpoint, 0) >= self.settings.concurrency_per_endpoint:
                continue
            if not await self._lease(row.id):
                continue
            busy[row.endpoint] = busy.get(row.endpoint, 0) + 1
            task = self.platform.tasks.spawn(self._group(group, row), name="webhooks delivery")
            self._groups[group] = task
            task.add_done_callback(self._done_callback(group))

    def _done_callback(self, group: Group) -> Callable[[asyncio.Task[Any]], None]:
        def done(_task: asyncio.Task[Any]) -> None:
            self._groups.pop(group, None)
            self._wake.set()  # a slot is free: look again

        return done

    async def _lease(self, row_id: int) -> bool:
        now = now_utc()
        until = now + timedelta(seconds=self.settings.timeout_seconds + LEASE_MARGIN_SECONDS)
        taken = (
            await WebhookDelivery.filter(id=row_id, state=PENDING)
            .filter(_free(now))
            .update(lease_owner=self.owner, lease_until=until)
        )
        return bool(taken)

    # --- one room of one endpoint ----------------------------------------------------

    async def _group(self, group: Group, row: WebhookDelivery) -> None:
        """Send `row` (leased), then the group's next rows while they are due."""
        current: WebhookDelivery | None = row
        while current is not None and not self._stopping:
            if not await self._attempt(current):
                return  # to be retried later: the group waits for it
            nxt = (
                await WebhookDelivery.filter(
                    state=PENDING, endpoint=group[0], ordering_key=group[1]
                )
                .order_by("id")
                .first()
            )
            if nxt is None or nxt.next_at > now_utc() or not await self._lease(nxt.id):
                return
            current = nxt

    async def _attempt(self, row: WebhookDelivery) -> bool:
        """One POST; True when the row is finished (delivered or given up)."""
        endpoint = self.endpoints[row.endpoint]
        status, error = await self._post(endpoint, row)
        attempts = row.attempts + 1
        now = now_utc()
        if status is not None and 200 <= status < 300:
            self.metrics.deliveries.labels(result="delivered").inc()  # before the record
            await WebhookDelivery.filter(id=row.id).update(
                state=DELIVERED,
                attempts=attempts,
                finished_at=now,
                last_status=status,
                last_error=None,
                lease_owner=None,
                lease_until=None,
            )
            return True
        give_up_at = row.pending_since + timedelta(seconds=self.settings.give_up_after_seconds)
        mine = WebhookDelivery.filter(id=row.id, lease_owner=self.owner, state=PENDING)
        if now >= give_up_at:
            self.metrics.deliveries.labels(result="failed").inc()
            await mine.update(
                state=FAILED,
                attempts=attempts,
                finished_at=now,
                last_status=status,
                last_error=error,
                lease_owner=None,
                lease_until=None,
            )
            log.warning(
                "webhook %s to %s failed for good after %d attempts: %s",
                row.event_id,
                row.endpoint,
                attempts,
                error,
            )
            return True
        self.metrics.deliveries.labels(result="retried").inc()
        await mine.update(
            attempts=attempts,
            next_at=min(now + timedelta(seconds=self.backoff(attempts)), give_up_at),
            last_status=status,
            last_error=error,
            lease_owner=None,
            lease_until=None,
        )
        return False

    def backoff(self, attempts: int) -> float:
        """The delay before attempt `attempts + 1`: doubling, ±20% jitter, capped."""
        s = self.settings
        base = min(s.retry_max_seconds, s.retry_initial_seconds * 2.0 ** min(attempts - 1, 40))
        return float(min(s.retry_max_seconds, base * random.uniform(0.8, 1.2)))

    async def _post(self, endpoint: Endpoint, row: WebhookDelivery) -> tuple[int | None, str]:
        """The endpoint's status, or None and why it did not answer."""
        assert self._session is not None
        sent = headers(endpoint.secret, row.event_id, int(time.time()), row.body)
        timeout = aiohttp.ClientTimeout(total=self.settings.timeout_seconds)
        try:
            async with self._session.post(
                endpoint.url,
                data=row.body.encode(),
                headers=sent,
                timeout=timeout,
                allow_redirects=False,
            ) as response:
                await response.read()
                return response.status, "" if response.status < 300 else f"HTTP {response.status}"
        except TimeoutError:
            return None, f"no answer within {self.settings.timeout_seconds:g} s"
        except (aiohttp.ClientError, OSError) as exc:
            return None, f"{type(exc).__name__}: {exc}"[:500]

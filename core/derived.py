"""Derived writes: rows a plugin derives from a domain event, stored in the same database
transaction as the event's cause (issues 26, 29).

A consumer that keeps durable rows about other plugins' events (activity's feed items,
webhooks' outbox) registers a writer at start-up: `platform.derived.add(NAME, derive)`,
where `async def derive(event) -> Derivation | None` says, before the cause is written,
what the event adds:

- `rows`: unsaved model instances, inserted in the cause's transaction (in a group commit,
  one multi-row `INSERT` per model for the whole batch, with the cause's own rows);
- `turns`: room keys (`Room.key`) whose turns the kit takes before the write, for the
  publisher's handler, and hands on only after `then`'s work ran (a feed's order);
- `then(after)`: once committed (the rows' keys set), queue what follows on the
  publisher's after-ack queue (`after.emit(...)`, `after.then(...)`): it runs before the
  turns are handed on.

A publisher with a transaction makes its event first and hands it to the write:
`event = platform.domain_event(PLUGIN, name, org, data)`, then
`await turn.insert(row, events=[event])` (group commit) or
`async with turn.transaction(events=[event]) as connection:`. The kit asks every writer,
takes the turns (sorted, after the publisher's own), writes the rows with the cause, and
at the end of the publisher's turn queues each `then`, hands the turns on and delivers the
event to every `lvng_domain_event` with `event.derived` True: a consumer skips there what
its writer already stored. `platform.publish(...)` (no transaction: a join, say) delivers
with `derived` False, and consumers write their rows then, right after the cause.

What holds: **a derived row exists whenever its cause is committed** (one transaction:
a SIGKILL leaves both or neither). A derived row the database refuses fails its cause
with it: under group commit that write alone (`INTERNAL_ERROR` "not stored: …"), the
batch's other writes stored (core/commits.py). A writer that raises in `derive` fails its
cause before anything is written (logged with the plugin's name).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.data import DomainEvent

if TYPE_CHECKING:
    from tortoise.models import Model

    from core.turns import AfterAck, RoomTurn

log = logging.getLogger("lvng.derived")


@dataclass(frozen=True, slots=True)
class Derivation:
    """What one writer derives from one event (see the module docstring)."""

    rows: tuple[Model, ...] = ()
    turns: tuple[str, ...] = ()
    then: Callable[[AfterAck], None] | None = None


Derive = Callable[[DomainEvent], Awaitable[Derivation | None]]
Deliver = Callable[[DomainEvent], Awaitable[None]]


class DerivedWriters:
    """The derived writers of one platform (`platform.derived`)."""

    def __init__(self) -> None:
        self._writers: list[tuple[str, Derive]] = []
        self.deliver: Deliver | None = None  # the platform's delivery to `lvng_domain_event`

    def add(self, plugin: str, derive: Derive) -> None:
        """Register `derive` for every event published with its cause (at start-up)."""
        self._writers.append((plugin, derive))

    @property
    def plugins(self) -> list[str]:
        return [plugin for plugin, _ in self._writers]

    async def prepare(self, events: Sequence[DomainEvent]) -> Prepared:
        """Ask every writer about every event, before the cause's transaction."""
        found: list[Derivation] = []
        for event in events:
            for plugin, derive in self._writers:
                try:
                    derivation = await derive(event)
                except Exception:
                    log.exception(
                        "plugin %s could not derive its rows from %s: the cause is not stored",
                        plugin,
                        event.name,
                    )
                    raise
                if derivation is not None:
                    found.append(derivation)
        return Prepared(self, tuple(events), found)


class Prepared:
    """One write's events and what they derive, from before the transaction to the end of
    the publisher's turn."""

    __slots__ = ("_writers", "events", "derivations", "_held", "committed")

    def __init__(
        self, writers: DerivedWriters, events: tuple[DomainEvent, ...], found: list[Derivation]
    ) -> None:
        self._writers = writers
        self.events = events
        self.derivations = found
        self._held: list[RoomTurn] = []
        self.committed = False

    @property
    def rows(self) -> tuple[Model, ...]:
        return tuple(row for d in self.derivations for row in d.rows)

    @property
    def keys(self) -> tuple[str, ...]:
        """The turns to hold, sorted (every publisher takes them in one order)."""
        return tuple(sorted({key for d in self.derivations for key in d.turns}))

    async def take_turns(self, turn: Callable[[str], RoomTurn]) -> None:
        try:
            for key in self.keys:
                held = turn(key)
                await held.__aenter__()
                self._held.append(held)
        except BaseException:
            await self.release()
            raise

    async def release(self) -> None:
        """Hand the turns on now (the write failed, or its block raised)."""
        held, self._held = self._held, []
        for turn in reversed(held):
            await turn.__aexit__(RuntimeError, None, None)

    async def finish(self, after: AfterAck) -> None:
        """At the end of the publisher's turn: queue each `then`, then the turns' hand-on
        (after what `then` queued)."""
        for derivation in self.derivations:
            if derivation.then is not None:
                derivation.then(after)
        held, self._held = self._held, []
        for turn in reversed(held):
            await turn.__aexit__(None, None, None)

    def publish(self, after: AfterAck) -> None:
        """Queue the events' delivery to `lvng_domain_event`, marked `derived`."""
        deliver = self._writers.deliver
        if deliver is None:
            return
        for event in self.events:
            marked = dataclasses.replace(event, derived=True)
            after.then(_delivery(deliver, marked))


def _delivery(deliver: Deliver, event: DomainEvent) -> Callable[[], Awaitable[Any]]:
    return lambda: deliver(event)

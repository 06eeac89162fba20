"""Hand-made mutants of the plugins and the core kit (issue 20): apply each one alone, run
the tests that should catch it, put the code back, and report killed / survived.

    .venv/bin/python scripts/mutants.py              # every mutant (a few minutes)
    .venv/bin/python scripts/mutants.py --area presence
    .venv/bin/python scripts/mutants.py --only presence-node-lost-through-grace
    .venv/bin/python scripts/mutants.py --list

Each mutant is a plausible bug: one exact piece of source text replaced by another. The
tests run against live servers started from this tree, so the mutant is written into the
file itself and the original is written back afterwards (also on Ctrl-C). The tests run
unshuffled (`-p no:randomly`) and stop at the first failure (`-x`): a mutant is killed
when its tests fail. docs/testing.md lists the score per area and explains survivors.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutant:
    area: str
    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


P, C, K, S, A = "presence", "calls", "kit", "swarm", "activity"
PRESENCE = "plugins/presence/presence.py"
PRESENCE_BEHAVIOUR = "tests/presence/test_behaviour.py"
CALLS = "plugins/calls/calls.py"
SWARM = "plugins/swarm/publishing.py"
RACING = "tests/swarm/test_tenancy.py::test_two_organizations_racing_for_a_new_id_one_wins"

MUTANTS = [
    Mutant(
        P,
        "presence-node-lost-through-grace",
        PRESENCE,
        '        if reason == "node_lost":\n            await self._offline(org, user)\n'
        "            return\n",
        "",
        ("tests/presence/test_cluster.py::test_a_killed_nodes_users_go_offline_on_the_survivor",),
    ),
    Mutant(
        P,
        "presence-away-waits-a-full-interval-again",
        PRESENCE,
        "                next_check = quiet_since + self.away_after - now\n",
        "                next_check = self.away_after\n",
        (
            f"{PRESENCE_BEHAVIOUR}::"
            "test_away_comes_away_after_seconds_after_the_last_activity_not_later",
        ),
    ),
    Mutant(
        P,
        "presence-grace-ignores-a-reconnect",
        PRESENCE,
        "        async with self._turn(org, user) as after:\n"
        "            record = await self.store.load(org, user)\n"
        "            if record is None:\n"
        "                return\n"
        "            if await self._connected(org, user):\n",
        "        async with self._turn(org, user) as after:\n"
        "            record = await self.store.load(org, user)\n"
        "            if record is None:\n"
        "                return\n"
        "            if False:\n",
        (f"{PRESENCE_BEHAVIOUR}::test_the_grace_period_absorbs_a_reconnect",),
    ),
    Mutant(
        P,
        "presence-idle-turns-busy-away",
        PRESENCE,
        '            if record.idle or record.chosen != "online":\n',
        "            if record.idle:\n",
        (f"{PRESENCE_BEHAVIOUR}::test_idle_turns_away_and_activity_brings_the_choice_back",),
    ),
    Mutant(
        P,
        "presence-invisible-last-seen-moves",
        "plugins/presence/records.py",
        "        if not self.invisible:\n            self.last_seen = max(",
        "        if True:\n            self.last_seen = max(",
        (f"{PRESENCE_BEHAVIOUR}::test_a_user_who_chose_offline_stays_invisible",),
    ),
    Mutant(
        P,
        "presence-offline-never-announced",
        PRESENCE,
        '        if before != "offline":\n'
        "            await self._announce(after, org, user, record)\n",
        "",
        (f"{PRESENCE_BEHAVIOUR}::test_the_grace_period_absorbs_a_reconnect",),
    ),
    Mutant(
        P,
        "presence-unchanged-update-announced",
        PRESENCE,
        "            if (record.status, record.custom_status, record.status_text) != shown:\n",
        "            if True:\n",
        ("tests/presence",),
    ),
    Mutant(
        P,
        "presence-lapsed-grace-not-noticed-at-connect",
        PRESENCE,
        "            if record.left_at is not None and now >= record.left_at + self.grace:\n",
        "            if False:\n",
        (
            "tests/presence/test_cluster.py::"
            "test_a_user_whose_grace_ran_out_unannounced_is_announced_online_again",
        ),
    ),
    Mutant(
        C,
        "calls-second-device-announced",
        CALLS,
        "            if joined.first:\n                after.emit(",
        "            if True:\n                after.emit(",
        ("tests/calls/test_behaviour.py::test_a_second_device_neither_joins_nor_leaves_the_user",),
    ),
    Mutant(
        C,
        "calls-second-device-disconnect-leaves",
        CALLS,
        '        if room_name is None or not (last or reason == "removed"):\n'
        "            return\n"
        "        after = self.platform.after_ack()\n"
        "        if last:",
        '        if room_name is None or not (last or reason in ("removed", "disconnected")):\n'
        "            return\n"
        "        after = self.platform.after_ack()\n"
        '        if last or reason == "disconnected":',
        (
            "tests/calls/test_behaviour.py::"
            "test_a_second_device_that_disconnects_leaves_the_user_in_the_call",
        ),
    ),
    Mutant(
        C,
        "calls-never-ends",
        CALLS,
        "            if not await self.platform.rooms.users(room):\n",
        "            if False:\n",
        (
            "tests/calls/test_behaviour.py::"
            "test_a_call_ends_with_its_last_participant_and_the_next_join_starts_another",
        ),
    ),
    Mutant(
        C,
        "calls-disconnect-told-as-left",
        CALLS,
        '    return "disconnected" if reason in ("disconnected", "node_lost") else "left"',
        '    return "disconnected" if reason == "node_lost" else "left"',
        ("tests/calls/test_behaviour.py::test_a_second_device_neither_joins_nor_leaves_the_user",),
    ),
    Mutant(
        K,
        "kit-after-ack-stops-at-a-failure",
        "core/turns.py",
        "        while self._items:\n"
        "            items, self._items = self._items, []\n"
        "            for work in items:\n"
        "                try:\n"
        "                    await work()\n"
        "                except Exception as exc:\n",
        "        while self._items:\n"
        "            items, self._items = self._items, []\n"
        "            for work in items:\n"
        "                try:\n"
        "                    await work()\n"
        "                except Exception as exc:\n"
        "                    self._items.clear()\n"
        "                    items.clear()\n",
        (
            "tests/test_dispatch.py::"
            "test_a_failing_after_ack_item_neither_stops_the_rest_nor_keeps_the_turn",
        ),
    ),
    Mutant(
        K,
        "kit-turn-released-before-its-emits",
        "core/turns.py",
        "        if exc_type is None and len(self._after) > self._queued:\n",
        "        if False:\n",
        ("tests/unit/test_turns.py",),
    ),
    Mutant(
        K,
        "kit-no-advisory-lock-without-redis",
        "core/turns.py",
        "                if (\n"
        "                    not self._turns.cluster.cross_node\n"
        '                    and connection.capabilities.dialect == "postgres"\n'
        "                ):\n",
        "                if False:\n",
        ("tests/activity/test_two_processes.py",),
    ),
    Mutant(
        K,
        "cluster-heartbeat-every-ttl",
        "core/cluster/redis_cluster.py",
        "        interval = max(0.2, self.node_ttl / 3)\n",
        "        interval = max(0.2, self.node_ttl)\n",
        ("tests/test_cluster.py::test_a_live_node_is_never_reaped",),
    ),
    Mutant(
        K,
        "gateway-refresh-keeps-the-old-expiry",
        "core/gateway.py",
        "        session.identity = identity\n        self._schedule_expiry(session)\n",
        "        session.identity = identity\n"
        "        if session.expiry is None:\n"
        "            self._schedule_expiry(session)\n",
        (
            "tests/test_connection.py::"
            "test_auth_refresh_to_a_sooner_expiry_disconnects_at_the_new_expiry",
        ),
    ),
    Mutant(
        K,
        "gateway-expiry-gives-up-when-early",
        "core/gateway.py",
        "            self._schedule_expiry(session)\n            return\n        self.metrics",
        "            return\n        self.metrics",
        ("tests/unit/test_expiry_timer.py",),
    ),
    Mutant(
        S,
        "swarm-no-owner-check-in-the-transaction",
        SWARM,
        "        elif session.organization_id != identity.organization_id:\n"
        '            raise not_yours("swarm session", session_id)\n',
        "",
        (RACING,),
    ),
    Mutant(
        S,
        "swarm-lost-claim-is-a-500",
        SWARM,
        "            except IntegrityError:\n"
        "                # Another organization claimed the id between our look and our insert.\n"
        "                await self.sessions.owned(identity, session_id)\n"
        "                raise\n",
        "            except ValueError:\n                raise\n",
        (RACING,),
    ),
    Mutant(
        S,
        "swarm-repeated-event-id-stored-again",
        SWARM,
        "            if earlier is not None:\n",
        "            if False:\n",
        ("tests/swarm/test_publishing.py",),
    ),
    Mutant(
        S,
        "swarm-ended-session-takes-events",
        SWARM,
        "        if session.status in TERMINAL:\n",
        "        if False:\n",
        ("tests/swarm/test_publishing.py",),
    ),
    Mutant(
        A,
        "activity-unread-counts-own-items",
        "plugins/activity/feed.py",
        ".filter(actor_id__not=user_id)",
        "",
        ("tests/activity/test_unread.py",),
    ),
    Mutant(
        A,
        "activity-read-told-to-its-own-socket",
        "plugins/activity/feed.py",
        "                    skip_sid=caller.sid,\n",
        "                    skip_sid=None,\n",
        ("tests/activity/test_unread.py",),
    ),
    Mutant(
        A,
        "activity-read-position-goes-back",
        "plugins/activity/feed.py",
        "                moved = position is None or seq > position.item_seq\n",
        "                moved = True\n",
        ("tests/activity/test_unread.py",),
    ),
]


def run(mutant: Mutant) -> tuple[bool, float]:
    """Apply the mutant, run its tests, put the file back: (killed, seconds)."""
    path = REPO / mutant.path
    original = path.read_text()
    count = original.count(mutant.old)
    if count != 1:
        raise SystemExit(f"{mutant.name}: its text occurs {count} times in {mutant.path}")
    started = time.monotonic()
    try:
        path.write_text(original.replace(mutant.old, mutant.new))
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-x",
                "-q",
                "-p",
                "no:cacheprovider",
                "-p",
                "no:randomly",
                *mutant.tests,
            ],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    finally:
        path.write_text(original)
    return result.returncode != 0, time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--area", help="only this area's mutants")
    parser.add_argument("--only", action="append", help="only the mutant of this name")
    parser.add_argument("--list", action="store_true", help="list the mutants and stop")
    args = parser.parse_args()
    chosen = [
        m
        for m in MUTANTS
        if (args.area is None or m.area == args.area) and (not args.only or m.name in args.only)
    ]
    if args.list:
        for m in chosen:
            print(f"{m.area:9} {m.name:45} {' '.join(m.tests)}")
        return 0
    score: dict[str, list[int]] = {}
    survivors = []
    for m in chosen:
        killed, seconds = run(m)
        print(f"{'killed  ' if killed else 'SURVIVED'} {m.area:9} {m.name} ({seconds:.0f} s)")
        tally = score.setdefault(m.area, [0, 0])
        tally[0] += killed
        tally[1] += 1
        if not killed:
            survivors.append(m.name)
    print()
    for area, (killed, total) in score.items():
        print(f"{area:9} {killed}/{total} killed")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())

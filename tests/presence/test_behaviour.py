"""Presence over time on one server: the grace period, several devices, idle and back,
an invisible user, metrics. Timers are shortened through `[plugins.presence]`."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.messages.support import uid
from tests.presence.support import connect, heard, listed, start_with, update

GRACE = 0.6


@pytest.fixture(scope="module")
def quick_grace(start_server, tmp_path_factory):
    """Grace 0.6 s; idle never comes within a test."""
    return start_with(start_server, tmp_path_factory, away=60, grace=GRACE)


@pytest.fixture(scope="module")
def quick_idle(start_server, tmp_path_factory):
    """Away after 0.8 s without an event."""
    return start_with(start_server, tmp_path_factory, away=0.8, grace=0.3)


AWAY = 1.5


@pytest.fixture(scope="module")
def timed_idle(start_server, tmp_path_factory):
    """Away after 1.5 s without an event: long enough to tell one wait from two."""
    return start_with(start_server, tmp_path_factory, away=AWAY, grace=0.3)


async def watched(server, org):
    """Bob, watching the organization, his own `online` read."""
    bob = await connect(server, "bob", org, "Bob")
    await heard(bob)
    return bob


async def test_the_grace_period_absorbs_a_reconnect(quick_grace):
    org = uid("org")
    bob = await watched(quick_grace, org)
    alice = await connect(quick_grace, "alice", org, "Alice")
    assert await heard(bob) == update("alice", "Alice", "online")
    await alice.close()  # a page reload: gone, and back within the grace period
    again = await connect(quick_grace, "alice", org, "Alice")
    await bob.nothing("presence:update", within=GRACE + 0.4)
    await again.nothing("presence:update", within=0)  # not announced to herself either
    assert [u["status"] for u in await listed(bob)] == ["online", "online"]

    await again.close()  # gone for good: offline once the grace period is over
    assert await heard(bob) == update("alice", "Alice", "offline")
    alice_listed, _ = await listed(bob)
    assert (alice_listed["userId"], alice_listed["status"]) == ("alice", "offline")


async def test_a_second_device_keeps_the_user_online(quick_grace):
    org = uid("org")
    bob = await watched(quick_grace, org)
    phone = await connect(quick_grace, "alice", org, "Alice")
    assert await heard(bob) == update("alice", "Alice", "online")
    laptop = await connect(quick_grace, "alice", org, "Alice")
    await phone.close()
    await bob.nothing("presence:update", within=GRACE + 0.4)
    assert (await listed(laptop))[0]["status"] == "online"
    await laptop.close()
    assert await heard(bob) == update("alice", "Alice", "offline")


async def test_last_seen_is_the_last_activity_and_stays_after_going_offline(quick_grace):
    org = uid("org")
    bob = await watched(quick_grace, org)
    alice = await connect(quick_grace, "alice", org, "Alice")
    await heard(bob)
    await alice.call("presence:update", {"status": "busy", "customStatus": "Travelling"})
    await heard(bob)
    await alice.close()
    assert await heard(bob) == update("alice", "Alice", "offline", "Travelling")
    before = (await listed(bob))[0]
    assert (before["status"], before["customStatus"]) == ("offline", "Travelling")
    assert (await listed(bob))[0] == before  # lastSeen does not move while she is away


async def test_idle_turns_away_and_activity_brings_the_choice_back(quick_idle):
    org = uid("org")
    alice = await connect(quick_idle, "alice", org, "Alice")
    assert await heard(alice) == update("alice", "Alice", "online")
    await alice.call("presence:update", {"status": "online", "customStatus": "Writing"})
    assert await heard(alice) == update("alice", "Alice", "online", "Writing")
    # No event for 0.8 s: away, the custom status kept.
    assert await heard(alice) == update("alice", "Alice", "away", "Writing")
    await alice.call("presence:list")  # any event is activity
    assert await heard(alice) == update("alice", "Alice", "online", "Writing")
    assert (await listed(alice))[0]["status"] == "online"
    assert await heard(alice) == update("alice", "Alice", "away", "Writing")
    await alice.call("presence:heartbeat")
    assert await heard(alice) == update("alice", "Alice", "online", "Writing")
    # Busy is a choice, not activity: idle does not change it.
    await alice.call("presence:update", {"status": "busy"})
    assert await heard(alice) == update("alice", "Alice", "busy", "Writing")
    await alice.nothing("presence:update", within=1.0)
    # Nor does it give away an invisible user.
    await alice.call("presence:update", {"status": "offline"})
    assert await heard(alice) == update("alice", "Alice", "offline", "Writing")
    await alice.nothing("presence:update", within=1.0)


async def test_a_user_who_chose_offline_stays_invisible(quick_grace):
    org = uid("org")
    bob = await watched(quick_grace, org)
    alice = await connect(quick_grace, "alice", org, "Alice")
    assert await heard(bob) == update("alice", "Alice", "online")
    await alice.call("presence:update", {"status": "offline"})
    assert await heard(bob) == update("alice", "Alice", "offline")
    seen = (await listed(bob))[0]
    assert (seen["userId"], seen["status"]) == ("alice", "offline")
    # Activity, another device coming and going: nothing tells anyone she is there, and
    # her lastSeen does not move.
    await alice.call("presence:heartbeat")
    second = await connect(quick_grace, "alice", org, "Alice")
    await second.close()
    await bob.nothing("presence:update", within=GRACE + 0.4)
    assert (await listed(bob))[0] == seen
    # Her choice outlives the connection: back later, still invisible.
    await alice.close()
    again = await connect(quick_grace, "alice", org, "Alice")
    await bob.nothing("presence:update", within=0.3)
    await again.call("presence:update", {"status": "online"})
    assert await heard(bob) == update("alice", "Alice", "online")


async def test_metrics_count_users_by_status_and_broadcasts(quick_grace):
    live = quick_grace
    org = uid("org")
    before = await live.metric("lvng_presence_updates_total", status="busy")
    busy_before = await live.metric("lvng_presence_users", status="busy")
    alice = await connect(live, "alice", org, "Alice")
    await heard(alice)
    await alice.call("presence:update", {"status": "busy"})
    await heard(alice)
    assert await live.metric("lvng_presence_updates_total", status="busy") == before + 1
    assert await live.metric("lvng_presence_users", status="busy") == busy_before + 1
    await alice.close()


async def test_custom_status_alone_keeps_the_chosen_status(server):
    org = uid("org")
    alice = await connect(server, "alice", org, "Alice")
    assert await heard(alice) == update("alice", "Alice", "online")
    await alice.call("presence:update", {"status": "busy"})
    assert await heard(alice) == update("alice", "Alice", "busy")
    ack = await alice.call("presence:update", {"customStatus": "Lunch"})
    assert ack["ok"] is True and ack["status"] == "busy", ack
    assert await heard(alice) == update("alice", "Alice", "busy", "Lunch")
    # A key left out keeps its value: the status here, the custom status next.
    await alice.call("presence:update", {"statusText": "Back at 3pm"})
    assert await heard(alice) == update("alice", "Alice", "busy", "Lunch", "Back at 3pm")


async def test_away_comes_away_after_seconds_after_the_last_activity_not_later(timed_idle):
    """The idle check scheduled at connect finds recent activity and looks again when
    `away_after` has passed since that activity, not a full `away_after` later (which
    made `away` up to twice late)."""
    org = uid("org")
    alice = await connect(timed_idle, "alice", org, "Alice")
    assert await heard(alice) == update("alice", "Alice", "online")
    # Time under test: the activity lands a third into the idle window opened at connect.
    await asyncio.sleep(AWAY / 3)
    active = time.monotonic()  # the server sees the heartbeat at this moment or later
    await alice.call("presence:heartbeat")
    assert await heard(alice) == update("alice", "Alice", "away")
    waited = time.monotonic() - active
    # Not before away_after; within it plus a tick (a round trip, a timer's lateness).
    # Waiting a full away_after again from that first check would make it 2.5 s.
    assert AWAY - 0.05 <= waited < AWAY + 0.6, waited

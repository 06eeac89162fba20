"""The inspection page's deliveries (core/figures.py) are counted once per emit by the
client manager (core/transport/delivery.py), from the room's size less the skipped
sockets, not in the loop over recipients: the count must be exactly the number of
sockets the loop handed the packet to, for every shape of emit."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import socketio

from core.figures import FigureBook
from core.transport.delivery import FastManager

NS = "/"


class _Delivery:
    def __init__(self) -> None:
        self.to: list[str] = []

    def deliver(self, eio_sid: str, out: Any) -> None:
        self.to.append(eio_sid)


class _Server:
    packet_class = socketio.packet.Packet

    def __init__(self) -> None:
        self.delivery = _Delivery()


def _manager(rooms: dict[str, list[str]]) -> tuple[FastManager, _Server, list[tuple[str, int]]]:
    """A FastManager whose sockets s1..sN (Engine.IO e1..eN) are in `rooms`."""
    manager = FastManager()
    server = _Server()
    manager.set_server(server)
    manager.initialize()
    told: list[tuple[str, int]] = []
    manager.on_delivered = lambda target, count: told.append((target, count))
    sids = sorted({sid for members in rooms.values() for sid in members})
    for sid in sids:
        manager.basic_enter_room(sid, NS, None, eio_sid="e" + sid[1:])
        manager.basic_enter_room(sid, NS, sid, eio_sid="e" + sid[1:])
    for room, members in rooms.items():
        for sid in members:
            manager.basic_enter_room(sid, NS, room)
    return manager, server, told


@pytest.mark.parametrize(
    "room, skip_sid, expected",
    [
        ("org-a/channel:c1", None, ["e1", "e2", "e3"]),
        ("org-a/channel:c1", "s2", ["e1", "e3"]),
        ("org-a/channel:c1", ["s1", "s3"], ["e2"]),
        ("org-a/channel:c1", ["s1", "s1", "s9"], ["e2", "e3"]),  # repeats, a stranger
        ("org-a/channel:c1", "s9", ["e1", "e2", "e3"]),  # not in the room
        ("org-a/channel:c1", ["s1", "s2", "s3"], []),
        ("org-a/channel:none", None, []),  # no such room
        ("s4", None, ["e4"]),  # one socket, by its id
        ("s4", "s4", []),
    ],
)
async def test_the_count_told_per_emit_is_the_sockets_the_loop_delivered_to(
    room: str, skip_sid: Any, expected: list[str]
) -> None:
    manager, server, told = _manager(
        {"org-a/channel:c1": ["s1", "s2", "s3"], "org-b/channel:c1": ["s4"]}
    )
    await manager.emit("x:y", {"n": 1}, NS, room=room, skip_sid=skip_sid)
    assert sorted(server.delivery.to) == expected
    assert told == [(room, len(expected))]


async def test_a_broadcast_to_every_socket_is_not_counted_per_room() -> None:
    """room None (every socket of the namespace) names no organization: not told."""
    manager, server, told = _manager({"org-a/channel:c1": ["s1", "s2"]})
    await manager.emit("x:y", {}, NS)
    assert sorted(server.delivery.to) == ["e1", "e2"]
    assert told == []


def test_the_figures_add_each_emit_once_to_the_rooms_organization_or_the_sockets() -> None:
    # FigureBook reads a session's organization_id only.
    sessions: dict[str, Any] = {
        "s1": SimpleNamespace(organization_id="org-a"),
        "s4": SimpleNamespace(organization_id="org-b"),
    }
    book = FigureBook(sessions)
    book.delivered("org-a/channel:c1", 500)
    book.delivered("s4", 1)
    book.delivered("gone", 1)  # a socket that went: the node's figure only
    book.delivered("org-a/channel:c1", 0)
    assert (book.node.deliveries, book.of("org-a").deliveries, book.of("org-b").deliveries) == (
        502,
        500,
        1,
    )

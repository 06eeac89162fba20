"""The core's tenancy checks (core/rooms.py) without a server: rooms belong to one
organization, crafted ids never alias, a join of another organization's room is refused
before any plugin is asked, and the plugins' veto is final."""

from __future__ import annotations

import pytest

from core.cluster.local import LocalCluster
from core.data import Session
from core.errors import ErrorCode, LvngError
from core.identity import Identity
from core.ratelimit import SlidingWindow
from core.room_service import RoomService
from core.rooms import Joined, Left, Room


def test_keys_are_per_organization():
    room = Room.of("acme", "channel", "general")
    assert (room.organization_id, room.scope) == ("acme", "channel:general")
    assert room.key == "acme/channel:general"
    assert room != Room.of("globex", "channel", "general")
    assert room == Room.of("acme", "channel", "general")
    assert Room.of("acme", "org", "acme").key == "acme/org:acme"


def test_colons_inside_ids_cannot_forge_another_room():
    one = Room.of("acme", "customer", "a:conversation:b", "conversation", "c")
    other = Room.of("acme", "customer", "a", "conversation", "b:conversation:c")
    assert one.key != other.key
    assert one.scope == "customer:a%3Aconversation%3Ab:conversation:c"
    assert one.parts == ("customer", "a:conversation:b", "conversation", "c")
    assert other.parts == ("customer", "a", "conversation", "b:conversation:c")
    assert one.name == "customer:a:conversation:b:conversation:c"  # as clients spell it
    assert (one.kind, Room.of("acme", "channel", "x:y").kind) == ("customer", "channel")
    assert Room.of("acme", "channel", "team:eng").parts == ("channel", "team:eng")


def test_a_key_gives_back_its_room():
    room = Room.of("acme", "customer", "a:b", "conversation", "c")
    assert Room.from_key(room.key) == room
    assert Room.from_key("acme/channel:general") == Room("acme", "channel:general")
    assert Room.from_key("acme/org:acme").organization_id == "acme"
    assert Room.from_key("globex/channel:x/y") == Room("globex", "channel:x/y")  # first "/"


class FakeSio:
    """What RoomService uses of python-socketio: rooms by key, participants by key."""

    def __init__(self) -> None:
        self.rooms: dict[str, list[str]] = {}
        self.manager = self

    async def enter_room(self, sid: str, key: str) -> None:
        self.rooms.setdefault(key, []).append(sid)

    async def leave_room(self, sid: str, key: str) -> None:
        self.rooms[key].remove(sid)

    def get_participants(self, namespace: str, key: str):
        assert namespace == "/"
        return [(sid, f"eio-{sid}") for sid in self.rooms.get(key, [])]


def session(sid: str = "s1", org: str = "acme", user: str = "alice") -> Session:
    identity = Identity(user, org, user, frozenset(), frozenset(), 0.0)
    return Session(sid=sid, identity=identity, limiter=SlidingWindow(100, 60))


class Authorizer:
    """Records who was asked about which room; allows everything."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    async def __call__(self, identity: Identity, room: Room) -> None:
        self.asked.append((identity.user_id, room.key))


async def test_a_join_of_another_organizations_room_is_refused_before_plugins_are_asked():
    sio, asked = FakeSio(), Authorizer()
    rooms = RoomService(sio, asked, LocalCluster())
    alice = session()
    for authorize in (True, False):
        with pytest.raises(LvngError) as caught:
            await rooms.join(alice, Room.of("globex", "channel", "general"), authorize=authorize)
        assert caught.value.code.value == "FORBIDDEN"
        assert caught.value.message == "that room belongs to another organization"
    assert asked.asked == [] and sio.rooms == {} and alice.rooms == set()


async def test_a_join_asks_the_plugins_and_a_veto_keeps_the_socket_out():
    sio = FakeSio()
    vetoed: list[str] = []

    async def veto(identity: Identity, room: Room) -> None:
        vetoed.append(room.key)
        raise LvngError(ErrorCode.FORBIDDEN, "no")

    rooms = RoomService(sio, veto, LocalCluster())
    alice = session()
    room = Room.of("acme", "channel", "secret")
    with pytest.raises(LvngError):
        await rooms.join(alice, room)
    assert vetoed == ["acme/channel:secret"] and sio.rooms == {} and alice.rooms == set()
    # Not asked when the core joins the socket itself (its own org and user rooms).
    assert await rooms.join(alice, room, authorize=False) == Joined(True, True)
    assert vetoed == ["acme/channel:secret"] and alice.rooms == {room}


async def test_join_leave_and_membership():
    sio, asked = FakeSio(), Authorizer()
    rooms = RoomService(sio, asked, LocalCluster())
    alice, phone, bob = session("s1"), session("s2"), session("s3", user="bob")
    room = Room.of("acme", "channel", "general")
    assert await rooms.join(alice, room) == Joined(True, True)  # alice's first socket
    assert asked.asked == [("alice", "acme/channel:general")]
    assert await rooms.join(alice, room) == Joined(False)  # already in: not asked again
    assert not await rooms.join(alice, room)
    assert asked.asked == [("alice", "acme/channel:general")]
    assert await rooms.join(phone, room) == Joined(True, False)  # alice's second socket
    assert await rooms.join(bob, room) == Joined(True, True)
    assert rooms.local_members(room) == ["s1", "s2", "s3"]
    assert rooms.local_members(Room.of("globex", "channel", "general")) == []
    assert await rooms.users(room) == {"alice": "alice", "bob": "bob"}
    rooms.require_member(alice, room)
    assert await rooms.leave(alice, room) == Left(True, False)  # the phone is still in
    assert await rooms.leave(alice, room) == Left(False)
    assert not await rooms.leave(alice, room)
    assert alice.rooms == set() and rooms.local_members(room) == ["s2", "s3"]
    assert await rooms.leave(phone, room) == Left(True, True)
    assert await rooms.users(room) == {"bob": "bob"}
    with pytest.raises(LvngError) as caught:
        rooms.require_member(alice, room)
    assert (caught.value.code.value, caught.value.message) == (
        "NOT_IN_ROOM",
        "join channel:general first",
    )
    # The same name in another organization is another room: membership does not carry.
    with pytest.raises(LvngError):
        rooms.require_member(session("s9", org="globex"), room)


async def test_may_join_applies_the_joins_checks_without_joining():
    sio, asked = FakeSio(), Authorizer()
    rooms = RoomService(sio, asked, LocalCluster())
    alice = session().identity
    assert await rooms.may_join(alice, Room.of("acme", "channel", "general")) is True
    assert asked.asked == [("alice", "acme/channel:general")] and sio.rooms == {}
    assert await rooms.may_join(alice, Room.of("globex", "channel", "general")) is False
    assert len(asked.asked) == 1  # another organization's room: no plugin is asked

    async def veto(identity: Identity, room: Room) -> None:
        raise LvngError(ErrorCode.FORBIDDEN, "no")

    assert (
        await RoomService(sio, veto, LocalCluster()).may_join(
            alice, Room.of("acme", "channel", "secret")
        )
        is False
    )


async def test_with_recovery_a_join_records_where_the_room_was_and_a_leave_forgets_it():
    """Connection-state recovery (contract section 12) replays a room from the log offset
    it had when the socket joined: `session.since` per room key."""

    class Recovery:
        enabled, seq = True, 41
        store = None  # no Redis: sessions are kept by the node (core/recovery_store.py)

    sio = FakeSio()
    sio.recovery = Recovery()  # type: ignore[attr-defined]
    rooms = RoomService(sio, Authorizer(), LocalCluster())  # type: ignore[arg-type]
    me = session()
    general, random = Room("acme", "channel:general"), Room("acme", "channel:random")
    assert me.since is None
    await rooms.join(me, general)
    Recovery.seq = 57
    await rooms.join(me, random)
    assert me.since == {"acme/channel:general": 41, "acme/channel:random": 57}
    await rooms.leave(me, general)
    assert me.since == {"acme/channel:random": 57}

    Recovery.enabled = False
    other = session("s2")
    await rooms.join(other, general)
    assert other.since is None  # recovery off: nothing recorded
    Recovery.enabled = True
    await rooms.join(other, random)
    assert other.since == {"acme/channel:random": 57}
    await rooms.leave(other, general)  # a room without an offset: leaving still works
    assert other.since == {"acme/channel:random": 57}


async def test_listening_delivers_without_membership_and_count_reads_every_node():
    sio = FakeSio()
    cluster = LocalCluster()
    rooms = RoomService(sio, Authorizer(), cluster)  # type: ignore[arg-type]
    me = session()
    presence = Room("acme", "presence")
    assert await rooms.listen(me, presence) is True
    assert sio.rooms == {"acme/presence": ["s1"]}
    assert me.rooms == set() and await rooms.users(presence) == {}
    assert await rooms.listen(me, Room("other", "presence")) is False
    assert "other/presence" not in sio.rooms
    await rooms.unlisten(me, presence)
    assert sio.rooms == {"acme/presence": []}

    assert await rooms.count(presence) == 0
    await cluster.enter("acme/presence", "bob", "s9", "Bob")  # another node's socket
    await rooms.join(me, presence)
    assert await rooms.count(presence) == 2

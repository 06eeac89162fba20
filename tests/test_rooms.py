"""Room names and keys (contract section 4): organizations and crafted ids never alias."""

from core.rooms import Room


def test_keys_are_per_organization():
    assert Room.of("acme", "channel", "general").key == "acme/channel:general"
    assert Room.of("acme", "channel", "general") != Room.of("globex", "channel", "general")


def test_colons_inside_ids_cannot_forge_another_room():
    one = Room.of("acme", "customer", "a:conversation:b", "conversation", "c")
    other = Room.of("acme", "customer", "a", "conversation", "b:conversation:c")
    assert one.key != other.key
    assert one.parts == ("customer", "a:conversation:b", "conversation", "c")
    assert other.parts == ("customer", "a", "conversation", "b:conversation:c")
    assert one.name == "customer:a:conversation:b:conversation:c"  # as clients spell it
    assert one.kind == "customer"

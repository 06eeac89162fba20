"""Pins of what core/transport/ overrides in python-socketio, python-engineio and Sanic
(tests/test_engine.py pins what it reads and calls): an upgrade that renames, re-signs or
newly defines one of these methods fails here, instead of silently bypassing the
override or being bypassed by it."""

from __future__ import annotations

import inspect
from importlib.metadata import version
from pathlib import Path

import pytest
import socketio
from engineio.async_socket import AsyncSocket

from core import transport
from core.transport.delivery import FastManager
from core.transport.engine import LvngSocket
from core.transport.socketserver import LvngServer


def _own_methods(cls: type) -> dict[str, object]:
    return {
        name: member
        for name, member in vars(cls).items()
        if inspect.isfunction(member) and name != "__init__"
    }


def _overrides(cls: type, base: type) -> tuple[list[str], list[str]]:
    """The methods `cls` defines that `base` has too, and those `base` does not have."""
    own = _own_methods(cls)
    return sorted(n for n in own if hasattr(base, n)), sorted(
        n for n in own if not hasattr(base, n)
    )


@pytest.mark.parametrize("package", sorted(transport.PINNED))
def test_every_package_whose_internals_are_used_is_pinned_exactly(package: str) -> None:
    pinned = transport.PINNED[package]
    assert version(package) == pinned
    text = (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text()
    assert f'"{package}=={pinned}"' in text, f"pyproject.toml must pin {package}=={pinned}"


def test_the_socketio_server_methods_overridden_are_socketios_with_its_parameters() -> None:
    overridden, added = _overrides(LvngServer, socketio.AsyncServer)
    assert overridden == [
        "_handle_connect",
        "_handle_disconnect",
        "_handle_eio_connect",
        "_handle_eio_disconnect",
        "_handle_eio_message",
        "_handle_event",
        "_send_packet",
    ]
    for name in overridden:
        ours = list(inspect.signature(getattr(LvngServer, name)).parameters)
        theirs = list(inspect.signature(getattr(socketio.AsyncServer, name)).parameters)
        assert ours == theirs, name
    # The names of our own helpers are not python-socketio's (which they would replace).
    assert added == [
        "_arm_handshake_timer",
        "_close_unauthenticated",
        "_connect",
        "_dispatch",
        "_handle_client_event",
        "_handshake_overdue",
        "_refuse",
        "_spawn",
        "_to_the_end",
    ]
    # _handle_eio_message is replaced whole: the packet kinds python-socketio dispatches
    # are the ones it handles.
    source = inspect.getsource(socketio.AsyncServer._handle_eio_message)
    for call in ("_handle_connect(", "_handle_disconnect(", "_handle_event(", "_handle_ack("):
        assert f"self.{call}" in source, call
    assert "pkt.packet_type == packet.BINARY_EVENT" in source.replace("self.packet_class", "")
    # `_connect` is python-socketio's `_handle_connect` with recovery (core/recovery.py):
    # the steps it copies are still those.
    source = inspect.getsource(socketio.AsyncServer._handle_connect)
    for step in (
        "await self.manager.pre_connect(eio_sid, namespace)",
        "packet.CONNECT, {'sid': sid}, namespace=namespace",
        "await self.manager.connect(sid, namespace)",
        "await self.manager.disconnect(sid, namespace, ignore_queue=True)",
        "'connect', namespace, sid, self.environ[eio_sid], data",
    ):
        assert step in source, step


def test_the_engineio_socket_methods_overridden_are_engineios_with_its_parameters() -> None:
    overridden, added = _overrides(LvngSocket, AsyncSocket)
    assert overridden == [
        "_websocket_handler",
        "close",
        "handle_post_request",
        "poll",
        "schedule_ping",
        "send",
    ]
    for name in overridden:
        ours = list(inspect.signature(getattr(LvngSocket, name)).parameters)
        theirs = list(inspect.signature(getattr(AsyncSocket, name)).parameters)
        assert ours == theirs, name
    assert added == [
        "_decoded_or_closed",
        "_end_websocket",
        "_ping_due",
        "_send_now",
        "end_websocket",
    ]
    # schedule_ping and the ping it replaces: last_ping is Engine.IO's ping bookkeeping.
    assert "self.last_ping" in inspect.getsource(AsyncSocket.schedule_ping)
    assert "self.last_ping = time.time()" in inspect.getsource(AsyncSocket)


def test_the_client_manager_emit_is_socketios_with_its_parameters() -> None:
    overridden, added = _overrides(FastManager, socketio.AsyncManager)
    # emit; pre_connect with a recovered socket's sid (issue 23); and the rooms of each
    # socket kept beside python-socketio's (a disconnect leaves only its own rooms:
    # tests/test_engine.py).
    room_keeping = [
        "basic_disconnect",
        "basic_enter_room",
        "basic_leave_room",
        "get_rooms",
    ]
    assert overridden == sorted(["emit", "pre_connect", *room_keeping]) and added == []
    for name in ["emit", *room_keeping]:
        ours = list(inspect.signature(getattr(FastManager, name)).parameters)
        theirs = list(inspect.signature(getattr(socketio.AsyncManager, name)).parameters)
        assert ours == theirs, name
    # pre_connect takes a recovered socket's `sid` too, and does then what the base does.
    ours = list(inspect.signature(FastManager.pre_connect).parameters)
    theirs = list(inspect.signature(socketio.AsyncManager.pre_connect).parameters)
    assert ours == [*theirs, "sid"]
    source = inspect.getsource(socketio.base_manager.BaseManager.pre_connect)
    for step in (
        "self.basic_enter_room(sid, namespace, None, eio_sid=eio_sid)",
        "self.basic_enter_room(sid, namespace, sid, eio_sid=eio_sid)",
        "self.pending_connect[namespace].append(sid)",
    ):
        assert step in source, step


def test_the_packet_binary_check_overridden_is_socketios_with_its_parameters() -> None:
    from core.transport.socketserver import StrictPacket

    ours = inspect.signature(StrictPacket.data_is_binary)
    theirs = inspect.signature(socketio.packet.Packet.data_is_binary)
    assert list(ours.parameters) == list(theirs.parameters)
    for data in ({"a": [1, {"b": b"x"}]}, ["x", None, 1.5], {"a": "b"}, b"", (1, bytearray())):
        assert StrictPacket.data_is_binary(data) == socketio.packet.Packet.data_is_binary(data)


def test_the_redis_listener_overridden_is_socketios_with_its_parameters() -> None:
    """`FastRedisManager._redis_listen_with_retries` (a shorter backoff, issue 26) replaces
    python-socketio's: same parameters, and what it calls is still there."""
    from core.transport.redis_manager import FastRedisManager

    theirs = socketio.AsyncRedisManager._redis_listen_with_retries
    ours = FastRedisManager._redis_listen_with_retries
    assert list(inspect.signature(ours).parameters) == list(inspect.signature(theirs).parameters)
    source = inspect.getsource(theirs)
    for used in ("self._redis_connect()", "self.pubsub.subscribe(self.channel)", "pubsub.listen()"):
        assert used in source
    assert "_redis_listen_with_retries()" in inspect.getsource(socketio.AsyncRedisManager._listen)


def test_the_redis_managers_emit_rides_on_socketios_listener() -> None:
    """`FastRedisManager.emit` publishes a message of its own (core/recovery_store.py's
    script) that python-socketio's listener hands to `_handle_emit`, this node's included
    (its `host_id` is not the node's); the overrides keep the base's parameters."""
    from socketio.async_pubsub_manager import AsyncPubSubManager

    from core.transport.redis_manager import FastRedisManager

    source = inspect.getsource(AsyncPubSubManager._thread)
    for used in (
        "data = self.json.loads(message)",
        "elif data.get('host_id') != self.host_id:",
        "if data['method'] == 'emit':",
        "await self._handle_emit(data)",
    ):
        assert used in source, used
    for name in ("emit", "_handle_emit"):
        ours = list(inspect.signature(getattr(FastRedisManager, name)).parameters)
        theirs = list(inspect.signature(getattr(AsyncPubSubManager, name)).parameters)
        assert ours == theirs, name
    emit = inspect.getsource(AsyncPubSubManager.emit)
    assert "if kwargs.get('ignore_queue'):" in emit  # the path a python-socketio emit keeps

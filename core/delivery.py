"""Socket.IO client managers whose emits neither start a task nor encode per recipient.

python-socketio's client manager is its extension point for delivery: `FastManager`
replaces `AsyncManager.emit` (one node) and `FastRedisManager` puts the same local
delivery under `AsyncRedisManager` (a broadcast from any node, this one included, reaches
this node's sockets through `FastManager.emit`). An emit encodes the packet once and hands
it to every recipient through `core.engine.Delivery` without awaiting anything, so one
emit's packets are all on their way, in emit order, before any other task runs.

Emits with a callback (an ack asked of the client) keep python-socketio's own path: each
recipient needs its own packet id. The server never asks clients for acks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import socketio
from socketio import packet

from core.engine import Outgoing


class FastManager(socketio.AsyncManager):
    """`AsyncManager` with one-encode, no-task delivery (see the module docstring)."""

    # Told, after each emit this node delivered, its target (a room key or a socket id) and
    # how many sockets it went to: the inspection page's figures (core/figures.py).
    on_delivered: Callable[[str, int], None] | None = None

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str,
        room: Any = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: Any = None,
        **kwargs: Any,
    ) -> None:
        server = self.server
        delivery = getattr(server, "delivery", None)
        if callback is not None or delivery is None:
            return await super().emit(
                event,
                data,
                namespace,
                room=room,
                skip_sid=skip_sid,
                callback=callback,
                to=to,
                **kwargs,
            )
        room = to or room
        if namespace not in self.rooms:
            return
        if isinstance(data, tuple):
            data = list(data)
        elif data is not None:
            data = [data]
        else:
            data = []
        encoded = server.packet_class(
            packet.EVENT, namespace=namespace, data=[event, *data]
        ).encode()
        if not isinstance(encoded, str):  # binary attachments: python-socketio's path
            return await super().emit(
                event, tuple(data), namespace, room=room, skip_sid=skip_sid, **kwargs
            )
        out = Outgoing(encoded)
        deliver = delivery.deliver
        count = 0
        if skip_sid is None:
            for _sid, eio_sid in self.get_participants(namespace, room):
                deliver(eio_sid, out)
                count += 1
        else:
            skip = set(skip_sid) if isinstance(skip_sid, list) else {skip_sid}
            for sid, eio_sid in self.get_participants(namespace, room):
                if sid not in skip:
                    deliver(eio_sid, out)
                    count += 1
        if self.on_delivered is not None and isinstance(room, str):
            self.on_delivered(room, count)


class FastRedisManager(socketio.AsyncRedisManager, FastManager):
    """`AsyncRedisManager` whose local delivery is `FastManager.emit`."""

"""The transport: the one place the core reaches into python-engineio's, python-socketio's
and Sanic's internals, split by job. Recovery's wire part (the `pid` in the CONNECT reply,
an offset as the last argument of room events, restoring a session's sid and rooms)
belongs here too.

- `socketserver.py`: `LvngServer`, python-socketio's `AsyncServer` with its client side
  hardened (it overrides its private `_handle_*` methods and `_send_packet`);
- `delivery.py`: `FastManager` (python-socketio's client manager) and
  `Delivery`: an emit encoded once, no task per recipient, coalesced writes, the
  slow-consumer bound;
- `redis_manager.py`: `FastRedisManager`, the same delivery under `AsyncRedisManager`,
  with the cluster's recovery offsets (core/recovery_store.py);
- `frames.py`: `Outgoing`, `text_frame`, `frame_of`: a packet's websocket frame and its
  Engine.IO packet, each built once;
- `engine.py`: `LvngSocket` (`adopt`), python-engineio's `AsyncSocket` with no writer task,
  no task per read and no timer per ping;
- `eio_input.py`: what a client sends, taken defensively: every packet of a polling POST
  (no 16-packet cap), a malformed packet ending the session with one throttled warning;
- `websocket.py`: Sanic's websocket, read in the handler's task, recorded on its session,
  slimmed, and closed with a bound;
- `pings.py`: `Pings`, every session's next ping on one timer per server;
- `slim.py`: `slim`, idle asyncio Events and Queues without their deques;
- `closing.py`: ending a session's transport (a stopping server, a released long-poll).

Checked against python-engineio 4.15.1, python-socketio 5.18.1 and Sanic 25.12.1, each
pinned exactly in pyproject.toml (`PINNED`); `tests/test_engine.py` fails when what is
used here changes, so an upgrade fails a test instead of silently slowing or breaking
delivery.
"""

# The versions the modules of this package were checked against (tests/test_engine.py).
PINNED = {"python-engineio": "4.15.1", "python-socketio": "5.18.1", "sanic": "25.12.1"}

"""The bare python-socketio baseline of `python -m bench`: Sanic + python-socketio's stock
AsyncServer, broadcast only (no auth, no storage), the same events as node_server.js.

`python bench/bare_socketio.py PORT`
"""

import os
import sys
import threading

import socketio
from sanic import Sanic

sio = socketio.AsyncServer(async_mode="sanic", cors_allowed_origins="*")
app = Sanic("bare_socketio", configure_logging=False)
app.config.MOTD = False
app.config.GRACEFUL_SHUTDOWN_TIMEOUT = 1
sio.attach(app)


@sio.on("join")
async def join(sid, room):
    await sio.enter_room(sid, str(room))
    return True


@sio.on("send")
async def send(sid, data):
    await sio.emit("new", data, room=str(data.get("room", "")))
    return True


if __name__ == "__main__":
    # Stops by itself, whatever happens to the bench that started it.
    timer = threading.Timer(float(os.environ.get("BENCH_MAX_SECONDS", "3600")), lambda: os._exit(0))
    timer.daemon = True
    timer.start()
    # The listen backlog as LVNG's (Sanic's 100 resets handshakes in a connect burst).
    app.run(
        host="127.0.0.1", port=int(sys.argv[1]), single_process=True, access_log=False, backlog=1024
    )

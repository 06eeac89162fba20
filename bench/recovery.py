"""`python -m bench.recovery`: clients recovering after a graceful restart (issue 23).

CLIENTS socket.io-client sockets in ROOMS channels (bench/recovery.js), one sender per
room sending numbered messages at RATE per second in all; after `--before` seconds the
server (the embedded default: SQLite, one process) gets SIGTERM and starts again on the
same port and database while the senders keep sending (socket.io-client buffers what it
sends while down). Reports how many clients came back recovered, how long after the new
server was up the last one was, and what was lost (acked but never delivered to a member
of its room) or doubled.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.__main__ import BENCH, REPO, SECRET, free_port


def serve(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LVNG_")}
    env.update(
        {
            "LVNG_JWT_SECRET": SECRET,
            "LVNG_LOG_LEVEL": "WARNING",
            "LVNG_RATE_LIMIT_EVENTS": "1000000",
            "LVNG_RATE_LIMIT_USER_EVENTS": "1000000",
            "LVNG_MAX_CONNECTIONS_PER_USER": "100000",
            "BENCH_MAX_SECONDS": "900",
            "PYTHONPATH": str(REPO),
        }
    )
    command = [sys.executable, str(BENCH / "lvng_server.py"), "--port", str(port)]
    with (workdir / "server.log").open("ab") as log:
        proc = subprocess.Popen(command, cwd=workdir, env=env, stdout=log, stderr=log)
    deadline = time.monotonic() + 60
    import urllib.request

    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2).read()
            return proc
        except Exception:  # noqa: BLE001
            if proc.poll() is not None:
                raise RuntimeError((workdir / "server.log").read_text()[-2000:]) from None
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the server did not start")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="lvng-bench-recovery-"))
    port = free_port()
    server = serve(workdir, port)
    env = {
        **os.environ,
        "URL": f"http://127.0.0.1:{port}",
        "SECRET": SECRET,
        "CLIENTS": str(args.clients),
        "ROOMS": str(args.rooms),
        "RATE": str(args.rate),
    }
    node = await asyncio.create_subprocess_exec(
        "node",
        str(BENCH / "recovery.js"),
        cwd=BENCH,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert node.stdin is not None and node.stdout is not None
    try:
        line = await asyncio.wait_for(node.stdout.readline(), 300)
        assert json.loads(line)["event"] == "ready", line
        await asyncio.sleep(args.before)
        stopped = time.monotonic()
        server.send_signal(signal.SIGTERM)
        await asyncio.to_thread(server.wait, 60)
        server = serve(workdir, port)
        down = time.monotonic() - stopped
        node.stdin.write(b"restarted\n")
        await asyncio.sleep(args.after)
        node.stdin.write(b"stop\n")
        await node.stdin.drain()
        result = json.loads(await asyncio.wait_for(node.stdout.readline(), 120))
        result["server_down_s"] = round(down, 2)
        return result
    finally:
        if node.returncode is None:
            node.kill()
        server.send_signal(signal.SIGINT)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=5000)
    parser.add_argument("--rooms", type=int, default=500)
    parser.add_argument("--rate", type=float, default=200, help="messages/s, all rooms")
    parser.add_argument("--before", type=float, default=3, help="seconds before SIGTERM")
    parser.add_argument("--after", type=float, default=10, help="seconds after the restart")
    result = asyncio.run(run(parser.parse_args()))
    print(json.dumps(result))
    return 0 if result["lost"] == 0 and result["doubled"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

"""docs/webhooks.md's Python receiver, run as written (its port changed): it verifies and
prints what a live server sends it."""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Callable
from pathlib import Path

from tests.live import REPO, LiveServer, free_port
from tests.webhooks.support import config, write_config

DOC = REPO / "docs" / "webhooks.md"


def python_receiver() -> str:
    (block,) = re.findall(r"^```python\n(.*?)^```", DOC.read_text(), re.M | re.S)
    assert "port=8000" in block
    return str(block)


def documented_secret() -> str:
    (secret,) = set(re.findall(r"whsec_[A-Za-z0-9+/=]+", python_receiver()))
    return str(secret)


async def test_the_documented_python_receiver_verifies_what_the_server_sends(
    tmp_path: Path, start_server: Callable[..., LiveServer]
) -> None:
    port = free_port()
    script = tmp_path / "receiver.py"
    script.write_text(python_receiver().replace("port=8000", f"port={port}"))
    receiver = await asyncio.create_subprocess_exec(
        sys.executable,
        "-u",
        str(script),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        endpoint = (
            "[[plugins.webhooks.endpoints]]\n"
            f'url = "http://127.0.0.1:{port}/lvng/webhooks"\n'
            f'secret = "{documented_secret()}"\n'
            'events = ["message.created"]\n'
        )
        path = write_config(tmp_path / "server", config({"retry_initial_seconds": 0.2}, [endpoint]))
        live = start_server(args=["--config", str(path)], workdir=tmp_path / "server")
        alice = await live.connect("alice", "acme")
        assert (await alice.call("channel:join", {"channelId": "docs"}))["ok"]
        ack = await alice.call("message:send", {"channelId": "docs", "content": "hello"})
        assert ack["ok"], ack
        assert receiver.stdout is not None
        while True:  # the receiver prints each event it verified (aiohttp's banner first)
            line = (await asyncio.wait_for(receiver.stdout.readline(), 20)).decode()
            assert line, "the receiver exited"
            if line.startswith("message.created"):
                break
        assert line.startswith("message.created acme {")
        assert f"'messageId': '{ack['id']}'" in line
    finally:
        receiver.terminate()
        await receiver.wait()

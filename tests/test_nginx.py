"""Nodes behind a real nginx with deploy/nginx/lvng.conf (issue 14): long-polling clients
(python-socketio with `transports=["polling"]`) reach two nodes through `ip_hash`, keep
reaching the node that holds their session, and hear each other across nodes.

`ip_hash` keys an IPv4 client on its first three octets, so the clients connect from
different loopback networks (127.0.N.1); each one's node is read from the nodes' own
`lvng_connections_active`.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest

from tests.live import REPO, Client, LiveServer, free_port
from tests.messages.support import uid
from tests.services import IN_CI

pytestmark = pytest.mark.timeout(120)

SITE = REPO / "deploy" / "nginx" / "lvng.conf"


class Nginx:
    """nginx in front of `nodes` with the deploy file, on a free port; stopped by pid."""

    def __init__(self, workdir: Path, nodes: list[LiveServer]) -> None:
        self.binary = shutil.which("nginx") or (
            Path("/usr/sbin/nginx") if Path("/usr/sbin/nginx").exists() else None
        )
        if self.binary is None:
            message = "nginx is not installed (apt-get install nginx; .ci/run does)"
            if IN_CI:
                pytest.fail(message)
            pytest.skip(message)
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        site = SITE.read_text()
        upstream = "".join(f"    server 127.0.0.1:{node.port};\n" for node in nodes)
        site, count = re.subn(r"(?m)^    server 10\.0\.0\.\d+:8000[^\n]*\n", "", site)
        assert count == 2, "the deploy file's upstream servers moved"
        site = site.replace("    ip_hash;\n", "    ip_hash;\n" + upstream, 1)
        site = site.replace("listen 80;", f"listen 127.0.0.1:{self.port};", 1)
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "lvng.conf").write_text(site)
        temp = "".join(
            f"    {kind}_temp_path {workdir / kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        user = "user root root;\n" if os.geteuid() == 0 else ""
        (workdir / "nginx.conf").write_text(
            f"{user}daemon off;\nworker_processes 1;\npid {workdir / 'nginx.pid'};\n"
            f"error_log {workdir / 'error.log'} warn;\nevents {{ worker_connections 512; }}\n"
            f"http {{\n    access_log off;\n{temp}    include {workdir / 'lvng.conf'};\n}}\n"
        )
        self.proc: subprocess.Popen | None = None

    def start(self) -> Nginx:
        conf = str(self.workdir / "nginx.conf")
        test = subprocess.run(
            [
                str(self.binary),
                "-t",
                "-c",
                conf,
                "-p",
                str(self.workdir),
                "-e",
                str(self.workdir / "error.log"),
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert test.returncode == 0, test.stderr
        self.proc = subprocess.Popen(
            [
                str(self.binary),
                "-c",
                conf,
                "-p",
                str(self.workdir),
                "-e",
                str(self.workdir / "error.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while True:
            assert self.proc.poll() is None, self.log()
            try:
                with socket.create_connection(("127.0.0.1", self.port), 0.2):
                    return self
            except OSError:
                assert time.monotonic() < deadline, self.log()
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def log(self) -> str:
        path = self.workdir / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""


async def _active(nodes: list[LiveServer]) -> list[float]:
    return [await node.metric("lvng_connections_active") for node in nodes]


async def test_polling_clients_through_nginx_ip_hash_reach_both_nodes(cluster, tmp_path):
    nodes = cluster()
    a, b = nodes.start_node(), nodes.start_node()
    proxy = Nginx(tmp_path / "nginx", [a, b]).start()
    sessions: list[aiohttp.ClientSession] = []
    try:
        org, channel = uid("org"), uid("ch")
        assert (await a.http("GET", "/readyz"))[0] == 200
        on: dict[int, Client] = {}  # node index → a client that landed there
        for network in range(16):
            http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(local_addr=(f"127.0.{network}.1", 0))
            )
            sessions.append(http)
            before = await _active([a, b])
            client = Client(proxy.url, http_session=http)
            a.clients.append(client)
            await client.connect(a.token(f"user{network}", org), transport="polling")
            after = await _active([a, b])
            [node] = [i for i in (0, 1) if after[i] == before[i] + 1]
            on.setdefault(node, client)
            if len(on) == 2:
                break
        assert len(on) == 2, "ip_hash sent sixteen networks to one node"
        first, second = on[0], on[1]
        assert first.sio.transport() == second.sio.transport() == "polling"

        # Each long-poll and each send is a new request through nginx: the session keeps
        # working only because they all reach its node.
        for client in (first, second):
            assert (await client.call("channel:join", {"channelId": channel}))["ok"] is True
            await client.next("channel:history")
        users = [c.received["connected"][0]["userId"] for c in (first, second)]
        assert [(await first.next("channel:join"))["userId"] for _ in users] == users
        for n in range(5):
            for sender, hearer in ((first, second), (second, first)):
                text = f"{n} from node {0 if sender is first else 1}"
                ack = await sender.call("message:send", {"channelId": channel, "content": text})
                assert ack["ok"] is True, ack
                assert (await hearer.next("message:new"))["content"] == text
                assert (await sender.next("message:new"))["content"] == text
        assert [m["content"] for m in first.received["message:new"]] == [
            m["content"] for m in second.received["message:new"]
        ]
        assert len(first.received["message:new"]) == 10
        # Still the same two sessions on the same two nodes, nothing reconnected.
        assert await _active([a, b]) == after
        assert first.sio.connected and second.sio.connected
        # The API goes through nginx as well; /metrics stays inside.
        async with aiohttp.ClientSession() as plain:
            async with plain.get(
                proxy.url + f"/api/v1/channels/{channel}/messages",
                headers={"Authorization": f"Bearer {a.token('reader', org)}"},
            ) as resp:
                assert resp.status == 200
                assert len((await resp.json())["messages"]) == 10
            async with plain.get(proxy.url + "/metrics") as resp:
                assert resp.status == 404
        await a.close_clients()
    finally:
        for http in sessions:
            await http.close()
        proxy.stop()
        await asyncio.sleep(0)

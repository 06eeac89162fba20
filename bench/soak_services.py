"""What the soak (bench/soak.py) runs and breaks: a Redis and a PostgreSQL of its own on
free ports (so it can stop and start them without touching anyone else's), two LVNG nodes,
and nginx in front of them with deploy/nginx/lvng.conf (upstreams and port swapped).

Every process is started here, stopped by its pid, and ends by itself after the bench's
MAX_SECONDS (the nodes through bench/lvng_server.py; Redis and PostgreSQL are stopped in
`Services.close`, which the soak runs in a `finally`).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.3):
            return True
    except OSError:
        return False


def wait_port(port: int, proc: subprocess.Popen[bytes] | None, what: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not reachable(port):
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not listen on {port} within {seconds} s")
        time.sleep(0.05)


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class OwnRedis:
    """redis-server on a free port, no persistence: stop() loses everything it held, as a
    restarted cache does."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> OwnRedis:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self.workdir.mkdir(parents=True, exist_ok=True)
        with (self.workdir / "redis.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
                + ["--appendonly", "no", "--dir", str(self.workdir)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_port(self.port, self.proc, "redis-server", 10)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class OwnPostgres:
    """A private PostgreSQL cluster (initdb + pg_ctl, as the `postgres` user when run as
    root) under a temporary directory, on a free port: stopped and started on purpose."""

    def __init__(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="lvng-soak-pg-"))
        self.data = self.workdir / "data"
        self.port = free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    @staticmethod
    def tool(name: str) -> str:
        found = PG_BIN / name if (PG_BIN / name).exists() else shutil.which(name)
        if found is None:
            raise RuntimeError(f"{name} is not installed (PostgreSQL 15's binaries)")
        return str(found)

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        prefix = [] if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--"]
        return subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=90)

    def start(self) -> OwnPostgres:
        if not self.data.exists():
            if os.geteuid() == 0:
                shutil.chown(self.workdir, "postgres")
            made = self._run(
                self.tool("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"
            )
            if made.returncode != 0:
                raise RuntimeError(made.stdout + made.stderr)
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories= "
            "-c fsync=off -c max_connections=200"
        )
        started = self._run(
            self.tool("pg_ctl"), "-D", str(self.data), "-o", options, "-l",
            str(self.workdir / "postgres.log"), "-w", "start",
        )  # fmt: skip
        if started.returncode != 0:
            raise RuntimeError(started.stdout + started.stderr)
        return self

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(self.tool("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


@dataclass
class Node:
    """One `lvng serve` on a fixed port, restarted on the same port after a fault."""

    name: str
    workdir: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def start(self) -> Node:
        self.workdir.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, str(BENCH / "lvng_server.py"), "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--workers", "1"]
        command += ["--config", str(self.workdir / "lvng.toml")]
        with self.log.open("ab") as out:
            out.write(f"\n=== start {self.starts + 1} at {time.time():.1f}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(
                command, cwd=self.workdir, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        self.starts += 1
        wait_port(self.port, self.proc, f"node {self.name}", 60)
        return self

    def signal(self, sig: signal.Signals, wait: float = 30) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(wait)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None


class Nginx:
    """nginx with deploy/nginx/lvng.conf in front of the nodes, on a free port."""

    def __init__(self, workdir: Path, nodes: list[Node]) -> None:
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(binary).exists():
            raise RuntimeError("nginx is not installed")
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        site = (REPO / "deploy" / "nginx" / "lvng.conf").read_text()
        # The deploy file's upstream servers, addresses swapped, parameters kept.
        ports = iter(n.port for n in nodes)
        site, count = re.subn(
            r"(?m)^(    server )10\.0\.0\.\d+:8000",
            lambda m: f"{m[1]}127.0.0.1:{next(ports)}",
            site,
        )
        if count != len(nodes):
            raise RuntimeError("deploy/nginx/lvng.conf's upstream servers moved")
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
            f"error_log {workdir / 'error.log'} warn;\nevents {{ worker_connections 2048; }}\n"
            f"http {{\n    access_log off;\n{temp}    include {workdir / 'lvng.conf'};\n}}\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Nginx:
        args = [self.binary, "-c", str(self.workdir / "nginx.conf"), "-p", str(self.workdir)]
        args += ["-e", str(self.workdir / "error.log")]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_port(self.port, self.proc, "nginx", 10)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def migrate(env: dict[str, str], workdir: Path) -> None:
    """`lvng migrate`, as an operator does before starting nodes on PostgreSQL."""
    done = subprocess.run(
        [sys.executable, "-m", "core.cli", "migrate"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stdout + done.stderr)

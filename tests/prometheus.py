"""A real Prometheus (Debian's `prometheus` package) for the tests, and `promtool`.

`Prometheus` runs the server on a free port with a config made from
deploy/prometheus/prometheus.yml (its targets swapped for live servers, short intervals)
and a data directory of its own; `query()` asks its HTTP API.
"""

from __future__ import annotations

import math
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from tests.live import REPO, free_port
from tests.services import IN_CI

DEPLOY = REPO / "deploy"


def require_tool(name: str) -> str:
    """The path of `name` (prometheus, promtool); skipped when missing, failed under CI."""
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} is not installed (apt-get install prometheus; .ci/run does)"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_tool("promtool"), *args],
        input=stdin,
        text=True,
        capture_output=True,
        timeout=60,
        cwd=REPO,
    )


class Prometheus:
    """`prometheus` scraping `targets` every `interval` seconds with deploy's alert rules."""

    def __init__(self, workdir: Path, targets: list[str], interval: float = 1.0) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "prometheus.log"
        config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
        config["global"].update(
            scrape_interval=f"{interval:g}s",
            scrape_timeout=f"{interval:g}s",
            evaluation_interval=f"{interval:g}s",
        )
        config.pop("alerting", None)  # no Alertmanager here; the rules still evaluate
        config["rule_files"] = [str(DEPLOY / "prometheus" / name) for name in config["rule_files"]]
        [job] = [j for j in config["scrape_configs"] if j["job_name"] == "lvng"]
        job["static_configs"] = [{"targets": targets, "labels": {"cluster": "test"}}]
        self.config_path = workdir / "prometheus.yml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.proc: subprocess.Popen | None = None

    def start(self) -> Prometheus:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                require_tool("prometheus"),
                f"--config.file={self.config_path}",
                f"--storage.tsdb.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        return self

    async def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as session:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"prometheus exited with {self.proc.returncode}:\n{self.log()}"
                    )
                try:
                    async with session.get(self.url + "/-/ready") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                assert time.monotonic() < deadline, f"prometheus not ready:\n{self.log()}"
                await _pause()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def api(self, path: str, **params: str) -> Any:
        async with aiohttp.ClientSession() as session:
            async with session.get(self.url + path, params=params) as resp:
                body = await resp.json()
        assert body["status"] == "success", (path, params, body)
        return body["data"]

    async def query(self, expr: str) -> list[tuple[dict[str, str], float]]:
        """An instant vector: each series' labels and value."""
        data = await self.api("/api/v1/query", query=expr)
        assert data["resultType"] == "vector", (expr, data)
        return [(item["metric"], float(item["value"][1])) for item in data["result"]]

    async def wait_for_scrape_after(self, moment: float, timeout: float = 20.0) -> None:
        """Until every target was scraped at or after `moment` (epoch seconds)."""
        deadline = time.monotonic() + timeout
        while True:
            # On the selector itself, timestamp() is the scrape's time (on anything
            # computed it would be the query's).
            scrapes = await self.query('timestamp(up{job="lvng"})')
            if scrapes and min(value for _, value in scrapes) >= moment:
                return
            assert time.monotonic() < deadline, f"no scrape after {moment}: {scrapes}\n{self.log()}"
            await _pause()


def returns_data(result: list[tuple[dict[str, str], float]]) -> bool:
    """At least one series, every value a number (no NaN from 0/0 or empty buckets)."""
    return bool(result) and all(math.isfinite(value) for _, value in result)


async def _pause() -> None:
    import asyncio

    await asyncio.sleep(0.1)

"""`python -m bench --quick` runs end to end, so the benchmark cannot rot: every section
is in its JSON and nothing was lost (no timing assertions)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.services import IN_CI

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"


def need_node() -> None:
    """Node and bench/node_modules, else a failure in CI and a skip elsewhere."""
    if not (shutil.which("node") and (BENCH / "node_modules" / "socket.io-client").is_dir()):
        message = "node or bench/node_modules missing (run: npm ci --prefix bench)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


@pytest.mark.timeout(420)
def test_the_quick_benchmark_runs_and_loses_nothing(tmp_path):
    need_node()
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["mode"] == "quick" and report["machine"]["load_at_start"]
    for kind in ("lvng", "bare", "node"):
        rows = report["fanout"][kind]
        assert [r["members"] for r in rows] == [20, 50]
        for row in rows:
            assert row["acked"] > 0 and row["delivered"] > 0, row
            assert row["lost"] == 0 and row["failed"] == 0, row
            assert row["p50_ms"] is not None and row["p99_ms"] is not None
        connections = report["connections"][kind]
        assert connections["connections"] == 200 and connections["bytes_per_connection"]
        assert connections["server_cpu_ms_per_connect"] > 0, connections
    for row in report["fanout"]["lvng"]:
        assert row["out_of_order"] == 0, row  # a socket's sends reach everyone in order
    sustained = report["sustained"]
    assert sustained["lost"] == 0 and sustained["acked"] > 0, sustained
    for kind in ("lvng", "bare", "node"):  # many small rooms: every message heard, in order
        rooms = report["rooms"][kind]
        assert rooms["connections"] == 200 and rooms["rooms"] == 40, rooms
        assert rooms["acked"] > 0 and rooms["failed"] == 0, rooms
        assert rooms["lost"] == 0 and rooms["out_of_order"] == 0, rooms
        assert rooms["delivered"] == rooms["acked"] * 10, rooms
    stores = [report["persistence"]["sqlite"], report["persistence"]["postgres"]]
    for store in stores:
        if "skipped" in store and not IN_CI:
            continue
        assert [(r["senders"], r["in_flight"]) for r in store["runs"]] == [(10, 1), (20, 2)]
        for run in store["runs"]:
            assert run["acked_per_s"] > 0 and run["failed"] == 0, run
            assert run["ack_p99_ms"] is not None and run["vs_one_row_commits"] > 0, run
        ceiling = store["ceiling"]
        assert ceiling["one_row_commits_per_s"] > 0 and ceiling["batched_rows_per_s"] > 0
    for store in ("sqlite", "postgres"):  # channel:list: every count right (issue 28)
        channels = report["channels"][store]
        if "skipped" in channels and not IN_CI:
            continue
        assert (channels["listed"], channels["wrong_counts"]) == (20, 0), channels
        assert channels["p50_ms"] > 0, channels
    assert {"fanout_20_vs_bare", "fanout_50_vs_node"} <= set(report["ratios"])
    assert "fan-out" in done.stdout and "persistence" in done.stdout
    assert "many small rooms" in done.stdout
    # A run on a busy machine says so, first: its absolute numbers are not comparable.
    cpus, load = report["machine"]["cpus"], report["machine"]["load_at_start"][0]
    assert report["comparable"] is (load <= 0.5 * cpus)
    warned = done.stdout.startswith("WARNING: the machine was loaded when this run started")
    assert warned is (not report["comparable"])


@pytest.mark.timeout(300)
def test_the_large_org_section_runs_and_every_socket_comes_back(tmp_path):
    """`--sections large-org --quick`: 300 sockets of one organization connect, subscribe,
    and after a SIGTERM and a restart are all back and listed online (no timing asserted)."""
    need_node()
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--servers",
            "lvng",
            "--sections",
            "large-org",
            "--out",
            str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    [run] = json.loads(out.read_text())["large_org"]
    assert run["sockets"] == 300 and run["subscribed"] == 300 * 20, run
    assert run["server_cpu_ms_per_connect"] > 0, run
    assert run["online_before_storm"] == 300 and run["storm"]["online_after"] == 300, run
    assert run["storm"]["presence_right_seconds"] is not None, run
    assert "one large organization" in done.stdout


@pytest.mark.timeout(120)
def test_the_large_org_section_without_the_storm_measures_the_connects_only(tmp_path):
    """`--no-storm`: the connects and their server CPU, no restart (`storm` is null)."""
    need_node()
    out = tmp_path / "bench.json"
    command = ["--servers", "lvng", "--sections", "large-org", "--large-org", "40"]
    done = subprocess.run(
        [sys.executable, "-m", "bench", *command, "--no-storm", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    [run] = json.loads(out.read_text())["large_org"]
    assert (run["sockets"], run["online_before_storm"], run["storm"]) == (40, 40, None), run
    assert run["server_cpu_ms_per_connect"] > 0, run
    assert "(no storm: --no-storm)" in done.stdout

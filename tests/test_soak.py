"""`python -m bench --quick --sections soak` (bench/soak.py, issue 26): two nodes behind
nginx, a Redis and a PostgreSQL of the soak's own, users of every domain, and faults on a
schedule (a node SIGKILLed and one SIGTERMed, each restarted; Redis stopped and started;
PostgreSQL stopped and started). The quick soak injects at least three kinds of fault and
reports nothing lost, nothing duplicated, no ghost; refusals during an outage (an error
ack) are counted apart from what was acked."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.soak_services import OwnPostgres
from tests.services import IN_CI

REPO = Path(__file__).resolve().parent.parent


def _require_tools() -> None:
    missing = [name for name in ("redis-server", "nginx") if shutil.which(name) is None]
    missing += [name for name in ("initdb", "pg_ctl") if not _pg_tool(name)]
    if missing:
        message = f"the soak needs {', '.join(missing)}"
        (pytest.fail if IN_CI else pytest.skip)(message)


def _pg_tool(name: str) -> bool:
    try:
        OwnPostgres.tool(name)
    except RuntimeError:
        return False
    return True


@pytest.mark.timeout(420)
def test_the_quick_soak_breaks_things_and_loses_nothing(tmp_path):
    _require_tools()
    out = tmp_path / "soak.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--sections", "soak", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    soak = json.loads(out.read_text())["soak"]
    summary = {k: v for k, v in soak.items() if k != "rss_kib"}
    assert len(soak["fault_kinds"]) >= 3, summary
    assert {"sigkill", "sigterm", "redis", "postgres"} <= set(soak["fault_kinds"]), summary
    # Every domain did something, and it was checked.
    assert soak["acked"] > 50 and soak["messages_stored"] >= soak["acked"], summary
    assert soak["segments_acked"] > 0 and soak["swarm_acked"] > 0, summary
    assert soak["unread"] and soak["reconnects"] > 0, summary
    assert soak["unrecovered_users"] == [], summary
    # The invariants.
    assert soak["lost"] == 0, summary
    assert soak["duplicates"] == 0, summary
    assert soak["ghosts"] == 0, summary
    assert soak["swarm_seq_gaps"] == 0, summary
    assert soak["unread_mismatches"] == 0, summary
    assert soak["unanswered"] == 0, summary
    assert soak["tracebacks"] == [], summary
    assert len(soak["rss_kib"]) > 5 and all(row["a"] or row["b"] for row in soak["rss_kib"])

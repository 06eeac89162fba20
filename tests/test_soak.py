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


@pytest.fixture(scope="module")
def soak(tmp_path_factory):
    """One quick soak for every test of the module (about two minutes)."""
    _require_tools()
    out = tmp_path_factory.mktemp("soak") / "soak.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--sections", "soak", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())["soak"]
    report["summary"] = {k: v for k, v in report.items() if k != "rss_kib"}
    return report


pytestmark = pytest.mark.timeout(420)


def test_the_quick_soak_injects_every_kind_of_fault_and_every_domain_works(soak):
    summary = soak["summary"]
    assert len(soak["fault_kinds"]) >= 3, summary
    assert {"sigkill", "sigterm", "redis", "postgres"} <= set(soak["fault_kinds"]), summary
    assert soak["acked"] > 50 and soak["messages_stored"] >= soak["acked"], summary
    assert soak["segments_acked"] > 0 and soak["swarm_acked"] > 0, summary
    assert soak["unread"] and soak["reconnects"] > 0, summary
    assert soak["unrecovered_users"] == [] and soak["unanswered"] == 0, summary
    # What the outages refused was refused with an error ack, and counted apart.
    assert set(soak["refused"]) <= {"UNAVAILABLE"}, summary
    assert len(soak["rss_kib"]) > 5 and all(row["a"] or row["b"] for row in soak["rss_kib"])


def test_nothing_acked_is_missing_from_the_store_and_nothing_is_duplicated(soak):
    summary = soak["summary"]
    assert soak["lost_not_stored"] == 0 and soak["segments_lost"] == 0, summary
    assert soak["swarm_lost"] == 0 and soak["swarm_stored_gaps"] == [], summary
    assert soak["duplicates"] == 0, summary


def test_no_ghosts_after_the_node_ttl(soak):
    assert soak["gone_for_good"], soak["summary"]  # users gone with a SIGKILLed node
    assert soak["ghosts"] == 0, soak["summary"]


def test_unread_counts_agree_with_the_stored_feed(soak):
    assert soak["unread_mismatches"] == 0, soak["summary"]


def test_every_conversation_message_has_its_feed_item(soak):
    """The item is stored in its message's transaction (core/derived.py): a SIGKILL leaves
    both or neither."""
    assert soak["activity_items_missing"] == 0, soak["summary"]


def test_no_tracebacks_in_the_nodes_logs(soak):
    assert soak["tracebacks"] == [], soak["summary"]


def test_every_stored_message_reached_every_member(soak):
    assert soak["lost_not_delivered"] == 0, soak["not_delivered"]
    assert soak["swarm_subscriber_gaps"] == {}, soak["summary"]
    assert soak["lost"] == 0 and soak["swarm_seq_gaps"] == 0, soak["summary"]

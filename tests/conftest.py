"""Fixtures: live servers started with `lvng serve` in scratch directories."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from tests.live import LiveServer
from tests.services import Cluster, ScratchDatabase

# The files that run a benchmark or the soak in a subprocess: a minute or two each. Under
# xdist (`make test`) a worker takes whole files in collection order, so these go first
# (shuffled among themselves): last, one worker would run them alone while the other idles.
LONG_FILES = ("tests/test_bench.py", "tests/test_soak.py")


@pytest.hookimpl(trylast=True)  # after pytest-randomly's shuffle, which it keeps otherwise
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: not item.nodeid.startswith(LONG_FILES))


_TEST_STARTED = pytest.StashKey[float]()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[_TEST_STARTED] = time.time()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed test's report ends with the log of each live server that wrote to its log
    during the test (its last lines, DEBUG left out): a failure seen once in a shuffled
    run can be understood from the report alone."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    started = item.stash.get(_TEST_STARTED, None)
    if not report.failed or call.when != "call" or started is None:
        return
    for live in LiveServer.instances:
        path = live.log_path
        if path.exists() and path.stat().st_mtime >= started:
            lines = [x for x in live.log().splitlines() if " DEBUG " not in x]
            report.sections.append((f"server log {path} (last 80 lines)", "\n".join(lines[-80:])))


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server with the default config (SQLite, all built-ins, the probe plugin)."""
    live = LiveServer(tmp_path_factory.mktemp("server")).start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def start_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., LiveServer]]:
    """Start a server with extra `LVNG_*` environment and CLI args; stopped after the module."""
    started: list[LiveServer] = []

    def start(
        env: dict[str, str] | None = None,
        args: list[str] | None = None,
        workdir: Path | None = None,
    ) -> LiveServer:
        live = LiveServer(workdir or tmp_path_factory.mktemp("server"), env, args).start()
        started.append(live)
        return live

    yield start
    for live in started:
        live.stop()


@pytest.fixture(autouse=True)
async def _close_clients() -> AsyncIterator[None]:
    """Disconnect every client a test opened on any live server."""
    yield
    for live in LiveServer.instances:
        await live.close_clients()


@pytest.fixture
async def empty_postgres() -> AsyncIterator[ScratchDatabase]:
    """A fresh, empty PostgreSQL database (skipped without PostgreSQL, failed under
    CI=true)."""
    database = await ScratchDatabase().create()
    yield database
    await database.drop()


@pytest.fixture
async def scratch_postgres(empty_postgres: ScratchDatabase) -> ScratchDatabase:
    """A fresh PostgreSQL database after `lvng migrate`: ready for `lvng serve`."""
    return await empty_postgres.migrate()


@pytest.fixture
async def cluster(
    scratch_postgres: ScratchDatabase, tmp_path: Path
) -> AsyncIterator[Callable[..., Cluster]]:
    """`cluster(config="...")`: nodes on one PostgreSQL database and one Redis; start them
    with `.start_node()`. Every node is stopped after the test."""
    made: list[Cluster] = []

    def make(config: str = "", env: dict[str, str] | None = None) -> Cluster:
        made.append(
            Cluster(tmp_path / f"cluster{len(made)}", scratch_postgres, env=env, config=config)
        )
        return made[-1]

    yield make
    for each in made:
        for node in each.nodes:
            await node.close_clients()
        each.stop()

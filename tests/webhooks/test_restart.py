"""Deliveries pending across a SIGTERM and a SIGKILL go out after the restart, in order,
each accepted once. One live server on its own SQLite file, restarted in place."""

from __future__ import annotations

import signal
from collections import Counter
from collections.abc import Callable

import pytest

from tests.live import LiveServer
from tests.webhooks.support import (
    Receiver,
    config,
    contents,
    endpoint_toml,
    send_messages,
    write_config,
)

SETTINGS = {
    "retry_initial_seconds": 0.2,
    "retry_max_seconds": 0.5,
    "timeout_seconds": 1,
    "poll_seconds": 0.2,
}


@pytest.fixture(scope="module")
def live(
    receiver: Receiver,
    start_server: Callable[..., LiveServer],
    tmp_path_factory: pytest.TempPathFactory,
) -> LiveServer:
    workdir = tmp_path_factory.mktemp("webhooks-restart")
    endpoint = endpoint_toml(receiver, "app", events=("message.created",))
    path = write_config(workdir, config(SETTINGS, [endpoint]))
    return start_server(args=["--config", str(path)], workdir=workdir)


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
async def test_pending_deliveries_go_out_after_a_restart(
    live: LiveServer, receiver: Receiver, how: str
) -> None:
    receiver.status["app"] = 503
    alice = await live.connect("alice", "acme")
    before = len(receiver.at("app"))
    await send_messages(alice, f"restart-{how}", 4, prefix=f"{how}-")
    await receiver.until(lambda: len(receiver.at("app")) >= before + 2)  # tried, refused
    await live.close_clients()
    if how == "SIGTERM":
        live.stop(signal.SIGTERM)
        assert live.log().rstrip().endswith("Server Stopped")  # shut down, hooks run
    else:
        live.kill()
    tried = {r.webhook_id for r in receiver.at("app")[before:]}
    receiver.status["app"] = 200
    live.start()
    wanted = [f"{how}-{n}" for n in range(4)]
    await receiver.until(
        lambda: [c for c in contents(receiver.accepted("app")) if c.startswith(how)] == wanted
    )
    mine = [r for r in receiver.accepted("app") if contents([r])[0].startswith(how)]
    assert tried <= {r.webhook_id for r in mine}  # retried after the restart: the same ids
    assert set(Counter(r.webhook_id for r in receiver.accepted("app")).values()) == {1}

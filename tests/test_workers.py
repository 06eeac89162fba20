"""`lvng serve --workers N` with Redis: rooms reach clients on every worker."""

from __future__ import annotations

import asyncio

from tests.services import require_redis


async def test_two_workers_share_rooms_through_redis(start_server):
    live = start_server(env={"LVNG_REDIS_URL": require_redis()}, args=["--workers", "2"])
    clients = [await live.connect(f"w{i}", "acme") for i in range(8)]
    for client in clients:
        assert (await client.call("probe:join", {"name": "fleet"}))["ok"] is True
    await asyncio.sleep(0.2)  # joins announce to earlier joiners; let those settle
    assert (await clients[0].call("probe:shout", {"name": "fleet"})) == {"ok": True}
    for client in clients[1:]:
        assert await client.next("probe:shout") == {"name": "fleet", "from": "w0"}
    await clients[0].nothing("probe:shout")
    assert "(workers: 2)" in live.log()
    await live.close_clients()

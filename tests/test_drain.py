"""A stop under load loses nothing it acknowledged and stores nothing it did not (issue 14,
contract section 1 "stop").

Several clients send messages as fast as they can, many in flight at once, while the
server is told to stop (SIGTERM). Each send ends one of three ways for its sender: an ack
`{ok: true}` (then it must be stored), an ack `{ok: false}` (the stop refused it), or the
line dropping before any ack; the last two must not be stored. After a restart the
channel's history over HTTP is exactly the acknowledged messages.
"""

from __future__ import annotations

import asyncio
import signal
import time

from tests.live import Client, LiveServer
from tests.messages.support import uid

SENDERS = 6
IN_FLIGHT = 8  # sends each client keeps unanswered at once


class Sender:
    """A client that keeps IN_FLIGHT sends outstanding until its line drops."""

    def __init__(self, live: LiveServer, org: str, channel: str, n: int) -> None:
        self.live, self.org, self.channel, self.n = live, org, channel, n
        self.client = Client(live.url)
        live.clients.append(self.client)
        self.sent: list[str] = []
        self.acked: list[str] = []
        self.refused: list[tuple[str, dict]] = []
        self.pending: dict[str, asyncio.Future] = {}
        # A careful client stops sending once told the server is stopping; a stubborn one
        # keeps sending until the line drops (its last sends never get an answer).
        self.stubborn = n % 2 == 0

    async def join(self) -> None:
        await self.client.connect(self.live.token(f"sender{self.n}", self.org))
        ack = await self.client.call("channel:join", {"channelId": self.channel})
        assert ack["ok"] is True, ack

    async def _one(self, content: str) -> None:
        answered = asyncio.get_running_loop().create_future()
        self.pending[content] = answered
        self.sent.append(content)
        await self.client.sio.emit(
            "message:send",
            {"channelId": self.channel, "content": content},
            callback=lambda ack: answered.done() or answered.set_result(ack),
        )
        gone = asyncio.ensure_future(self.client.disconnected.wait())
        await asyncio.wait([answered, gone], return_when=asyncio.FIRST_COMPLETED)
        gone.cancel()
        if not answered.done():
            return  # the line dropped first: never acknowledged
        ack = answered.result()
        del self.pending[content]
        if ack["ok"]:
            self.acked.append(content)
        else:
            self.refused.append((content, ack["error"]))

    async def run(self, first_acks: asyncio.Event) -> None:
        count = 0
        running: set[asyncio.Task] = set()
        # Until the line drops, or (a careful client) the server says it is stopping.
        while not self.client.disconnected.is_set():
            while (
                len(running) < IN_FLIGHT
                and not self.client.disconnected.is_set()
                and (self.stubborn or not self.refused)
            ):
                count += 1
                running.add(asyncio.ensure_future(self._one(f"s{self.n}-{count}")))
            if not running:
                await self.client.disconnected.wait()
                break
            done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
            if len(self.acked) >= 3:
                first_acks.set()
        if running:
            await asyncio.wait(running)


async def test_every_acked_message_is_stored_and_no_other(scratch_postgres, tmp_path):
    live = LiveServer(
        tmp_path,
        {
            "LVNG_DATABASE_URL": scratch_postgres.url,
            "LVNG_RATE_LIMIT_EVENTS": "100000",
            "LVNG_RATE_LIMIT_USER_EVENTS": "100000",
        },
    ).start()
    try:
        org, channel = uid("org"), uid("ch")
        senders = [Sender(live, org, channel, n) for n in range(SENDERS)]
        for sender in senders:
            await sender.join()
        every_one_acked = [asyncio.Event() for _ in senders]
        runs = [
            asyncio.ensure_future(s.run(e)) for s, e in zip(senders, every_one_acked, strict=True)
        ]
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in every_one_acked)), 20)
        live.proc.send_signal(signal.SIGTERM)  # mid-stream: every sender has sends in flight
        await asyncio.wait_for(asyncio.gather(*runs), 20)
        assert await asyncio.to_thread(live.proc.wait, 15) == 0

        acked = {c for s in senders for c in s.acked}
        refused = {c for s in senders for c, _ in s.refused}
        dropped = {c for s in senders for c in s.pending}
        sent = {c for s in senders for c in s.sent}
        assert acked | refused | dropped == sent and not acked & (refused | dropped)
        assert {e["code"] for s in senders for _, e in s.refused} <= {"UNAVAILABLE"}
        assert all(s.client.disconnect_reason == "transport error" for s in senders)
        assert len(acked) >= 3 * SENDERS and refused

        live.start()
        status, body = await live.http(
            "GET", f"/api/v1/channels/{channel}/messages?limit=100", token=live.token("reader", org)
        )
        assert status == 200
        stored = [m["content"] for m in body["messages"]]
        while body["hasMore"]:
            status, body = await live.http(
                "GET",
                f"/api/v1/channels/{channel}/messages?limit=100&before={body['messages'][0]['id']}",
                token=live.token("reader", org),
            )
            stored = [m["content"] for m in body["messages"]] + stored
        assert len(stored) == len(set(stored))
        assert set(stored) == acked, (
            f"stored, not acked: {set(stored) - acked}; acked, not stored: {acked - set(stored)}"
        )
        # Each sender's messages are stored in the order it sent them.
        for sender in senders:
            mine = [c for c in stored if c.startswith(f"s{sender.n}-")]
            assert mine == sorted(mine, key=lambda c: int(c.split("-")[1]))
        print(f"acked {len(acked)}, refused {len(refused)}, dropped {len(dropped)}")
    finally:
        await live.close_clients()
        live.stop()


async def test_the_drain_is_bounded_by_lvng_stop_drain_seconds(start_server):
    live = start_server(env={"LVNG_STOP_DRAIN_SECONDS": "0.2"})
    holder = await live.connect("holder")
    held = asyncio.ensure_future(holder.call("probe:hold", timeout=15))
    await holder.next("probe:holding")
    stopped_at = time.monotonic()
    live.proc.send_signal(signal.SIGTERM)
    await holder.next("probe:stopping", timeout=10)
    # The held event works 0.5 s past the stop; the drain gives it 0.2 s, then the line
    # drops without its ack.
    await asyncio.wait_for(holder.disconnected.wait(), 5)
    assert not held.done()
    held.cancel()
    assert await asyncio.to_thread(live.proc.wait, 10) == 0
    assert time.monotonic() - stopped_at < 5
    assert "stopping with 1 socket(s) still handling an event after 0.2 s" in live.log()

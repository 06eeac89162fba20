"""Subscribing: the snapshot then the live stream, none skipped or repeated, also while
agents publish during the subscribe; `afterSeq` replays only what follows; a late
subscriber sees how the session ended; bad input keeps the socket alive."""

from __future__ import annotations

import asyncio

import pytest

from tests.messages.support import expect_error
from tests.swarm.support import (
    agent_token,
    publish,
    read,
    seqs,
    subscribed,
    uid,
    until_seq,
)


async def test_a_late_subscriber_gets_every_earlier_update_then_the_live_ones(server):
    org, session = uid("org"), uid("swarm")
    earlier = [
        await publish(
            server, org, session, {"type": "step.started", "agent": "a", "stepId": f"s{n}"}
        )
        for n in range(5)
    ]
    late, state = await subscribed(server, org, session)
    assert state["updates"] == earlier and state["hasMore"] is False
    live = await publish(server, org, session, {"type": "step.completed", "agent": "a"})
    assert await late.next("swarm:update") == live
    await late.nothing("swarm:update", within=0.2)


@pytest.mark.parametrize("after_seq", [0, 1, 3, 4, 9])
async def test_after_seq_replays_only_what_follows(server, after_seq):
    org, session = uid("org"), uid("swarm")
    for n in range(4):
        await publish(server, org, session, {"type": "step.started", "agent": f"a{n}"})
    client, state = await subscribed(server, org, session, afterSeq=after_seq)
    assert seqs(state["updates"]) == list(range(after_seq + 1, 5))
    assert seqs((await read(server, org, session, afterSeq=after_seq))["updates"]) == list(
        range(after_seq + 1, 5)
    )
    nxt = await publish(server, org, session, {"type": "step.started", "agent": "next"})
    assert await client.next("swarm:update") == nxt


async def test_a_late_joiner_sees_the_terminal_event(server):
    org, session = uid("org"), uid("swarm")
    await publish(server, org, session, {"type": "session.started", "agent": "a"})
    end = await publish(
        server,
        org,
        session,
        {"type": "session.failed", "agent": "a", "output": {"error": "out of budget"}},
    )
    late, state = await subscribed(server, org, session, afterSeq=1)
    assert state == {"sessionId": session, "status": "failed", "updates": [end], "hasMore": False}
    # Resuming after the end: nothing to replay, the status still says it ended.
    _, state = await subscribed(server, org, session, "other", afterSeq=2)
    assert (state["status"], state["updates"], state["hasMore"]) == ("failed", [], False)


async def test_no_update_is_skipped_or_repeated_while_agents_publish_during_subscribes(server):
    """Each subscribe races four concurrent publishes; every subscriber must end up
    with exactly the seqs after its afterSeq, in order, once each."""
    org, session = uid("org"), uid("swarm")
    token = agent_token(server, org)
    for n in range(8):  # so that every afterSeq below names an update that exists
        await publish(server, org, session, {"type": "step.started", "agent": f"a{n}"}, token=token)
    rounds, per_round = 12, 4
    total = 8 + rounds * per_round

    clients = [await server.connect(f"watcher-{n}", org) for n in range(rounds + 1)]

    async def subscribe(n: int) -> tuple[int, object, list[int]]:
        client, after = clients[n], [None, 0, 5, 7][n % 4]
        payload = (
            {"sessionId": session} if after is None else {"sessionId": session, "afterSeq": after}
        )
        assert (await client.call("swarm:subscribe", payload))["ok"] is True
        assert await client.next("swarm:subscribed") == {"sessionId": session}
        state = await client.next("swarm:state")
        return after or 0, client, seqs(state["updates"])

    subscribers = []
    for r in range(rounds):
        *_, joined = await asyncio.gather(
            *(
                publish(
                    server,
                    org,
                    session,
                    {"type": "step.started", "agent": f"r{r}-{n}"},
                    token=token,
                )
                for n in range(per_round)
            ),
            subscribe(r),
        )
        subscribers.append(joined)
    late = await subscribe(rounds)  # after the last publish: all of it in the state
    for index, (after, client, got) in enumerate([*subscribers, late]):
        if got[-1:] != [total]:
            got = got + seqs(await until_seq(client, total))
        assert got == list(range(after + 1, total + 1)), (after, got)
        swarm = [e for e in client.arrivals if e.startswith("swarm:")]
        assert swarm[:2] == ["swarm:subscribed", "swarm:state"], swarm[:5]
        # Nothing after the last one either (the first check waits for all of them).
        await client.nothing("swarm:update", within=0.2 if index == 0 else 0)


async def test_more_than_500_earlier_updates_say_has_more(server):
    org, session = uid("org"), uid("swarm")
    token = agent_token(server, org)
    for batch in range(0, 502, 20):
        await asyncio.gather(
            *(
                publish(server, org, session, {"type": "step.started", "agent": "a"}, token=token)
                for _ in range(min(20, 502 - batch))
            )
        )
    client, state = await subscribed(server, org, session)
    assert (seqs(state["updates"]), state["hasMore"]) == (list(range(1, 501)), True)
    # The client pages the rest over HTTP, then listens.
    rest = await read(server, org, session, afterSeq=500)
    assert (seqs(rest["updates"]), rest["hasMore"]) == ([501, 502], False)
    page = await read(server, org, session, afterSeq=10, limit=5)
    assert (seqs(page["updates"]), page["hasMore"]) == ([11, 12, 13, 14, 15], True)
    assert len((await read(server, org, session))["updates"]) == 100  # read_page
    _, tail = await subscribed(server, org, session, "tail", afterSeq=499)
    assert (seqs(tail["updates"]), tail["hasMore"]) == ([500, 501, 502], False)


async def test_an_unsubscribed_or_disconnected_socket_hears_nothing_more(server):
    org, session = uid("org"), uid("swarm")
    phone, _ = await subscribed(server, org, session, "alice")
    laptop, _ = await subscribed(server, org, session, "alice")
    assert (await phone.call("swarm:unsubscribe", {"sessionId": session}))["ok"] is True
    await laptop.close()
    marker = await publish(server, org, session, {"type": "step.started", "agent": "a"})
    watcher, state = await subscribed(server, org, session, "bob")
    assert state["updates"] == [marker]
    await phone.nothing("swarm:update", within=0.2)


BAD = [
    (None, "sessionId: Field required"),
    ({}, "sessionId: Field required"),
    ({"sessionId": "../../etc/passwd"}, "sessionId: String should match"),
    ({"sessionId": 5}, "sessionId: Input should be a valid string"),
    ({"sessionId": "s", "afterSeq": -1}, "afterSeq: Input should be greater than or equal"),
    ({"sessionId": "s", "afterSeq": "3"}, "afterSeq: Input should be a valid integer"),
    ({"sessionId": "s", "afterSeq": 1.5}, "afterSeq: Input should be a valid integer"),
]


@pytest.mark.parametrize(("payload", "problem"), BAD)
async def test_bad_input_is_a_validation_error_and_the_socket_lives_on(server, payload, problem):
    org, session = uid("org"), uid("swarm")
    client = await server.connect("watcher", org)
    for event in ("swarm:subscribe", "swarm:unsubscribe"):
        if event == "swarm:unsubscribe" and payload and "afterSeq" in payload:
            continue  # unsubscribe ignores afterSeq
        error = await expect_error(client, event, payload, "VALIDATION_ERROR")
        assert error["message"].startswith(problem), error
    await client.nothing("swarm:subscribed", within=0.1)
    await client.nothing("swarm:state", within=0.1)
    _, state = await subscribed(server, org, session, client=client)
    assert state["status"] == "pending"

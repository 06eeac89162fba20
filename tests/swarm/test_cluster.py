"""Two server processes on one PostgreSQL database and one Redis: seqs without a gap under
concurrent posts to both, and subscribers on both nodes that miss and repeat nothing while
agents publish to both during their subscribes."""

from __future__ import annotations

import asyncio

from tests.swarm.support import agent_token, publish, read, seqs, uid, until_seq


async def test_concurrent_posts_to_two_nodes_get_seqs_without_a_gap(cluster):
    nodes = cluster()
    a, b = nodes.start_node(), nodes.start_node()
    org, session = uid("org"), uid("swarm")
    token = agent_token(a, org)
    watchers = []
    for node in (a, b):
        client = await node.connect("watcher", org)
        assert (await client.call("swarm:subscribe", {"sessionId": session}))["ok"] is True
        await client.next("swarm:state")
        watchers.append(client)

    answers = await asyncio.gather(
        *(
            publish(
                node,
                org,
                session,
                {"type": "step.started", "agent": f"{name}-{n}", "eventId": f"{name}-{n}"},
                token=token,
            )
            for n in range(50)
            for node, name in ((a, "a"), (b, "b"))
        )
    )
    assert sorted(answer["seq"] for answer in answers) == list(range(1, 101))
    stored = (await read(b, org, session, limit=500))["updates"]
    assert seqs(stored) == list(range(1, 101))
    assert sorted(u["eventId"] for u in stored) == sorted(u["eventId"] for u in answers)
    for client in watchers:  # each node's subscriber hears all 100, in order, once
        assert await until_seq(client, 100) == stored
    # A retry on the other node is still one event.
    again = await publish(
        b,
        org,
        session,
        {"type": "step.started", "agent": "a-0", "eventId": "a-0"},
        token=token,
        expect=200,
    )
    assert again == next(u for u in stored if u["eventId"] == "a-0")
    end = await publish(a, org, session, {"type": "session.completed", "agent": "x"}, token=token)
    assert end["seq"] == 101
    for client in watchers:
        assert await client.next("swarm:update") == end
    status, answer = await b.http(
        "POST",
        f"/api/v1/swarm/sessions/{session}/events",
        token=token,
        json={"type": "step.started", "agent": "x"},
    )
    assert (status, answer["error"]["code"]) == (409, "CONFLICT")


async def test_subscribers_on_both_nodes_miss_and_repeat_nothing_while_both_publish(cluster):
    nodes = cluster()
    a, b = nodes.start_node(), nodes.start_node()
    org, session = uid("org"), uid("swarm")
    token = agent_token(a, org)
    await publish(a, org, session, {"type": "session.started", "agent": "lead"}, token=token)
    rounds, per_round = 10, 6
    total = 1 + rounds * per_round
    clients = [await (a, b)[n % 2].connect(f"watcher-{n}", org) for n in range(rounds + 1)]

    async def subscribe(n: int) -> tuple[int, object, list[int]]:
        client, after = clients[n], [None, 1][n % 2]
        payload = {"sessionId": session, **({} if after is None else {"afterSeq": after})}
        assert (await client.call("swarm:subscribe", payload))["ok"] is True
        await client.next("swarm:subscribed")
        return after or 0, client, seqs((await client.next("swarm:state"))["updates"])

    subscribers = []
    for r in range(rounds):
        *_, joined = await asyncio.gather(
            *(
                publish(
                    (a, b)[n % 2],
                    org,
                    session,
                    {"type": "step.completed", "agent": f"r{r}-{n}"},
                    token=token,
                )
                for n in range(per_round)
            ),
            subscribe(r),
        )
        subscribers.append(joined)
    subscribers.append(await subscribe(rounds))
    for index, (after, client, got) in enumerate(subscribers):
        if got[-1:] != [total]:
            got = got + seqs(await until_seq(client, total))
        assert got == list(range(after + 1, total + 1)), (index, after, got)
        swarm = [e for e in client.arrivals if e.startswith("swarm:")]
        assert swarm[:2] == ["swarm:subscribed", "swarm:state"], swarm[:5]
        await client.nothing("swarm:update", within=0.3 if index == 0 else 0)

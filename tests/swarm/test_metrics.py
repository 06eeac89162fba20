"""`lvng_swarm_…` metrics: updates by type, duplicates, sessions by status, subscribers."""

from __future__ import annotations

from tests.swarm.support import publish, subscribed, uid


async def test_metrics_count_what_happened(start_server):
    live = start_server()  # a server of its own: exact deltas
    org, session = uid("org"), uid("swarm")

    async def value(name: str, **labels: str) -> float:
        return await live.metric(f"lvng_swarm_{name}", **labels)

    assert await value("subscribers") == 0
    watcher, _ = await subscribed(live, org, session)
    await subscribed(live, org, session, client=watcher)  # again: still one subscription
    await subscribed(live, org, uid("swarm"), "other")
    assert await value("subscribers") == 2

    await publish(live, org, session, {"type": "session.started", "agent": "a"})
    for _ in range(2):
        await publish(live, org, session, {"type": "step.started", "agent": "a"})
    await publish(live, org, session, {"type": "step.completed", "agent": "a", "eventId": "e"})
    await publish(
        live, org, session, {"type": "step.completed", "agent": "a", "eventId": "e"}, expect=200
    )
    await publish(live, org, session, {"type": "session.completed", "agent": "a"})
    await publish(live, org, session, {"type": "step.started", "agent": "a"}, expect=409)
    assert [
        await value("updates_total", type=t)
        for t in (
            "session.started",
            "step.started",
            "step.completed",
            "session.completed",
            "step.failed",
        )
    ] == [1, 2, 1, 1, 0]
    assert await value("duplicates_suppressed_total") == 1
    assert await value("refused_total") == 1
    assert [
        await value("sessions_total", status=s) for s in ("running", "completed", "failed")
    ] == [1, 1, 0]

    await watcher.call("swarm:unsubscribe", {"sessionId": session})
    assert await value("subscribers") == 1

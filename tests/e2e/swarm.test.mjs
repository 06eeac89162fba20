// Swarm sessions: subscribe, live updates published over HTTP with a service token,
// unsubscribe (reference: Swarm Events; contract section 8).
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";

import { RUN, TRANSPORTS, closeAll, connect, hasKeys, http, token } from "./lib.mjs";

after(closeAll);

for (const transport of TRANSPORTS) {
  describe(`swarm over ${transport}`, () => {
    const org = `org-${RUN}-swarm-${transport}`;
    const sessionId = `swarm_${RUN}_${transport}`;
    const service = token("agent-runner", org, { roles: ["service"] });
    const publish = (body) => http("POST", `/api/v1/swarm/sessions/${sessionId}/events`,
      { bearer: service, json: body });

    it("swarm:subscribe: swarm:subscribed, swarm:state, then every swarm:update", async () => {
      const early = await publish({ type: "session.started", agent: "planner",
        title: "Plan the sprint" });
      assert.equal(early.status, 201, JSON.stringify(early.body));

      const matty = await connect("matty", org, { transport });
      const ack = await matty.call("swarm:subscribe", { sessionId });
      assert.equal(ack.ok, true);
      const subscribed = await matty.next("swarm:subscribed");
      hasKeys(subscribed, ["sessionId"], "swarm:subscribed");
      assert.equal(subscribed.sessionId, sessionId);
      const state = await matty.next("swarm:state");
      assert.deepEqual([state.status, state.updates.map((u) => u.seq)], ["running", [1]]);

      const step = await publish({ type: "step.completed", agent: "planner", stepId: "s1",
        output: { tickets: 3 } });
      assert.equal(step.status, 201);
      const update = await matty.next("swarm:update");
      hasKeys(update, ["sessionId", "seq", "type", "agent", "stepId", "title", "status",
        "output", "data", "timestamp"], "swarm:update");
      assert.deepEqual([update.seq, update.type, update.output], [2, "step.completed",
        { tickets: 3 }]);
      assert.deepEqual(update, step.body);

      const refused = await http("POST", `/api/v1/swarm/sessions/${sessionId}/events`, {
        bearer: token("matty", org), json: { type: "step.started", agent: "x" } });
      assert.equal(refused.status, 403);
      assert.equal(refused.body.error.code, "FORBIDDEN");

      assert.equal((await matty.call("swarm:unsubscribe", { sessionId })).ok, true);
      assert.deepEqual(await matty.next("swarm:unsubscribed"), { sessionId });
      await publish({ type: "session.completed", agent: "planner" });
      const other = await connect("other", `${org}-x`, { transport });
      const foreign = await other.call("swarm:subscribe", { sessionId });
      assert.equal(foreign.error.code, "FORBIDDEN");
    });
  });
}

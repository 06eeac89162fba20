// Presence: online on connect, a chosen status, heartbeat, list, offline after the grace
// (reference: Presence Events; contract section 6). The server runs with a 0.5 s grace.
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";

import { RUN, TRANSPORTS, closeAll, connect, hasKeys, isTimestamp } from "./lib.mjs";

after(closeAll);

const KEYS = ["userId", "userName", "status", "customStatus", "timestamp"];

for (const transport of TRANSPORTS) {
  describe(`presence over ${transport}`, () => {
    const org = `org-${RUN}-presence-${transport}`;

    it("presence:update to the organization: online, a chosen status, offline", async () => {
      const watcher = await connect("watcher", org, { transport });
      const matty = await connect("matty", org, { transport });
      const online = await watcher.next("presence:update", { where: (p) => p.userId === "matty" });
      hasKeys(online, KEYS, "presence:update");
      assert.equal(online.status, "online");
      isTimestamp(online.timestamp);

      const ack = await matty.call("presence:update", { status: "busy",
        customStatus: "In a meeting", statusText: "Back at 3pm" });
      assert.equal(ack.ok, true);
      const busy = await watcher.next("presence:update", { where: (p) => p.userId === "matty" });
      hasKeys(busy, KEYS, "presence:update");
      assert.deepEqual([busy.status, busy.customStatus, busy.statusText],
        ["busy", "In a meeting", "Back at 3pm"]);

      assert.equal((await matty.call("presence:heartbeat")).ok, true);
      const listed = await watcher.call("presence:list");
      const entry = listed.users.find((u) => u.userId === "matty");
      hasKeys(entry, ["userId", "userName", "status", "customStatus", "statusText", "lastSeen"],
        "presence:list user");
      assert.equal(entry.status, "busy");

      const refused = await matty.call("presence:update", { status: "sleeping" });
      assert.equal(refused.error.code, "VALIDATION_ERROR");

      matty.close();
      const offline = await watcher.next("presence:update", {
        where: (p) => p.userId === "matty" && p.status === "offline", timeout: 5000 });
      hasKeys(offline, KEYS, "presence:update");
    });
  });
}

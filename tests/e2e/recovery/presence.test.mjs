// Presence grace 2 s: a user whose socket drops and is recovered within it is never shown
// offline to the others.
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { after, it } from "node:test";

import { RUN, closeAll, connect } from "../lib.mjs";
import { back, drop } from "./lib.mjs";

after(closeAll);

it("a recovered user does not flap offline", async () => {
  const org = `org-${RUN}-presence`;
  const watcher = await connect("watcher", org, { transport: "websocket" });
  const matty = await connect("matty", org, { transport: "websocket" });
  await watcher.next("presence:update", { where: (p) => p.userId === "matty" });
  await drop(matty);
  assert.equal(await back(matty), true);
  await matty.next("connected");
  await sleep(2500); // past the grace: an offline would have been sent by now
  assert.equal(
    watcher.has("presence:update", (p) => p.userId === "matty" && p.status === "offline"),
    false,
  );
  const listed = await watcher.call("presence:list");
  assert.equal(listed.users.find((u) => u.userId === "matty").status, "online");
});

// LVNG_RECOVERY_LOG_SIZE=4: a room's log that lost part of the gap means a fresh
// connection, never a silent gap; within the bound the same client recovers.
import assert from "node:assert/strict";
import { after, it } from "node:test";

import { RUN, closeAll, connect } from "../lib.mjs";
import { back, drop } from "./lib.mjs";

after(closeAll);

it("a gap the log still holds is recovered; one it trimmed is a fresh connection", async () => {
  const org = `org-${RUN}-trimmed`;
  const claims = { customers: ["c1"] };
  const ref = { conversationId: "v1", customerId: "c1" };
  const watcher = await connect("watcher", org, { transport: "websocket", claims });
  assert.equal((await watcher.call("conversation:join", ref)).ok, true);
  const writer = await connect("writer", org, { transport: "websocket", claims });
  assert.equal((await writer.call("conversation:join", ref)).ok, true);
  const sid = watcher.socket.id;

  await drop(watcher);
  await writer.call("message:send", { ...ref, content: "one" });
  assert.equal(await back(watcher), true);
  assert.equal((await watcher.next("message:new")).content, "one");
  assert.equal(watcher.has("message:new"), false);
  await watcher.next("connected");

  await drop(watcher);
  for (const content of ["a", "b", "c", "d", "e", "f", "g", "h"]) {
    assert.equal((await writer.call("message:send", { ...ref, content })).ok, true);
  }
  assert.equal(await back(watcher), false);
  assert.notEqual(watcher.socket.id, sid);
  await watcher.next("connected", { where: (w) => w.socketId !== sid });
  assert.equal(watcher.has("message:new"), false);
});

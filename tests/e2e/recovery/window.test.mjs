// LVNG_RECOVERY_WINDOW=1: a client back after the window is a fresh connection.
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { after, it } from "node:test";

import { RUN, closeAll, connect } from "../lib.mjs";
import { back, drop } from "./lib.mjs";

after(closeAll);

it("past the window: a fresh connection, nothing set back", async () => {
  const org = `org-${RUN}-window`;
  const claims = { customers: ["c1"] };
  const ref = { conversationId: "v1", customerId: "c1" };
  const client = await connect("late", org, { transport: "websocket", claims });
  assert.equal((await client.call("conversation:join", ref)).ok, true);
  const sid = client.socket.id;
  await drop(client);
  await sleep(1600); // the window (1 s) passes: what is under test
  assert.equal(await back(client), false);
  assert.notEqual(client.socket.id, sid);
  const welcome = await client.next("connected", { where: (w) => w.socketId !== sid });
  assert.equal("recovered" in welcome, false);
  const refused = await client.call("message:send", { ...ref, content: "x" });
  assert.equal(refused.error.code, "NOT_IN_ROOM");
});

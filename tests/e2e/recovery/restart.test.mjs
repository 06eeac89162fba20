// A graceful restart (the server's SIGINT/SIGTERM path) on the database under test: the
// client comes back recovered, with what was sent while the server was down for it.
import assert from "node:assert/strict";
import { after, it } from "node:test";

import { RUN, closeAll, connect, restartServer } from "../lib.mjs";

after(closeAll);

it("recovered after a restart, missed messages once and in order", async () => {
  const org = `org-${RUN}-restart`;
  const claims = { customers: ["c1"] };
  const ref = { conversationId: "v1", customerId: "c1" };
  const watcher = await connect("watcher", org, { transport: "websocket", claims,
    reconnection: true });
  assert.equal((await watcher.call("conversation:join", ref)).ok, true);
  const dropped = watcher.disconnected(15000);
  watcher.socket.io.reconnection(false);
  await restartServer();
  await dropped;
  const writer = await connect("writer", org, { transport: "websocket", claims });
  assert.equal((await writer.call("conversation:join", ref)).ok, true);
  for (const content of ["r1", "r2"]) await writer.call("message:send", { ...ref, content });
  const connected = new Promise((resolve) => watcher.socket.once("connect", resolve));
  watcher.socket.connect();
  await connected;
  assert.equal(watcher.socket.recovered, true);
  assert.equal((await watcher.next("connected", { where: (w) => w.recovered })).socketId,
    watcher.welcome.socketId);
  assert.deepEqual([(await watcher.next("message:new")).content,
    (await watcher.next("message:new")).content], ["r1", "r2"]);
  assert.equal(watcher.has("message:new"), false);
});

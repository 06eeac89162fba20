// Recovery on another node (tests/test_recovery_cluster.py runs it against two nodes on one
// Redis, directly or behind nginx): the node the clients are on is killed (SIGKILL), they
// land on the other one and come back recovered, with every missed message once, in order.
// LVNG_URL: where the clients start (node A, or nginx); LVNG_CONTROL_URL: POST /kill kills
// the node holding them and answers the survivor's URL; LVNG_SWITCH=1: the clients are
// pointed at the survivor (no proxy in front), else they reconnect to LVNG_URL (nginx).
import assert from "node:assert/strict";
import { after, it } from "node:test";

import { io } from "socket.io-client";

import { Client, RUN, closeAll, connect, once, token } from "../lib.mjs";

after(closeAll);

async function kill() {
  const response = await fetch(`${process.env.LVNG_CONTROL_URL}/kill`, { method: "POST" });
  assert.equal(response.status, 200);
  return (await response.text()).trim();
}

it("recovered on another node after its node was killed, over websocket and polling", async () => {
  const org = `org-${RUN}-kill`;
  const claims = { customers: ["c1"] };
  const ref = { conversationId: `v-${RUN}`, customerId: "c1" };
  const watchers = [];
  for (const transport of ["websocket", "polling"]) {
    const watcher = await connect(`watcher-${transport}`, org, { transport, claims,
      reconnection: true });
    assert.equal((await watcher.call("conversation:join", ref)).ok, true);
    watchers.push(watcher);
  }
  const drops = watchers.map((watcher) => {
    watcher.socket.io.reconnection(false);
    return watcher.disconnected(15000);
  });
  const survivor = await kill();
  await Promise.all(drops);

  const writer = new Client(io(survivor, { auth: { token: token("writer", org, claims) },
    transports: ["websocket"], reconnection: false, forceNew: true }), "writer");
  await writer.next("connected");
  assert.equal((await writer.call("conversation:join", ref)).ok, true);
  for (const content of ["k1", "k2"]) {
    assert.equal((await writer.call("message:send", { ...ref, content })).ok, true);
  }

  for (const watcher of watchers) {
    if (process.env.LVNG_SWITCH === "1") watcher.socket.io.uri = survivor;
    const connected = once(watcher.socket, "connect", 10000);
    watcher.socket.connect();
    await connected;
    assert.equal(watcher.socket.recovered, true, watcher.name);
    const welcome = await watcher.next("connected", { where: (w) => w.recovered });
    assert.equal(welcome.socketId, watcher.welcome.socketId);
    assert.deepEqual([(await watcher.next("message:new")).content,
      (await watcher.next("message:new")).content], ["k1", "k2"]);
    assert.equal(watcher.has("message:new"), false);
  }
  // Back in the room: the next message reaches each once, and each may write there.
  assert.equal((await writer.call("message:send", { ...ref, content: "k3" })).ok, true);
  for (const watcher of watchers) {
    assert.equal((await watcher.next("message:new")).content, "k3");
    assert.equal((await watcher.call("message:send", { ...ref, content: watcher.name })).ok,
      true);
  }
  const heard = [];
  for (let i = 0; i < 5; i += 1) heard.push((await writer.next("message:new")).content);
  assert.deepEqual(heard, ["k1", "k2", "k3", ...watchers.map((w) => w.name)]);
  for (const watcher of watchers) {
    assert.deepEqual([(await watcher.next("message:new")).content,
      (await watcher.next("message:new")).content], watchers.map((w) => w.name));
    assert.equal(watcher.has("message:new"), false);
  }
  writer.close();
});

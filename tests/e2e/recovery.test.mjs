// Connection-state recovery (contract section 12): a socket.io-client whose transport drops
// comes back with the same id, its rooms, every missed event once and in order, then
// `connected` with `recovered: true`; past what can be replayed, a fresh connection.
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";

import { RUN, TRANSPORTS, closeAll, connect, once, token } from "./lib.mjs";

after(closeAll);

/** Drop the client's transport (as a network loss would) and wait for its reconnect. */
async function drop(client) {
  const gone = client.disconnected();
  client.socket.io.engine.close();
  return gone;
}

for (const transport of TRANSPORTS) {
  describe(`recovery over ${transport}`, () => {
    const org = `org-${RUN}-recovery-${transport}`;
    const customerId = `cust-${RUN}-recovery-${transport}`;
    const claims = { customers: [customerId] };

    it("same sid, rooms set back, missed messages once and in order, then live", async () => {
      const ref = { conversationId: `conv-${RUN}-rec-${transport}`, customerId };
      const watcher = await connect("watcher", org, { transport, claims, reconnection: true });
      assert.equal((await watcher.call("conversation:join", ref)).ok, true);
      const writer = await connect("writer", org, { transport, claims });
      assert.equal((await writer.call("conversation:join", ref)).ok, true);
      await writer.call("message:send", { ...ref, content: "before" });
      await watcher.next("message:new", { where: (m) => m.content === "before" });
      const sid = watcher.socket.id;

      const reason = await drop(watcher);
      assert.equal(reason, "forced close");
      const missed = ["missed 1", "missed 2", "missed 3"];
      for (const content of missed) {
        assert.equal((await writer.call("message:send", { ...ref, content })).ok, true);
      }
      await once(watcher.socket, "connect", 10000);
      assert.equal(watcher.socket.recovered, true);
      assert.equal(watcher.socket.id, sid);
      const welcome = await watcher.next("connected");
      assert.equal(welcome.recovered, true);
      assert.equal(welcome.socketId, sid);
      // The missed messages arrived before `connected`, once each, in order.
      const got = [];
      while (watcher.has("message:new")) got.push((await watcher.next("message:new")).content);
      assert.deepEqual(got, missed);

      // The room is set back: sending works without a join, and live events flow.
      assert.equal((await watcher.call("message:send", { ...ref, content: "back" })).ok, true);
      await writer.next("message:new", { where: (m) => m.content === "back" });
      await writer.call("message:send", { ...ref, content: "live" });
      await watcher.next("message:new", { where: (m) => m.content === "live" });

      // Joining again acks ok and doubles nothing.
      assert.equal((await watcher.call("conversation:join", ref)).ok, true);
      await writer.call("message:send", { ...ref, content: "once" });
      await watcher.next("message:new", { where: (m) => m.content === "once" });
      await writer.call("message:send", { ...ref, content: "after once" });
      await watcher.next("message:new", { where: (m) => m.content === "after once" });
      assert.equal(watcher.has("message:new", (m) => m.content === "once"), false);
      watcher.close();
      writer.close();
    });

    it("typing is ephemeral: not replayed", async () => {
      const ref = { conversationId: `conv-${RUN}-eph-${transport}`, customerId };
      const watcher = await connect("watcher", org, { transport, claims, reconnection: true });
      assert.equal((await watcher.call("conversation:join", ref)).ok, true);
      const writer = await connect("writer", org, { transport, claims });
      assert.equal((await writer.call("conversation:join", ref)).ok, true);
      await drop(watcher);
      assert.equal((await writer.call("typing:start", ref)).ok, true);
      await writer.call("message:send", { ...ref, content: "after typing" });
      await once(watcher.socket, "connect", 10000);
      assert.equal(watcher.socket.recovered, true);
      await watcher.next("connected");
      assert.equal(watcher.has("typing:start"), false);
      assert.equal((await watcher.next("message:new")).content, "after typing");
      watcher.close();
      writer.close();
    });

    it("a room the user may no longer join is neither set back nor replayed", async () => {
      const kept = { conversationId: `conv-${RUN}-kept-${transport}`, customerId };
      const otherCustomer = `cust-${RUN}-taken-${transport}`;
      const taken = { conversationId: `conv-${RUN}-taken-${transport}`,
        customerId: otherCustomer };
      const both = { customers: [customerId, otherCustomer] };
      const watcher = await connect("watcher", org, { transport, claims: both,
        reconnection: true });
      assert.equal((await watcher.call("conversation:join", kept)).ok, true);
      assert.equal((await watcher.call("conversation:join", taken)).ok, true);
      const writer = await connect("writer", org, { transport, claims: both });
      assert.equal((await writer.call("conversation:join", kept)).ok, true);
      assert.equal((await writer.call("conversation:join", taken)).ok, true);
      // The next handshake carries a token without the second customer.
      watcher.socket.auth = { token: token("watcher", org, claims) };
      await drop(watcher);
      await writer.call("message:send", { ...taken, content: "not for you any more" });
      await writer.call("message:send", { ...kept, content: "still yours" });
      await once(watcher.socket, "connect", 10000);
      assert.equal(watcher.socket.recovered, true);
      await watcher.next("connected");
      assert.equal((await watcher.next("message:new")).content, "still yours");
      assert.equal(watcher.has("message:new"), false);
      const refused = await watcher.call("message:send", { ...taken, content: "x" });
      assert.equal(refused.ok, false);
      watcher.close();
      writer.close();
    });

    it("a recovered call participant is back in the call as the same participant", async () => {
      const roomName = `call-${RUN}-rec-${transport}`;
      const alice = await connect("alice", org, { transport, reconnection: true });
      const bob = await connect("bob", org, { transport });
      const started = await alice.call("call:join", { roomName });
      assert.equal(started.ok, true);
      await alice.next("call:joined");
      assert.equal((await bob.call("call:join", { roomName })).ok, true);
      await alice.next("call:participant_joined", { where: (p) => p.userId === "bob" });
      await drop(alice);
      const left = await bob.next("call:participant_left", { where: (p) => p.userId === "alice" });
      assert.equal(left.reason, "disconnected");
      await once(alice.socket, "connect", 10000);
      assert.equal(alice.socket.recovered, true);
      const back = await bob.next("call:participant_joined",
        { where: (p) => p.userId === "alice" });
      assert.equal(back.callId, started.callId);
      const joined = await alice.next("call:joined", { where: (j) => j.callId === started.callId });
      assert.deepEqual(joined.participants.map((p) => p.userId).sort(), ["alice", "bob"]);
      alice.close();
      bob.close();
    });

    it("an unknown pid or a lost offset is a fresh connection", async () => {
      const client = await connect("fresh", org, { transport, claims, reconnection: true });
      const sid = client.socket.id;
      client.socket._pid = "not-a-pid-of-this-server";
      await drop(client);
      await once(client.socket, "connect", 10000);
      assert.equal(client.socket.recovered, false);
      assert.notEqual(client.socket.id, sid);
      const welcome = await client.next("connected", { where: (w) => w.socketId !== sid });
      assert.equal("recovered" in welcome, false);
      client.close();
    });

    it("an expired token is refused, not recovered", async () => {
      const auth = { token: token("expiring", org, claims) };
      const client = await connect("expiring", org, { transport, claims, reconnection: true,
        auth });
      const expired = token("expiring", org, { ...claims, exp: Math.floor(Date.now() / 1000) - 60 });
      client.socket.auth = { token: expired };
      const error = once(client.socket, "connect_error", 10000);
      await drop(client);
      const err = await error;
      assert.equal(err.data.code, "TOKEN_EXPIRED");
      assert.equal(client.socket.connected, false);
      client.close();
    });
  });
}

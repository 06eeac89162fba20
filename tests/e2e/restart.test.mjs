// The reference's reconnection note: after a server restart the client reconnects by
// itself (exponential backoff) and, recovery on (contract section 12), comes back with
// its socket id, rooms and the messages it missed; re-joining and `conversation:rejoin`
// keep working as before. Runs last: it restarts the server.
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";

import { RUN, TRANSPORTS, closeAll, connect, restartServer } from "./lib.mjs";

after(closeAll);

for (const transport of TRANSPORTS) {
  describe(`a server restart over ${transport}`, () => {
    const org = `org-${RUN}-restart-${transport}`;
    const customerId = `cust-${RUN}-restart-${transport}`;
    const channelId = `chan-${RUN}-restart-${transport}`;
    const ref = { conversationId: `conv-${RUN}-restart-${transport}`, customerId };
    const claims = { customers: [customerId] };

    it("the client reconnects by itself, is recovered, and rejoining still works", async () => {
      const watcher = await connect("watcher", org, { transport, claims, reconnection: true });
      assert.equal((await watcher.call("conversation:join", ref)).ok, true);
      assert.equal((await watcher.call("channel:join", { channelId })).ok, true);
      const writer = await connect("writer", org, { transport, claims });
      assert.equal((await writer.call("conversation:join", ref)).ok, true);
      await writer.call("message:send", { ...ref, content: "before the restart" });
      const last = await watcher.next("message:new");

      const dropped = watcher.disconnected(15000);
      await restartServer();
      const reason = await dropped;
      assert.ok(["transport close", "transport error"].includes(reason), reason);
      // A dropped transport, never a server-side disconnect: the client keeps trying.
      assert.equal(watcher.socket.active, true);

      // Someone else talks while the watcher has not rejoined yet.
      const other = await connect("writer", org, { transport, claims });
      assert.equal((await other.call("conversation:join", ref)).ok, true);
      const missed = ["after the restart 1", "after the restart 2"];
      for (const content of missed) {
        assert.equal((await other.call("message:send", { ...ref, content })).ok, true);
      }

      // Recovered (contract section 12): the same socket, its rooms, what it missed.
      const welcome = await watcher.next("connected", { timeout: 15000 });
      assert.equal(welcome.userId, "watcher");
      assert.equal(welcome.socketId, watcher.welcome.socketId);
      assert.equal(welcome.recovered, true);
      assert.equal(watcher.socket.recovered, true);
      assert.equal(watcher.socket.io.engine.transport.name, transport);
      for (const content of missed) {
        assert.equal((await watcher.next("message:new")).content, content);
      }

      // The manual path of the reference keeps working on top of it.

      assert.equal((await watcher.call("channel:join", { channelId })).ok, true);
      const ack = await watcher.call("conversation:rejoin", { ...ref, lastMessageId: last.id });
      assert.equal(ack.ok, true);
      const rejoined = await watcher.next("conversation:rejoined");
      assert.deepEqual(rejoined.missed_messages.map((m) => m.content), missed);

      // Live again: the next message arrives as message:new.
      await other.call("message:send", { ...ref, content: "live" });
      assert.equal((await watcher.next("message:new", { where: (m) => m.content === "live" }))
        .userId, "writer");
    });
  });
}

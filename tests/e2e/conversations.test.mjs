// Conversations: join, leave, messages in a customer conversation, and rejoin after a
// disconnect with the client's own reconnection (reference: Conversation Events; contract
// sections 4 and 5).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { RUN, TRANSPORTS, closeAll, connect, hasKeys, isTimestamp } from "./lib.mjs";

after(closeAll);

for (const transport of TRANSPORTS) {
  describe(`conversations over ${transport}`, () => {
    const org = `org-${RUN}-conv-${transport}`;
    const customerId = `cust-${RUN}-${transport}`;
    const conversationId = `conv-${RUN}-${transport}`;
    const claims = { customers: [customerId] };
    const ref = { conversationId, customerId };
    let alice;
    let bob;

    before(async () => {
      alice = await connect("alice", org, { transport, claims });
      bob = await connect("bob", org, { transport, claims, reconnection: true });
    });

    it("conversation:join: room:joined to the joiner, member:joined to the others", async () => {
      assert.equal((await alice.call("conversation:join", ref)).ok, true);
      const room = await alice.next("room:joined");
      hasKeys(room, ["room", "conversationId", "customerId", "timestamp"], "room:joined");
      assert.deepEqual([room.room, room.conversationId, room.customerId],
        [`customer:${customerId}:conversation:${conversationId}`, conversationId, customerId]);
      isTimestamp(room.timestamp);

      assert.equal((await bob.call("conversation:join", ref)).ok, true);
      await bob.next("room:joined");
      const member = await alice.next("member:joined");
      hasKeys(member, ["conversationId", "userId", "userName", "timestamp"], "member:joined");
      assert.deepEqual([member.conversationId, member.userId], [conversationId, "bob"]);
      assert.equal(bob.has("member:joined"), false);
    });

    it("message:send in a conversation: channelId null, conversation keys set", async () => {
      const ack = await alice.call("message:send", { ...ref, content: "hello customer" });
      assert.equal(ack.ok, true);
      for (const client of [alice, bob]) {
        const message = await client.next("message:new");
        assert.deepEqual([message.channelId, message.conversationId, message.customerId],
          [null, conversationId, customerId]);
      }
      const sent = await alice.next("message:sent");
      assert.equal(sent.channelId, null);
    });

    it("conversation:rejoin after the client reconnected by itself: what it missed, oldest first", async () => {
      const history = await alice.call("message:send", { ...ref, content: "before the drop" });
      assert.equal(history.ok, true);
      const last = await bob.next("message:new", { where: (m) => m.content === "before the drop" });

      const dropped = bob.disconnected();
      bob.socket.io.engine.close(); // the transport drops, as a network would
      assert.match(await dropped, /^(transport|forced) close$/);
      assert.equal(bob.socket.active, true); // it will reconnect by itself
      const missed = [];
      for (const content of ["missed one", "missed two"]) {
        await alice.call("message:send", { ...ref, content });
        missed.push(content);
      }
      const welcome = await bob.next("connected", { timeout: 10000 }); // reconnected by itself
      assert.equal(welcome.userId, "bob");
      const member = await alice.next("member:left");
      hasKeys(member, ["conversationId", "userId", "userName", "timestamp"], "member:left");

      const ack = await bob.call("conversation:rejoin", { ...ref, lastMessageId: last.id });
      assert.equal(ack.ok, true);
      const rejoined = await bob.next("conversation:rejoined");
      hasKeys(rejoined, ["conversationId", "customerId", "missed_messages", "timestamp"],
        "conversation:rejoined");
      assert.deepEqual(rejoined.missed_messages.map((m) => m.content), missed);
      assert.equal(rejoined.hasMore, false);
      assert.equal((await alice.next("member:joined")).userId, "bob");

      // By timestamp only: everything after it.
      const since = await bob.call("conversation:rejoin", { ...ref,
        lastMessageTimestamp: last.createdAt });
      assert.equal(since.ok, true);
      const again = await bob.next("conversation:rejoined");
      assert.deepEqual(again.missed_messages.map((m) => m.content), missed);
    });

    it("conversation:leave: member:left to the others", async () => {
      assert.equal((await bob.call("conversation:leave", ref)).ok, true);
      const left = await alice.next("member:left");
      hasKeys(left, ["conversationId", "userId", "userName", "timestamp"], "member:left");
      assert.deepEqual([left.conversationId, left.userId], [conversationId, "bob"]);
      const outside = await bob.call("message:send", { ...ref, content: "gone" });
      assert.equal(outside.error.code, "NOT_IN_ROOM");
    });
  });
}

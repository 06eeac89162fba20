// Channels, Messages and Typing Indicators: every row of those tables, key for key, from
// two users in one channel (reference: Channel Events, Message Events, Typing Events;
// contract section 5).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { RUN, TRANSPORTS, closeAll, connect, hasKeys, isTimestamp } from "./lib.mjs";

after(closeAll);

const MESSAGE_KEYS = ["id", "channelId", "conversationId", "userId", "userName", "content",
  "contentType", "threadId", "attachments", "createdAt", "updatedAt", "metadata"];

for (const transport of TRANSPORTS) {
  describe(`channels, messages and typing over ${transport}`, () => {
    const org = `org-${RUN}-msg-${transport}`;
    const channelId = `general-${RUN}-${transport}`;
    let alice;
    let bob;
    let first; // a message:new

    before(async () => {
      alice = await connect("alice", org, { transport });
      bob = await connect("bob", org, { transport });
    });

    it("channel:join acks, tells the room (joiner included) and sends channel:history", async () => {
      const ack = await alice.call("channel:join", { channelId });
      assert.equal(ack.ok, true);
      assert.equal(ack.channelId, channelId);
      hasKeys(ack.channel, ["id", "name", "private"], "ack.channel");
      const joined = await alice.next("channel:join");
      hasKeys(joined, ["channelId", "userId", "userName", "user", "timestamp"], "channel:join");
      assert.deepEqual([joined.channelId, joined.userId, joined.user], [channelId, "alice",
        { id: "alice", name: "alice" }]);
      isTimestamp(joined.timestamp);
      const history = await alice.next("channel:history");
      hasKeys(history, ["channelId", "messages", "hasMore", "total"], "channel:history");
      assert.deepEqual([history.channelId, history.messages, history.hasMore, history.total],
        [channelId, [], false, 0]);

      assert.equal((await bob.call("channel:join", { channelId })).ok, true);
      assert.equal((await alice.next("channel:join")).userId, "bob");
      assert.equal((await bob.next("channel:join")).userId, "bob");
      await bob.next("channel:history");
    });

    it("message:send: message:sent to the sender, message:new to the room", async () => {
      const payload = { channelId, content: "Hello from WebSocket!", optimisticId: `tmp-${RUN}`,
        threadId: null, mentions: ["bob"], workspaceId: `ws-${RUN}` };
      alice.emit("message:send", payload);
      const sent = await alice.next("message:sent");
      hasKeys(sent, ["id", "optimisticId", "channelId", "timestamp"], "message:sent");
      assert.equal(sent.optimisticId, `tmp-${RUN}`);
      assert.match(sent.id, /^msg_/);
      isTimestamp(sent.timestamp);
      for (const client of [alice, bob]) {
        const message = await client.next("message:new");
        hasKeys(message, MESSAGE_KEYS, "message:new");
        assert.deepEqual([message.id, message.channelId, message.conversationId, message.userId,
          message.content, message.contentType, message.threadId],
        [sent.id, channelId, null, "alice", "Hello from WebSocket!", "text", null]);
        assert.deepEqual(message.attachments, []);
        first = message;
      }
      // The same optimisticId again: the first id again, and the room hears nothing new.
      const again = await alice.call("message:send", payload);
      assert.equal(again.ok, true);
      assert.equal((await alice.next("message:sent")).id, sent.id);
    });

    it("message:update: to the room", async () => {
      const ack = await alice.call("message:update", { messageId: first.id, channelId,
        content: "Hello, edited", metadata: { edited: true } });
      assert.equal(ack.ok, true);
      for (const client of [alice, bob]) {
        const update = await client.next("message:update");
        hasKeys(update, ["messageId", "content", "metadata", "channelId", "conversationId",
          "updatedBy", "timestamp"], "message:update");
        assert.deepEqual([update.messageId, update.content, update.metadata, update.updatedBy],
          [first.id, "Hello, edited", { edited: true }, "alice"]);
      }
    });

    it("message:react: message:reaction to the room, add and remove", async () => {
      for (const action of ["add", "remove"]) {
        const ack = await bob.call("message:react", { messageId: first.id, channelId,
          emoji: "👍", action });
        assert.equal(ack.ok, true);
        for (const client of [alice, bob]) {
          const reaction = await client.next("message:reaction");
          hasKeys(reaction, ["messageId", "channelId", "emoji", "userId", "userName", "action",
            "timestamp"], "message:reaction");
          assert.deepEqual([reaction.messageId, reaction.emoji, reaction.userId, reaction.action],
            [first.id, "👍", "bob", action]);
        }
      }
    });

    it("message:read: one read as message:read, several at once as message:read:batch", async () => {
      assert.equal((await bob.call("message:read", { messageId: first.id, channelId })).ok, true);
      const read = await alice.next("message:read");
      hasKeys(read, ["messageId", "channelId", "conversationId", "userId", "userName",
        "timestamp"], "message:read");
      assert.deepEqual([read.messageId, read.userId], [first.id, "bob"]);

      const ids = [];
      for (const content of ["two", "three"]) {
        const ack = await alice.call("message:send", { channelId, content });
        ids.push(ack.id ?? (await alice.next("message:sent")).id);
      }
      await Promise.all(ids.map((messageId) => bob.call("message:read", { messageId, channelId })));
      const batch = await alice.next("message:read:batch");
      hasKeys(batch, ["messageIds", "channelId", "conversationId", "userId", "timestamp"],
        "message:read:batch");
      assert.deepEqual([batch.messageIds, batch.userId], [ids, "bob"]);
    });

    it("message:delete: to the room", async () => {
      assert.equal((await alice.call("message:delete", { messageId: first.id, channelId })).ok,
        true);
      for (const client of [alice, bob]) {
        const deleted = await client.next("message:delete");
        hasKeys(deleted, ["messageId", "channelId", "conversationId", "deletedBy",
          "deletedByName", "timestamp"], "message:delete");
        assert.deepEqual([deleted.messageId, deleted.deletedBy], [first.id, "alice"]);
      }
    });

    it("typing:start and typing:stop: to the room without the typist; the server ends a forgotten one", async () => {
      for (const event of ["typing:start", "typing:stop"]) {
        const ack = await bob.call(event, { channelId, userId: "someone-else", userName: "X" });
        assert.equal(ack.ok, true);
        const typing = await alice.next(event);
        hasKeys(typing, ["channelId", "conversationId", "userId", "userName", "timestamp"], event);
        // The identity comes from the token, not from the payload.
        assert.deepEqual([typing.channelId, typing.userId, typing.userName], [channelId, "bob",
          "bob"]);
      }
      assert.equal((await bob.call("typing:start", { channelId })).ok, true);
      await alice.next("typing:start");
      const stopped = await alice.next("typing:stop", { timeout: 4000 });
      assert.equal(stopped.userId, "bob");
      assert.equal(stopped.reason, "timeout");
      assert.equal(bob.has("typing:start") || bob.has("typing:stop"), false);
    });

    it("channel:update: to the room, by the channel's creator", async () => {
      const ack = await alice.call("channel:update", { channelId,
        updates: { topic: "Sprint 12", description: "Everything" } });
      assert.equal(ack.ok, true);
      for (const client of [alice, bob]) {
        const update = await client.next("channel:update");
        hasKeys(update, ["channelId", "updates", "channel", "updatedBy", "updatedByName",
          "timestamp"], "channel:update");
        assert.deepEqual(update.updates, { topic: "Sprint 12", description: "Everything" });
        assert.equal(update.channel.topic, "Sprint 12");
        assert.equal(update.updatedBy, "alice");
      }
      const refused = await bob.call("channel:update", { channelId, updates: { name: "mine" } });
      assert.equal(refused.error.code, "FORBIDDEN");
      await bob.next("error");
    });

    it("channel:history pages back; channel:leave acks and tells the room", async () => {
      const page = await alice.call("channel:history", { channelId, limit: 1 });
      assert.equal(page.ok, true);
      assert.equal(page.messages.length, 1);
      assert.equal(page.messages[0].content, "three");
      assert.equal(page.hasMore, true);

      const ack = await bob.call("channel:leave", { channelId });
      assert.equal(ack.ok, true);
      const left = await alice.next("channel:leave");
      hasKeys(left, ["channelId", "userId", "userName", "timestamp"], "channel:leave");
      assert.deepEqual([left.channelId, left.userId], [channelId, "bob"]);
      const outside = await bob.call("message:send", { channelId, content: "still here?" });
      assert.equal(outside.error.code, "NOT_IN_ROOM");
    });
  });
}

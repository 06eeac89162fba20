// The channel list (issue 28): channel:list and GET /api/v1/channels with unread and mention
// counts, and channel:unread keeping a user's two devices in step.
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";

import { RUN, TRANSPORTS, closeAll, connect, hasKeys, http, token } from "./lib.mjs";

after(closeAll);

const ITEM_KEYS = ["channelId", "name", "private", "unreadCount", "mentionCount", "lastMessage",
  "lastReadMessageId"];

async function join(client, channelId) {
  assert.equal((await client.call("channel:join", { channelId })).ok, true);
  await client.next("channel:history");
}

for (const transport of TRANSPORTS) {
  describe(`the channel list over ${transport}`, () => {
    const org = `org-${RUN}-list-${transport}`;
    const channelId = `list-${RUN}-${transport}`;

    it("counts unread and mentions, and a read on one device reaches the other", async () => {
      const phone = await connect("alice", org, { transport });
      const laptop = await connect("alice", org, { transport });
      const bob = await connect("bob", org, { transport });
      await join(phone, channelId);
      await join(laptop, channelId);
      await join(bob, channelId);
      const one = await bob.call("message:send", { channelId, content: "one" });
      const two = await bob.call("message:send", { channelId, content: "@alice two",
        mentions: ["alice"] });
      assert.equal(one.ok && two.ok, true);

      const listed = await laptop.call("channel:list", { limit: 10 });
      assert.equal(listed.ok, true);
      assert.equal(listed.nextCursor, null);
      assert.equal(listed.channels.length, 1);
      const [channel] = listed.channels;
      hasKeys(channel, ITEM_KEYS, "channel:list item");
      assert.deepEqual([channel.channelId, channel.unreadCount, channel.mentionCount,
        channel.lastReadMessageId, channel.lastMessage.id, channel.lastMessage.content],
      [channelId, 2, 1, null, two.id, "@alice two"]);

      const read = await phone.call("message:read", { channelId, messageId: one.id });
      assert.equal(read.lastReadMessageId, one.id);
      const unread = await laptop.next("channel:unread");
      assert.deepEqual(unread, { channelId, unreadCount: 1, mentionCount: 1,
        lastReadMessageId: one.id });
      assert.equal(phone.has("channel:unread"), false);

      const { status, body } = await http("GET", "/api/v1/channels",
        { bearer: token("alice", org) });
      assert.equal(status, 200);
      assert.deepEqual([body.channels[0].unreadCount, body.channels[0].mentionCount], [1, 1]);

      const left = await phone.call("channel:leave", { channelId, forget: true });
      assert.deepEqual(left, { ok: true, channelId, left: true, forgotten: true });
      assert.deepEqual((await laptop.call("channel:list")).channels, []);
    });
  });
}

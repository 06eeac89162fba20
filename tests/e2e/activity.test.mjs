// Activity feed: subscribe, items from a service and from a conversation message, reads
// that agree across tabs (contract section 8; the reference's `activity:{customerId}` room).
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";

import { RUN, TRANSPORTS, closeAll, connect, hasKeys, http, token } from "./lib.mjs";

after(closeAll);

const ITEM_KEYS = ["id", "customerId", "type", "actorId", "actorName", "summary", "subject",
  "data", "createdAt"];

for (const transport of TRANSPORTS) {
  describe(`activity over ${transport}`, () => {
    const org = `org-${RUN}-activity-${transport}`;
    const customerId = `cust-${RUN}-act-${transport}`;
    const claims = { customers: [customerId] };

    it("activity:subscribe, activity:new, activity:read and activity:unread across tabs", async () => {
      const tab1 = await connect("matty", org, { transport, claims });
      const tab2 = await connect("matty", org, { transport, claims });
      for (const tab of [tab1, tab2]) {
        assert.equal((await tab.call("activity:subscribe", { customerId })).ok, true);
        const subscribed = await tab.next("activity:subscribed");
        hasKeys(subscribed, ["customerId", "items", "hasMore", "unreadCount"],
          "activity:subscribed");
      }

      const posted = await http("POST", `/api/v1/customers/${customerId}/activity`, {
        bearer: token("crm-sync", org, { roles: ["service"], customers: [customerId] }),
        json: { type: "ticket.opened", summary: "A ticket was opened" } });
      assert.equal(posted.status, 201, JSON.stringify(posted.body));
      const item = await tab1.next("activity:new");
      hasKeys(item, ITEM_KEYS, "activity:new");
      assert.deepEqual(item, posted.body);
      await tab2.next("activity:new");

      // A message in the customer's conversation becomes an item too.
      const writer = await connect("alice", org, { transport, claims });
      const ref = { conversationId: `conv-${RUN}-act`, customerId };
      assert.equal((await writer.call("conversation:join", ref)).ok, true);
      assert.equal((await writer.call("message:send", { ...ref, content: "hi" })).ok, true);
      const fromMessage = await tab1.next("activity:new", {
        where: (i) => i.type === "message.created" });
      assert.deepEqual(fromMessage.subject.type, "message");
      await tab2.next("activity:new", { where: (i) => i.type === "message.created" });

      const read = await tab1.call("activity:read", { customerId, itemId: fromMessage.id });
      assert.equal(read.ok, true);
      const unread = await tab2.next("activity:unread");
      hasKeys(unread, ["customerId", "unreadCount"], "activity:unread");
      assert.deepEqual(unread, { customerId, unreadCount: read.unreadCount });

      assert.equal((await tab1.call("activity:unsubscribe", { customerId })).ok, true);
      assert.deepEqual(await tab1.next("activity:unsubscribed"), { customerId });
    });
  });
}

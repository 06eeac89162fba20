// Bursts: socket.io-client puts every queued packet into one polling POST (cut only by
// the handshake's maxPayload, 1 MB). Every event of such a POST is handled or refused
// with an error the client sees, never dropped (issue 21, finding 1; python-engineio
// refused a POST of more than 16 packets whole and answered 200).
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";

import { RUN, TRANSPORTS, closeAll, connect, http, token } from "./lib.mjs";

after(closeAll);

for (const transport of TRANSPORTS) {
  describe(`bursts over ${transport}`, () => {
    const org = `org-${RUN}-burst-${transport}`;

    it("20 concurrent message:send: 20 acks, 20 messages stored", async () => {
      const channelId = `burst-${RUN}-${transport}`;
      const alice = await connect("alice", org, { transport });
      assert.equal((await alice.call("channel:join", { channelId })).ok, true);
      const acks = await Promise.all(Array.from({ length: 20 }, (_, i) =>
        alice.call("message:send", { channelId, content: `burst ${i}` })));
      assert.deepEqual(acks.map((ack) => ack.ok), Array(20).fill(true));
      assert.equal(new Set(acks.map((ack) => ack.id)).size, 20);
      const page = await http("GET", `/api/v1/channels/${channelId}/messages?limit=100`,
        { bearer: token("alice", org) });
      assert.equal(page.status, 200);
      // Stored in the order sent: one socket's events are handled one at a time.
      assert.deepEqual(page.body.messages.map((m) => m.content),
        Array.from({ length: 20 }, (_, i) => `burst ${i}`));
      alice.close();
    });

    it("150 concurrent events: each acked, those over the rate limit refused", async () => {
      const channelId = `flood-${RUN}-${transport}`;
      const bob = await connect("bob", org, { transport });
      assert.equal((await bob.call("channel:join", { channelId })).ok, true);
      const acks = await Promise.all(Array.from({ length: 150 }, (_, i) =>
        bob.call("message:send", { channelId, content: `flood ${i}` })));
      const accepted = acks.filter((ack) => ack.ok);
      const refusedAcks = acks.filter((ack) => !ack.ok);
      // The socket's window is 100 events a minute, channel:join was one of them.
      assert.equal(accepted.length, 99);
      assert.deepEqual(new Set(refusedAcks.map((ack) => ack.error.code)), new Set(["RATE_LIMITED"]));
      assert.equal(refusedAcks.length, 51);
      const errors = [];
      while (bob.has("error")) errors.push(await bob.next("error"));
      assert.equal(errors.length, 51);
      const page = await http("GET", `/api/v1/channels/${channelId}/messages?limit=100`,
        { bearer: token("bob", org) });
      assert.deepEqual(page.body.messages.map((m) => m.content),
        Array.from({ length: 99 }, (_, i) => `flood ${i}`));
      bob.close();
    });
  });
}

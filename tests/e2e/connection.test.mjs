// Connection Events and errors: `connected`, `connect_error` data, `error` events and
// failed acks (reference: Connection Events; contract sections 2 and 3).
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";

import {
  RUN, TRANSPORTS, closeAll, connect, hasKeys, isTimestamp, refused, token,
} from "./lib.mjs";

after(closeAll);

for (const transport of TRANSPORTS) {
  describe(`connection over ${transport}`, () => {
    const org = `org-${RUN}-conn-${transport}`;

    it("connected: {socketId, userId, organizationId, timestamp}", async () => {
      const alice = await connect("alice", org, { transport });
      const welcome = alice.welcome;
      hasKeys(welcome, ["socketId", "userId", "organizationId", "timestamp"], "connected");
      assert.equal(welcome.socketId, alice.socket.id);
      assert.equal(welcome.userId, "alice");
      assert.equal(welcome.organizationId, org);
      isTimestamp(welcome.timestamp);
      assert.equal(alice.socket.io.engine.transport.name, transport);
      alice.close();
    });

    it("connect_error carries {code, message} in data", async () => {
      const none = await refused({}, transport);
      assert.equal(none.data.code, "AUTH_REQUIRED");
      assert.equal(typeof none.data.message, "string");
      assert.equal(none.message, none.data.message);

      const garbage = await refused({ token: "not-a-jwt" }, transport);
      assert.equal(garbage.data.code, "AUTH_INVALID");

      const expired = await refused({ token: token("alice", org, { exp: 1000 }) }, transport);
      assert.equal(expired.data.code, "TOKEN_EXPIRED");
    });

    it("a failed event: ack {ok: false, error: {code, message}} and error {code, message, event}", async () => {
      const alice = await connect("alice", org, { transport });

      const unknown = await alice.call("no:such", {});
      assert.deepEqual(Object.keys(unknown).sort(), ["error", "ok"]);
      assert.equal(unknown.ok, false);
      assert.equal(unknown.error.code, "UNKNOWN_EVENT");
      const error = await alice.next("error");
      hasKeys(error, ["code", "message"], "error");
      assert.deepEqual(error, { ...unknown.error, event: "no:such" });

      const invalid = await alice.call("message:send", { channelId: `c-${RUN}`, content: "   " });
      assert.equal(invalid.error.code, "VALIDATION_ERROR");
      assert.equal((await alice.next("error")).event, "message:send");

      const outside = await alice.call("message:send", { channelId: `never-joined-${RUN}`,
        content: "hi" });
      assert.equal(outside.error.code, "NOT_IN_ROOM");
      assert.equal((await alice.next("error")).code, "NOT_IN_ROOM");

      const forbidden = await alice.call("conversation:join", { conversationId: `cv-${RUN}`,
        customerId: `not-mine-${RUN}` });
      assert.equal(forbidden.error.code, "FORBIDDEN");
      assert.equal((await alice.next("error")).code, "FORBIDDEN");

      // The connection stays up after every failure.
      assert.equal(alice.socket.connected, true);
      alice.close();
    });
  });
}

// Calls and transcription (reference: Call Events; contract section 7).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { RUN, TRANSPORTS, closeAll, connect, hasKeys, isTimestamp } from "./lib.mjs";

after(closeAll);

for (const transport of TRANSPORTS) {
  describe(`calls over ${transport}`, () => {
    const org = `org-${RUN}-calls-${transport}`;
    const roomName = "call_engineering_standup";
    let alice;
    let bob;
    let callId;

    before(async () => {
      alice = await connect("alice", org, { transport });
      bob = await connect("bob", org, { transport });
    });

    it("call:join: the ack, call:joined to the joiner, call:participant_joined to the others", async () => {
      const ack = await alice.call("call:join", { roomName });
      assert.equal(ack.ok, true);
      hasKeys(ack, ["roomName", "callId", "participants"], "call:join ack");
      callId = ack.callId;
      const joined = await alice.next("call:joined");
      hasKeys(joined, ["roomName", "timestamp", "callId", "participants"], "call:joined");
      assert.deepEqual([joined.roomName, joined.callId], [roomName, callId]);
      isTimestamp(joined.timestamp);

      assert.equal((await bob.call("call:join", { roomName })).ok, true);
      const late = await bob.next("call:joined");
      assert.deepEqual(late.participants.map((p) => p.userId).sort(), ["alice", "bob"]);
      const other = await alice.next("call:participant_joined");
      hasKeys(other, ["roomName", "userId", "userName", "timestamp"], "call:participant_joined");
      assert.deepEqual([other.roomName, other.userId], [roomName, "bob"]);
    });

    it("call:transcription: transcription:segment to everyone in the call", async () => {
      const segment = { speaker: "Matty", text: "Let us review the sprint backlog.",
        isFinal: true, confidence: 0.97 };
      assert.equal((await alice.call("call:transcription", { roomName, segment })).ok, true);
      for (const client of [alice, bob]) {
        const heard = await client.next("transcription:segment");
        hasKeys(heard, ["speaker", "text", "isFinal", "timestamp", "confidence"],
          "transcription:segment");
        assert.deepEqual([heard.speaker, heard.text, heard.isFinal, heard.confidence,
          heard.callId, heard.userId], ["Matty", segment.text, true, 0.97, callId, "alice"]);
      }
      const bad = await alice.call("call:transcription", { roomName,
        segment: { ...segment, confidence: 2 } });
      assert.equal(bad.error.code, "VALIDATION_ERROR");
    });

    it("call:leave and a disconnect: call:participant_left with reason left, disconnected", async () => {
      assert.equal((await bob.call("call:leave", { roomName })).ok, true);
      const left = await alice.next("call:participant_left");
      hasKeys(left, ["roomName", "userId", "userName", "reason", "timestamp"],
        "call:participant_left");
      assert.deepEqual([left.userId, left.reason], ["bob", "left"]);

      assert.equal((await bob.call("call:join", { roomName })).ok, true);
      await alice.next("call:participant_joined");
      alice.close();
      const gone = await bob.next("call:participant_left");
      assert.deepEqual([gone.userId, gone.reason], ["alice", "disconnected"]);
    });
  });
}

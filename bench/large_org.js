// One load-generator process of the `large-org` bench section (python -m bench), written
// with socket.io-client: sockets of one organization, then a reconnect storm.
//
// Job (a JSON file named by argv[2]): {url, tokens: [..], users: [..] (the userIds of
// tokens, in order), concurrency, subscribe (ids each socket subscribes to: the next ones
// of the organization), deadline (s)}.
// Prints JSON lines: {"ready": {sockets, seconds, subscribed}} once every socket is
// connected (handshakes `concurrency` at a time, each socket subscribed to `subscribe`
// users after its `connected`); then, after "storm" on stdin (the server was just told
// to stop), {"storm": {sockets, seconds, updates}}: the seconds until every socket has its
// `connected` again (socket.io-client's own reconnection, its default back-off) and the
// presence:update frames the sockets got meanwhile.
import { io } from "socket.io-client";
import { createInterface } from "node:readline";
import { readFileSync } from "node:fs";

const job = JSON.parse(readFileSync(process.argv[2], "utf8"));
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
setTimeout(() => { out({ error: "deadline" }); process.exit(3); }, (job.deadline || 600) * 1000);

let connectedCount = 0, updates = 0, stormStart = 0, storming = false;
let onAllBack = null;
const sockets = [];

function open(token, index) {
  return new Promise((resolve, reject) => {
    const socket = io(job.url, {
      transports: ["websocket"], reconnection: true, timeout: 60_000,
      auth: { token }, forceNew: true,
    });
    socket.on("presence:update", () => { updates += 1; });
    let first = true;
    socket.on("connected", () => {
      connectedCount += 1;
      if (first) { first = false; resolve(socket); return; }
      if (storming && connectedCount === sockets.length && onAllBack) onAllBack();
    });
    socket.on("disconnect", () => { connectedCount -= 1; });
    socket.once("connect_error", (err) => { if (first) reject(new Error(`connect: ${err.message}`)); });
  });
}

async function subscribe(socket, index) {
  const n = job.users.length;
  if (!job.subscribe) return 0;
  const ids = [];
  for (let k = 1; k <= job.subscribe && k < n; k++) ids.push(job.users[(index + k) % n]);
  const ack = await socket.timeout(60_000).emitWithAck("presence:subscribe", { userIds: ids });
  if (!(ack && ack.ok)) throw new Error(`subscribe: ${JSON.stringify(ack)}`);
  return ids.length;
}

async function main() {
  const started = performance.now();
  let next = 0, subscribed = 0;
  const pending = [];
  async function worker() {
    while (next < job.tokens.length) {
      const i = next++;
      const socket = await open(job.tokens[i], i);
      sockets[i] = socket;
      pending.push(subscribe(socket, i).then((n) => { subscribed += n; }));
    }
  }
  await Promise.all(Array.from({ length: job.concurrency }, worker));
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(pending);
  out({ ready: { sockets: sockets.length, seconds, subscribed } });
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (line.trim() !== "storm") continue;
    updates = 0;
    stormStart = performance.now();
    storming = true;
    // Every socket loses its connection first (the server stops), then comes back.
    await new Promise((resolve) => {
      const check = setInterval(() => {
        if (connectedCount === 0) { clearInterval(check); resolve(); }
      }, 20);
    });
    await new Promise((resolve) => {
      onAllBack = resolve;
      if (connectedCount === sockets.length) resolve();
    });
    out({ storm: { sockets: connectedCount, seconds: (performance.now() - stormStart) / 1000, updates } });
    sockets.forEach((s) => s.close());
    process.exit(0);
  }
}

main().catch((err) => { out({ error: String(err && err.stack || err) }); process.exit(1); });

// The recovery benchmark's clients (bench/recovery.py): CLIENTS sockets in ROOMS channels,
// one sender per room sending numbered messages; the server restarts (SIGTERM) in the
// middle. Prints one JSON line "ready" once everyone is in, reads "restarted" on stdin,
// then "stop"; prints the result: who recovered and when, what was lost or doubled.
import crypto from "node:crypto";
import readline from "node:readline";
import { io } from "socket.io-client";

const { URL, SECRET, CLIENTS, ROOMS, RATE } = process.env;
const clients = Number(CLIENTS);
const rooms = Number(ROOMS);
const rate = Number(RATE); // messages per second, all rooms together
const say = (value) => console.log(JSON.stringify(value));
const b64 = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
function token(sub, org) {
  const body = { sub, org, name: sub, exp: Math.floor(Date.now() / 1000) + 3600 };
  const unsigned = `${b64({ alg: "HS256", typ: "JWT" })}.${b64(body)}`;
  const signature = crypto.createHmac("sha256", SECRET).update(unsigned).digest("base64url");
  return `${unsigned}.${signature}`;
}
// One organization per room: presence tells a whole organization of every connect.
const open = (sub, room) => io(URL, { auth: { token: token(sub, `org-${room}`) }, transports: ["websocket"],
  reconnectionDelay: 200, reconnectionDelayMax: 2000 });

const members = [];
for (let i = 0; i < clients; i++) {
  const room = `rec-${i % rooms}`;
  const member = { socket: open(`m${i}`, room), room, got: new Map(), recoveredAt: null,
    fresh: false, dropped: false };
  member.socket.on("message:new", (m) => {
    const k = Number(m.content.split(":")[1]);
    member.got.set(k, (member.got.get(k) || 0) + 1);
  });
  member.socket.on("disconnect", () => { member.dropped = true; });
  member.socket.on("connect", () => {
    if (!member.dropped) return;
    if (member.socket.recovered) member.recoveredAt = Date.now();
    else member.fresh = true;
  });
  members.push(member);
}
const senders = [];
for (let r = 0; r < rooms; r++) {
  senders.push({ socket: open(`s${r}`, `rec-${r}`), room: `rec-${r}`, next: 0, acked: new Set() });
}
const joined = (socket, channelId) => new Promise((resolve, reject) => {
  const go = () => socket.timeout(30000).emit("channel:join", { channelId },
    (err, ack) => (err || !ack.ok ? reject(err || new Error(JSON.stringify(ack))) : resolve()));
  if (socket.connected) go(); else socket.once("connect", go);
});
for (let i = 0; i < members.length; i += 200) {
  await Promise.all(members.slice(i, i + 200).map((m) => joined(m.socket, m.room)));
}
await Promise.all(senders.map((s) => joined(s.socket, s.room)));

let sending = true;
let restartedAt = null;
const perTick = Math.max(1, Math.round(rate / 20));
let turn = 0;
const timer = setInterval(() => {
  if (!sending) return;
  for (let n = 0; n < perTick; n++) {
    const sender = senders[turn++ % senders.length];
    const k = sender.next++;
    // Buffered by socket.io-client while disconnected, sent once reconnected.
    sender.socket.emit("message:send", { channelId: sender.room, content: `m:${k}` },
      (ack) => { if (ack && ack.ok) sender.acked.add(k); });
  }
}, 50);
say({ event: "ready" });

const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  if (line === "restarted") {
    restartedAt = Date.now();
  } else if (line === "stop") {
    sending = false;
    clearInterval(timer);
    await new Promise((resolve) => setTimeout(resolve, 3000)); // the last acks and deliveries
    break;
  }
}
let lost = 0;
let doubled = 0;
let delivered = 0;
const bySender = new Map(senders.map((s) => [s.room, s]));
for (const member of members) {
  const sender = bySender.get(member.room);
  for (const k of sender.acked) if (!member.got.has(k)) lost++;
  for (const count of member.got.values()) {
    delivered += count;
    if (count > 1) doubled += count - 1;
  }
}
const recovered = members.filter((m) => m.recoveredAt !== null);
say({
  event: "result",
  clients, rooms,
  sent_acked: senders.reduce((n, s) => n + s.acked.size, 0),
  delivered, lost, doubled,
  dropped: members.filter((m) => m.dropped).length,
  recovered: recovered.length,
  fresh: members.filter((m) => m.fresh).length,
  all_recovered_ms: recovered.length && restartedAt !== null
    ? Math.max(...recovered.map((m) => m.recoveredAt)) - restartedAt : null,
});
for (const c of [...members.map((m) => m.socket), ...senders.map((s) => s.socket)]) c.close();
process.exit(0);

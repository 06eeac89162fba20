// One load-generator process of `python -m bench`, written with socket.io-client.
//
// Reads one JSON job on argv[2]; prints JSON lines on stdout: {"ready": ...} once its
// sockets are connected (and joined), then {"result": ...} at the end. Waits for "go"
// on stdin before sending; stops by itself (every phase has a deadline).
//
// Job: {url, flavor: "lvng"|"bare", tokens: [..], channel, role: "receive"|"send"|"idle"|
//       "rooms", window, rate, duration, drain, joinConcurrency, rooms: [[room, room], ..]}
// "rooms": every socket joins its own rooms (rooms[i]) and listens; the process sends at
// `rate` messages/s (open loop) from its sockets in turn, each to its rooms alternately,
// and reports its sends and its deliveries together.
import { io } from "socket.io-client";
import { createInterface } from "node:readline";
import { readFileSync } from "node:fs";

// The job is JSON on argv[2], or in the file argv[2] names (thousands of tokens).
const arg = process.argv[2];
const job = JSON.parse(arg.startsWith("{") ? arg : readFileSync(arg, "utf8"));
const lvng = job.flavor === "lvng";
const SEND = lvng ? "message:send" : "send";
const NEW = lvng ? "message:new" : "new";
const now = () => performance.timeOrigin + performance.now(); // ms, shared by processes
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
// Exit once everything written is out: a result line longer than the pipe's buffer is
// written in parts, and process.exit() would cut it.
const exit = (code) => process.stdout.write("", () => process.exit(code));

// Latency histogram: 0.1 ms buckets up to 10 s, then one overflow bucket.
const BUCKETS = 100_000;
const hist = new Uint32Array(BUCKETS + 1);
const ackHist = new Uint32Array(BUCKETS + 1); // send -> ack, for the persistence section
let delivered = 0, first = 0, last = 0;
const seen = new Map(); // sender -> highest n seen per receiving socket (order check)
let outOfOrder = 0;

function connect(token) {
  return new Promise((resolve, reject) => {
    const socket = io(job.url, {
      transports: ["websocket"], reconnection: false, timeout: 60_000,
      auth: token ? { token } : undefined, forceNew: true,
    });
    const fail = (err) => {
      const cause = err && err.description;
      const detail = cause && (cause.message || cause.error?.message || cause.type);
      reject(new Error(`connect: ${err && err.message}${detail ? ` (${detail})` : ""}`));
    };
    socket.once("connect_error", fail);
    if (lvng) socket.once("connected", () => resolve(socket));
    else socket.once("connect", () => resolve(socket));
  });
}

function call(socket, event, data, timeout = 60_000) {
  return socket.timeout(timeout).emitWithAck(event, data);
}

async function join(socket, channel = socket.channel) {
  const ack = lvng ? await call(socket, "channel:join", { channelId: channel })
                   : await call(socket, "join", channel);
  if (lvng && !(ack && ack.ok)) throw new Error(`join: ${JSON.stringify(ack)}`);
}

function listen(socket, index) {
  const last_n = new Map();
  socket.on(NEW, (msg) => {
    const t = now();
    const text = lvng ? msg.content : msg.content;
    const [ts, sender, n] = text.split(" ", 3);
    const latency = t - Number(ts);
    let b = Math.floor(latency * 10);
    if (b < 0) b = 0;
    hist[b > BUCKETS ? BUCKETS : b]++;
    delivered++;
    if (!first) first = t;
    last = t;
    const prev = last_n.get(sender) ?? -1;
    if (Number(n) <= prev) outOfOrder++;
    last_n.set(sender, Number(n));
  });
}

async function pool(items, limit, fn) {
  const results = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) { const i = next++; results[i] = await fn(items[i], i); }
  });
  await Promise.all(workers);
  return results;
}

function sparse(of = hist) {
  const h = {};
  for (let i = 0; i <= BUCKETS; i++) if (of[i]) h[i] = of[i];
  return h;
}

async function main() {
  const started = now();
  const sockets = await pool(job.tokens, job.joinConcurrency || 50, async (token, i) => {
    const s = await connect(token);
    s.channel = job.channelPerSocket ? `${job.channel}-${job.id}-${i}` : job.channel;
    if (job.role === "rooms") {
      s.rooms = job.rooms[i];
      for (const room of s.rooms) await join(s, room);
    } else if (job.role !== "idle") await join(s);
    return s;
  });
  const connectSeconds = (now() - started) / 1000;
  if (job.role === "receive" || job.role === "rooms") sockets.forEach(listen);
  out({ ready: { sockets: sockets.length, connectSeconds } });

  const rl = createInterface({ input: process.stdin });
  const go = await new Promise((resolve) => {
    rl.on("line", (line) => { if (line.startsWith("go")) resolve(now()); });
    rl.on("close", () => resolve(null));
  });
  if (go === null) process.exit(0);

  let sent = 0, acked = 0, failed = 0, n = 0, sendSeconds = 0;
  if (job.role === "send" || job.role === "rooms") {
    const deadline = go + job.duration * 1000;
    const sendOne = async (socket, sender) => {
      const seq = n++;
      const content = `${now().toFixed(3)} ${sender} ${seq} ${job.pad || ""}`;
      const room = socket.rooms ? socket.rooms[seq % socket.rooms.length] : socket.channel;
      sent++;
      const t0 = now();
      try {
        const ack = lvng ? await call(socket, SEND, { channelId: room, content })
                         : await call(socket, SEND, { content, room });
        if (!lvng || (ack && ack.ok)) {
          acked++;
          const b = Math.max(0, Math.floor((now() - t0) * 10));
          ackHist[b > BUCKETS ? BUCKETS : b]++;
        } else failed++;
      } catch { failed++; }
    };
    if (job.rate) {
      // Open loop: `rate` messages/s over this process's sockets, on time whatever the
      // timer's lateness (every 10 ms, what is due since "go" goes).
      let k = 0;
      const pending = [];
      await new Promise((resolve) => {
        const timer = setInterval(() => {
          const t = now();
          const due = Math.floor(job.rate * (Math.min(t, deadline) - go) / 1000);
          while (k < due) {
            const i = k++ % sockets.length;
            pending.push(sendOne(sockets[i], `${job.id}.${i}`));
          }
          if (t >= deadline) { clearInterval(timer); resolve(); }
        }, 10);
      });
      await Promise.all(pending);
    } else {
      // Closed loop: each socket keeps `window` sends in flight until the deadline.
      await Promise.all(sockets.flatMap((socket, i) =>
        Array.from({ length: job.window }, async () => {
          while (now() < deadline) await sendOne(socket, `${job.id}.${i}`);
        })));
    }
    sendSeconds = (now() - go) / 1000;
    if (job.role === "send") {
      out({ result: { role: "send", sent, acked, failed, seconds: sendSeconds,
                      ackHist: sparse(ackHist) } });
    }
  }
  if (job.role === "receive" || job.role === "rooms") {
    // Wait for the senders' end, then until nothing arrived for `drain` seconds (at
    // most 120 s more): what is still on its way is not counted as lost.
    if (job.role === "receive") await new Promise((r) => setTimeout(r, job.duration * 1000));
    const cap = now() + 120_000;
    await new Promise((resolve) => {
      const timer = setInterval(() => {
        const t = now();
        if (t - Math.max(last, go + job.duration * 1000) >= job.drain * 1000 || t > cap) {
          clearInterval(timer); resolve();
        }
      }, 100);
    });
    out({ result: { role: job.role, delivered, first, last, go, outOfOrder, hist: sparse(),
                    sent, acked, failed, seconds: sendSeconds } });
  } else if (job.role !== "send") {
    await new Promise((r) => setTimeout(r, job.duration * 1000));
    out({ result: { role: "idle" } });
  }
  rl.close();
  for (const s of sockets) s.disconnect();
  setTimeout(() => exit(0), 200);
}

main().catch((err) => { out({ error: String(err && err.stack || err) }); exit(1); });

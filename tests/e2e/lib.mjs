// Helpers of the end-to-end suite: tokens, clients that keep every event they receive (and
// record it for the AsyncAPI check), waits with timeouts, key-for-key checks.
//
// Environment (set by tests/test_e2e.py): LVNG_URL, LVNG_JWT_SECRET, LVNG_CONTROL_URL (POST
// /restart restarts the server), LVNG_E2E_RECORD (a folder: every received payload is
// written there as JSON when the process ends), LVNG_E2E_TRANSPORTS (default both).
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { io } from "socket.io-client";

export const URL = process.env.LVNG_URL;
const SECRET = process.env.LVNG_JWT_SECRET;
const CONTROL = process.env.LVNG_CONTROL_URL;
const RECORD = process.env.LVNG_E2E_RECORD;
export const TRANSPORTS = (process.env.LVNG_E2E_TRANSPORTS || "websocket,polling").split(",");
// Every id this run makes starts with RUN, so runs against one database never meet.
export const RUN = `${Date.now().toString(36)}${crypto.randomBytes(2).toString("hex")}`;
export const WAIT_MS = 5000;

if (!URL || !SECRET) throw new Error("LVNG_URL and LVNG_JWT_SECRET are required");

const b64 = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");

/** An HS256 JWT signed with node's crypto (no extra package). */
export function token(sub, org, claims = {}) {
  const body = { sub, org, name: sub, exp: Math.floor(Date.now() / 1000) + 3600, ...claims };
  const unsigned = `${b64({ alg: "HS256", typ: "JWT" })}.${b64(body)}`;
  const signature = crypto.createHmac("sha256", SECRET).update(unsigned).digest("base64url");
  return `${unsigned}.${signature}`;
}

const recorded = [];
process.on("exit", () => {
  if (!RECORD) return;
  fs.mkdirSync(RECORD, { recursive: true });
  fs.writeFileSync(path.join(RECORD, `received-${process.pid}.json`), JSON.stringify(recorded));
});

const open = new Set();

/** A socket.io-client socket whose events are kept in arrival order until read. */
export class Client {
  constructor(socket, name) {
    this.socket = socket;
    this.name = name;
    this.unread = []; // [{event, payload}]
    this.waiters = new Set();
    socket.onAny((event, ...args) => {
      const payload = args[0];
      recorded.push({ event, payload });
      this.unread.push({ event, payload });
      for (const waiter of [...this.waiters]) waiter();
    });
    open.add(this);
  }

  /** The next unread `event` (matching `where`, if given), waiting up to `timeout` ms. */
  next(event, { where = () => true, timeout = WAIT_MS } = {}) {
    return new Promise((resolve, reject) => {
      const look = () => {
        const index = this.unread.findIndex((e) => e.event === event && where(e.payload));
        if (index < 0) return false;
        const [found] = this.unread.splice(index, 1);
        this.waiters.delete(look);
        clearTimeout(timer);
        resolve(found.payload);
        return true;
      };
      const timer = setTimeout(() => {
        this.waiters.delete(look);
        const seen = this.unread.map((e) => e.event).join(", ") || "nothing";
        reject(new Error(`${this.name}: no ${event} within ${timeout} ms (unread: ${seen})`));
      }, timeout);
      if (!look()) this.waiters.add(look);
    });
  }

  /** Whether an unread `event` is waiting now (no wait). */
  has(event, where = () => true) {
    return this.unread.some((e) => e.event === event && where(e.payload));
  }

  /** Emit with an ack, failing after `timeout` ms without one. */
  call(event, data, timeout = WAIT_MS) {
    const socket = this.socket.timeout(timeout);
    return data === undefined ? socket.emitWithAck(event) : socket.emitWithAck(event, data);
  }

  emit(event, data) {
    this.socket.emit(event, data);
  }

  /** Resolves with the reason at the socket's next `disconnect`. */
  disconnected(timeout = WAIT_MS) {
    return once(this.socket, "disconnect", timeout, `${this.name}: disconnect`);
  }

  close() {
    open.delete(this);
    this.socket.disconnect();
  }
}

/** Resolves with the first argument of `emitter`'s next `event`, within `timeout` ms;
 * `.cancel()` stops waiting. */
export function once(emitter, event, timeout = WAIT_MS, what = event) {
  let cancel;
  const promise = new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, on);
      reject(new Error(`no ${what} within ${timeout} ms`));
    }, timeout);
    const on = (value) => {
      clearTimeout(timer);
      emitter.off(event, on);
      resolve(value);
    };
    emitter.on(event, on);
    cancel = () => { clearTimeout(timer); emitter.off(event, on); };
  });
  promise.cancel = cancel;
  return promise;
}

/** A connected client of `sub` in `org` over `transport`, once `connected` has arrived
 * (its payload is `client.welcome`). */
export async function connect(sub, org, { transport, claims = {}, reconnection = false,
  auth } = {}) {
  const socket = io(URL, {
    auth: auth ?? { token: token(sub, org, claims) },
    transports: [transport],
    reconnection,
    reconnectionDelay: 200,
    reconnectionDelayMax: 1000,
    forceNew: true,
  });
  const client = new Client(socket, `${sub}/${transport}`);
  const failed = once(socket, "connect_error", WAIT_MS, "connect_error");
  try {
    client.welcome = await Promise.race([
      client.next("connected"),
      failed.then((err) => { throw new Error(`connect_error: ${JSON.stringify(err.data)}`); }),
    ]);
  } catch (error) {
    client.close();
    throw error;
  } finally {
    failed.cancel();
  }
  return client;
}

/** The `connect_error` a handshake with `auth` gets: `{message, data}`. */
export async function refused(auth, transport) {
  const socket = io(URL, { auth, transports: [transport], reconnection: false, forceNew: true });
  try {
    const err = await once(socket, "connect_error");
    return { message: err.message, data: err.data };
  } finally {
    socket.disconnect();
    socket.io.engine?.close(); // a refused namespace leaves the Manager's transport open
  }
}

export function closeAll() {
  for (const client of [...open]) client.close();
}

/** Assert that `payload` has every key of the reference (values may be null). */
export function hasKeys(payload, keys, what = "payload") {
  assert.ok(payload && typeof payload === "object", `${what} is not an object: ${payload}`);
  const missing = keys.filter((key) => !(key in payload));
  assert.deepEqual(missing, [], `${what} lacks ${missing.join(", ")}: ${JSON.stringify(payload)}`);
}

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
export function isTimestamp(value) {
  assert.match(String(value), ISO);
}

/** An HTTP call: `{status, body}`. */
export async function http(method, route, { bearer, json } = {}) {
  const headers = {};
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  if (json !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(URL + route, {
    method, headers, body: json === undefined ? undefined : JSON.stringify(json),
  });
  const text = await response.text();
  let body = text;
  try { body = JSON.parse(text); } catch { /* not JSON */ }
  return { status: response.status, body };
}

/** Restart the server (SIGINT, then start again on the same port and database). */
export async function restartServer() {
  assert.ok(CONTROL, "LVNG_CONTROL_URL is not set");
  const response = await fetch(`${CONTROL}/restart`, { method: "POST" });
  assert.equal(response.status, 200, await response.text());
}

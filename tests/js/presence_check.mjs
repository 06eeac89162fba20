// Two standard socket.io-client 4.x sockets of one organization: what one sets, the other
// hears, and presence:list answers. Prints what it saw as one JSON line.
// Usage: node presence_check.mjs URL TOKEN_A TOKEN_B TRANSPORT
import { io } from "socket.io-client";

const [url, tokenA, tokenB, transport] = process.argv.slice(2);
const seen = {};
const done = (value) => { console.log(JSON.stringify(value)); process.exit(0); };
setTimeout(() => done({ ...seen, timeout: true }), 8000);

const options = (token) => ({ auth: { token }, transports: [transport], reconnection: false });
const a = io(url, options(tokenA));
a.on("connected", () => {
  const b = io(url, options(tokenB));
  b.on("connected", async () => {
    b.on("presence:update", async (update) => {
      if (update.status !== "busy") return;
      seen.heard = update;
      seen.list = await b.emitWithAck("presence:list");
      a.disconnect();
      b.disconnect();
      done(seen);
    });
    seen.ack = await a.emitWithAck("presence:update", { status: "busy", customStatus: "from js" });
  });
});

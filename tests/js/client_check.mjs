// Connects with the standard socket.io-client and prints what it saw as one JSON line.
// Usage: node client_check.mjs URL TOKEN TRANSPORT
import { io } from "socket.io-client";

const [url, token, transport] = process.argv.slice(2);
const seen = {};
const done = (value) => { console.log(JSON.stringify(value)); process.exit(0); };
setTimeout(() => done({ ...seen, timeout: true }), 8000);

const refused = io(url, { auth: { token: "not-a-jwt" }, transports: [transport], reconnection: false });
refused.on("connect_error", (err) => {
  seen.refused = { message: err.message, data: err.data };
  const socket = io(url, { auth: { token }, transports: [transport], reconnection: false });
  socket.on("connected", async (payload) => {
    seen.connected = payload;
    seen.transport = socket.io.engine.transport.name;
    seen.echo = await socket.emitWithAck("probe:echo", { text: "from js" });
    socket.once("error", (err) => { seen.error = err; });
    seen.unknown = await socket.emitWithAck("no:such", {});
    socket.disconnect();
    done(seen);
  });
});

// Stays connected with the standard socket.io-client and prints one JSON line per
// connection event, until its stdin closes.
// Usage: node reconnect_watch.mjs URL TOKEN [TRANSPORTS]   (TRANSPORTS: "polling", say;
// omitted means the client's defaults)
import { io } from "socket.io-client";

const [url, token, transports] = process.argv.slice(2);
const options = { auth: { token } };
if (transports) options.transports = transports.split(",");
const socket = io(url, options);
const say = (value) => console.log(JSON.stringify(value));

socket.on("connected", (payload) => say({
  event: "connected", userId: payload.userId, socketId: payload.socketId,
  recovered: socket.recovered && payload.recovered === true,
}));
socket.on("disconnect", (reason) => say({
  event: "disconnect", reason, active: socket.active,
  transport: socket.io.engine ? socket.io.engine.transport.name : null,
}));
socket.io.on("reconnect", (attempt) => say({ event: "reconnect" }));
process.stdin.on("end", () => { socket.disconnect(); process.exit(0); });
process.stdin.resume();

// The Node baseline of `python -m bench`: socket.io, broadcast only (no auth, no storage).
// `node node_server.js PORT`: `join` (a room) and `send` ({content, room}: `new` to the room, ack).
import { createServer } from "node:http";
import { Server } from "socket.io";

const port = Number(process.argv[2]);
const httpServer = createServer();
const io = new Server(httpServer, { transports: ["websocket", "polling"], serveClient: false });
io.on("connection", (socket) => {
  socket.on("join", (room, ack) => { socket.join(String(room)); ack && ack(true); });
  socket.on("send", (data, ack) => { io.to(String(data && data.room)).emit("new", data); ack && ack(true); });
});
httpServer.listen(port, "127.0.0.1", () => console.log(`listening ${port}`));
setTimeout(() => process.exit(0), Number(process.env.BENCH_MAX_SECONDS || 3600) * 1000);

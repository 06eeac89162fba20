// Helpers of the recovery cases that tests/test_recovery.py runs against servers set up
// for each (a short window, a small log, a longer presence grace, PostgreSQL).
import { once } from "../lib.mjs";

/** Drop the client's transport (as a network loss would); it stays down until `back`. */
export async function drop(client) {
  client.socket.io.reconnection(false);
  const gone = client.disconnected();
  client.socket.io.engine.close();
  return gone;
}

/** Reconnect a dropped client (socket.io-client sends its pid and last offset). */
export async function back(client) {
  const connected = once(client.socket, "connect", 10000);
  client.socket.connect();
  await connected;
  return client.socket.recovered;
}

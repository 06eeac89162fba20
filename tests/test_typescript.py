"""TypeScript declarations (`lvng typescript`, `GET /lvng.d.ts`): a socket.io-client typed
with them compiles with `tsc` (typescript pinned in tests/e2e), each kind of mistake does
not (`@ts-expect-error` fails the compile when a line it marks compiles), and the compiled
client then runs against a live server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.live import PROBE_PLUGIN, REPO, LiveServer
from tests.services import IN_CI

E2E = REPO / "tests" / "e2e"
TSC = E2E / "node_modules" / ".bin" / "tsc"

# A typed client as an app team writes one. Every line marked @ts-expect-error is a
# mistake the declarations must catch; the rest must compile under --strict.
CLIENT = """\
import { io, type Socket } from "socket.io-client";
import type {
  Ack, ClientToServerEvents, Message, ServerPayload, ServerToClientEvents,
} from "./lvng.js";

const [url, token] = process.argv.slice(2);
const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io(url, {
  auth: { token }, transports: ["websocket"],
});
const seen: Record<string, unknown> = {};

function check() {
  // A misspelt event, either way.
  // @ts-expect-error: no client event "mesage:send"
  socket.emit("mesage:send", { channelId: "general", content: "hi" }, () => {});
  // @ts-expect-error: no server event "message:neww"
  socket.on("message:neww", () => {});
  // A missing key.
  // @ts-expect-error: channel:join needs channelId
  socket.emit("channel:join", {}, () => {});
  // @ts-expect-error: call:join needs roomName
  socket.emit("call:join", { room: "standup" }, () => {});
  // A wrong status, a wrong action, a wrong type.
  // @ts-expect-error: "sleeping" is not a presence status
  socket.emit("presence:update", { status: "sleeping" }, () => {});
  // @ts-expect-error: a reaction's action is "add" or "remove"
  socket.emit("message:react", { messageId: "m", channelId: "c", emoji: "x", action: "toggle" },
    () => {});
  socket.emit("call:transcription", {
    roomName: "standup",
    // @ts-expect-error: confidence is a number
    segment: { speaker: "Matty", text: "hi", isFinal: true, confidence: "high" },
  }, () => {});
  // A misspelt key of a payload the server sends, and of a failed ack.
  socket.on("message:new", (m) => {
    // @ts-expect-error: it is content
    console.log(m.contnet);
  });
  socket.emit("channel:leave", { channelId: "general" }, (ack) => {
    // @ts-expect-error: only a failed ack has an error, and ok is not narrowed yet
    console.log(ack.error.code);
    if (!ack.ok) {
      // @ts-expect-error: an error code is one of the contract's
      const code: "OOPS" = ack.error.code;
    }
  });
  // @ts-expect-error: presence:update's status is a union of strings
  const status: number = ({} as ServerPayload<"presence:update">).status;
}
void check;

async function run(): Promise<void> {
  await new Promise<void>((resolve) => socket.once("connected", (hello) => {
    seen.connected = hello.userId;
    resolve();
  }));
  const joined: Ack = await socket.emitWithAck("channel:join", { channelId: "typed" });
  seen.joined = joined.ok ? joined.channelId : joined.error.code;
  const heard = new Promise<Message>((resolve) => socket.once("message:new", resolve));
  const sent = await socket.emitWithAck("message:send", {
    channelId: "typed", content: "typed hello", optimisticId: "t1",
  });
  seen.sent = sent.ok;
  const message = await heard;
  seen.message = { content: message.content, userName: message.userName,
    contentType: message.contentType };
  const busy = await socket.emitWithAck("presence:update", { status: "busy" });
  seen.presence = busy.ok ? busy.status : busy.error.code;
  const wrong = await socket.emitWithAck("channel:join", { channelId: "not ok!" });
  seen.refused = wrong.ok ? "accepted" : wrong.error.code;
  console.log(JSON.stringify(seen));
  socket.disconnect();
}
run().catch((error) => { console.error(error); process.exit(1); });
"""

TSCONFIG = {
    "compilerOptions": {
        "strict": True,
        "target": "es2022",
        "module": "nodenext",
        "moduleResolution": "nodenext",
        "types": ["node"],
        "outDir": "out",
        "skipLibCheck": False,
        "noEmitOnError": True,
    },
    "files": ["client.mts", "lvng.d.ts"],
}


def tsc() -> Path:
    if not (shutil.which("node") and TSC.exists()):
        message = "node or typescript missing (run: npm ci --prefix tests/e2e)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return TSC


def lvng(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LVNG_")}
    environ.update({"LVNG_ENTRY_POINTS": "false", "PYTHONPATH": str(REPO), **env})
    return subprocess.run(
        [sys.executable, "-m", "core.cli", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


def project(tmp_path: Path, declarations: str, client: str = CLIENT) -> Path:
    """A TypeScript project as an app has it: lvng.d.ts beside its client, with
    socket.io-client (and Node's types) from tests/e2e's node_modules."""
    tmp_path.mkdir(parents=True)
    (tmp_path / "node_modules").symlink_to(E2E / "node_modules", target_is_directory=True)
    (tmp_path / "lvng.d.ts").write_text(declarations)
    (tmp_path / "client.mts").write_text(client)
    (tmp_path / "tsconfig.json").write_text(json.dumps(TSCONFIG))
    return tmp_path


def compile_in(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(tsc()), "-p", str(folder)], cwd=folder, capture_output=True, text=True, timeout=180
    )


async def test_the_server_serves_what_the_command_prints(server):
    printed = lvng("typescript", LVNG_PLUGIN_MODULES=PROBE_PLUGIN)
    assert printed.returncode == 0, printed.stderr
    status, served = await server.http("GET", "/lvng.d.ts")
    assert status == 200
    assert served == printed.stdout
    assert "export interface ServerToClientEvents {" in served
    assert '  "probe:echo": (payload: ' in served  # the enabled plugins' events, no others
    plain = lvng("typescript", LVNG_DISABLED_PLUGINS="calls").stdout
    assert '"message:send": (payload: SendMessage, ack: (response: Ack) => void) => void;' in plain
    assert "call:join" not in plain and "transcription:segment" not in plain
    assert "probe:echo" not in plain


async def test_a_typed_client_compiles_each_mistake_does_not_and_it_runs(start_server, tmp_path):
    declarations = lvng("typescript").stdout
    folder = project(tmp_path / "typed", declarations)
    compiled = compile_in(folder)
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr

    # Without the markers, every marked line is an error of its own: each mistake is caught
    # where it is made (and not, say, by a broken import).
    marked = [i for i, line in enumerate(CLIENT.splitlines()) if "@ts-expect-error" in line]
    bare = "\n".join("" if "@ts-expect-error" in line else line for line in CLIENT.splitlines())
    errors = compile_in(project(tmp_path / "bare", declarations, bare))
    assert errors.returncode != 0
    lines = {
        int(line.split("(", 1)[1].split(",", 1)[0]) - 1
        for line in errors.stdout.splitlines()
        if line.startswith("client.mts(")
    }
    assert lines == {number + 1 for number in marked}, errors.stdout

    # The compiled client against a live server: the declarations describe what it sends.
    live: LiveServer = start_server()
    done = subprocess.run(
        ["node", str(folder / "out" / "client.mjs"), live.url, live.token("tess", "typed-org")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "connected": "tess",
        "joined": "typed",
        "sent": True,
        "message": {"content": "typed hello", "userName": "tess", "contentType": "text"},
        "presence": "busy",
        "refused": "VALIDATION_ERROR",
    }

/**
 * A loopback port where TCP's connect() never completes, as with a host that
 * drops SYNs: a listener with a backlog of 0 that never accepts (python3:
 * Node accepts every connection at once), its one queue place taken by a
 * connection of ours. Linux drops further SYNs while the accept queue is
 * full, so a connect() then waits until the OS gives up (about 2 minutes)
 * or the caller's own timeout.
 */
import { spawn } from "node:child_process";
import * as net from "node:net";
import { createInterface } from "node:readline";

export interface Unanswered {
  port: number;
  close(): void;
}

const LISTENER = `
import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(0)
print(s.getsockname()[1], flush=True)
sys.stdin.read()  # until our end of the pipe closes
`;

export async function unansweredPort(): Promise<Unanswered> {
  const proc = spawn("python3", ["-c", LISTENER], { stdio: ["pipe", "pipe", "inherit"] });
  const exited = new Promise<never>((_, reject) => proc.once("exit", (code) => reject(new Error(`python3 listener exited (${code})`))));
  exited.catch(() => {});
  const line = createInterface({ input: proc.stdout })[Symbol.asyncIterator]().next();
  const port = Number((await Promise.race([line, exited])).value);
  // Take the queue's one place.
  const filler = net.connect(port, "127.0.0.1");
  filler.on("error", () => {});
  await Promise.race([new Promise((r) => filler.once("connect", r)), exited]);
  // Proof that it drops: a probe does not connect within 300 ms.
  const probe = net.connect(port, "127.0.0.1");
  probe.on("error", () => {});
  const probed = await Promise.race([
    new Promise((r) => probe.once("connect", () => r("connected"))),
    new Promise((r) => setTimeout(() => r("waiting"), 300)),
  ]);
  probe.destroy();
  const close = () => {
    filler.destroy();
    proc.kill("SIGKILL");
  };
  if (probed !== "waiting") {
    close();
    throw new Error("unansweredPort: a connect() to the full listener completed; the OS does not drop SYNs here");
  }
  return { port, close };
}

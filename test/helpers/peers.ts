/**
 * Real TLS peers as child processes: Debian's `openssl s_server`/`s_client`
 * and `gnutls-serv`/`gnutls-cli`. Each is started on a free loopback port and
 * waited for until it is ready; every process is killed when the test ends.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Identity } from "./pki.js";

export async function freePort(): Promise<number> {
  const s = net.createServer();
  s.listen(0, "127.0.0.1");
  await new Promise((r) => s.once("listening", r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** Writes an identity to files (the peers take paths). */
export function identityFiles(id: Identity): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), "openssl-wasm-peer-"));
  const cert = join(dir, "cert.pem");
  const key = join(dir, "key.pem");
  writeFileSync(cert, id.certPem);
  writeFileSync(key, id.keyPem);
  return { cert, key };
}

export interface Peer {
  proc: ChildProcessWithoutNullStreams;
  /** Everything the peer printed on stdout so far. */
  stdout(): Buffer;
  stderr(): string;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
  kill(signal?: NodeJS.Signals): void;
}

const running = new Set<ChildProcessWithoutNullStreams>();
export function killAllPeers(): void {
  for (const p of running) p.kill("SIGKILL");
  running.clear();
}

/** Starts a peer; resolves once `ready` matches its output (or at once without `ready`). */
export async function startPeer(cmd: string, args: string[], ready?: RegExp, timeoutMs = 10_000): Promise<Peer> {
  const proc = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
  running.add(proc);
  const out: Buffer[] = [];
  let err = "";
  proc.stdout.on("data", (d: Buffer) => out.push(d));
  proc.stderr.on("data", (d: Buffer) => (err += d));
  proc.stdin.on("error", () => {}); // the peer may exit before reading everything
  const exited = new Promise<number | string>((resolve) => proc.on("exit", (code, signal) => {
    running.delete(proc);
    resolve(code ?? signal ?? -1);
  }));
  const peer: Peer = {
    proc,
    stdout: () => Buffer.concat(out),
    stderr: () => err,
    exited,
    kill: (signal = "SIGKILL") => proc.kill(signal),
  };
  if (ready) {
    const deadline = Date.now() + timeoutMs;
    while (!ready.test(Buffer.concat(out).toString("latin1") + err)) {
      if (Date.now() > deadline || proc.exitCode !== null) {
        proc.kill("SIGKILL");
        throw new Error(`${cmd} ${args.join(" ")} did not become ready: ${err}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  return peer;
}

/** Waits until the peer's stdout contains `bytes` (its own messages may come first); returns whether it did. */
export async function stdoutIncludes(peer: Peer, bytes: Buffer, timeoutMs = 20_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const out = peer.stdout();
    if (out.length >= bytes.length && out.includes(bytes)) return true;
    if (Date.now() > deadline || peer.proc.exitCode !== null) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * A fresh `openssl s_server -rev` (it answers each line reversed) for one
 * connection with the given certificate files; resolves with its port once
 * it accepts.
 */
export async function revServer(files: { cert: string; key: string }): Promise<number> {
  const port = await freePort();
  await startPeer("openssl", ["s_server", "-accept", `127.0.0.1:${port}`, "-cert", files.cert, "-key", files.key,
    "-naccept", "1", "-rev"], /ACCEPT/);
  return port;
}

/**
 * What the smoke test (test/runtimes/smoke.mjs) reports against revServer()
 * in every runtime: TLS 1.3, verified, the line reversed, SSL_shutdown 0
 * then 1, clean. (No group: Debian's s_server is OpenSSL 3.0, without ML-KEM.)
 */
export const SMOKE_EXPECTED = {
  protocol: "TLSv1.3", verifyResult: 0, reply: "emitnur eht morf gnip\n", shutdown: [0, 1], ending: "clean",
} as const;

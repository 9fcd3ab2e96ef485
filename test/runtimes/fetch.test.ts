// createFetch in Deno and Bun over their native TCP (denoConnector,
// bunConnector), and in workerd over connect() (cloudflareConnector),
// against Node's https server: a chunked body, a gzip body on the
// kept-alive connection.
import { execFile } from "node:child_process";
import { once } from "node:events";
import { readdirSync, statSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import * as net from "node:net";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { freePort, killAllPeers, startPeer } from "../helpers/peers.js";
import { selfSigned } from "../helpers/pki.js";

const run = promisify(execFile);
const root = resolve(import.meta.dirname, "../..");
const id = selfSigned("localhost");
const dir = mkdtempSync(join(tmpdir(), "fetch-runtimes-"));
const caFile = join(dir, "ca.pem");
writeFileSync(caFile, id.certPem);
let server: https.Server;
let base: string;

beforeAll(async () => {
  server = https.createServer({ cert: id.certPem, key: id.keyPem }, (req, res) => {
    if (req.url === "/gzip") {
      res.setHeader("content-encoding", "gzip");
      res.end(gzipSync(Buffer.from("z".repeat(5000))));
    } else {
      res.write("one ");
      setTimeout(() => res.end("two"), 10);
    }
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterEach(() => killAllPeers());
afterAll(() => {
  server.closeAllConnections();
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

const RUNTIMES: [string, string[]][] = [
  ["deno", [join(root, "node_modules/.bin/deno"), "run", "--allow-net", "--allow-read", "--allow-env"]],
  ["bun", [join(root, "node_modules/.bin/bun"), "run"]],
];

describe("createFetch in other runtimes", () => {
  for (const [name, [cmd, ...args]] of RUNTIMES) {
    it(`${name}: over its native TCP, chunked then gzip on the kept-alive connection`, async () => {
      const { stdout } = await run(cmd!, [...args, join(root, "test/runtimes/fetch-entry.mjs")], {
        cwd: root, timeout: 60_000,
        env: { ...process.env, FETCH_BASE: base, FETCH_CA: caFile, FETCH_HOST: "localhost", NO_COLOR: "1" },
      });
      expect(JSON.parse(stdout.trim().split("\n").pop()!)).toEqual({
        runtime: name, textA: "one two", gzipLength: 5000, status: 200, protocol: "TLSv1.3", alpn: "http/1.1", reused: true,
      });
    });
  }
});

/** Every .js file under dir (relative to root), for workerd's module list (as runtimes.test.ts). */
function jsFiles(dir: string): string[] {
  return readdirSync(join(root, dir)).flatMap((f) => {
    const rel = `${dir}/${f}`;
    if (statSync(join(root, rel)).isDirectory()) return rel.endsWith("/tunnel") ? [] : jsFiles(rel);
    return f.endsWith(".js") ? [rel] : [];
  });
}

describe("createFetch in workerd", () => {
  it("over connect() (cloudflare:sockets), chunked then gzip on the kept-alive connection", async () => {
    const http = await freePort();
    const str = (s: string) => JSON.stringify(s);
    const module = (name: string, kind = "esModule") => `(name = ${str(name)}, ${kind} = embed ${str(name)})`;
    const config = `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    (name = "net", network = (allow = ["local", "private"])),
  ],
  sockets = [ (name = "http", address = "127.0.0.1:${http}", http = (), service = "main") ],
);
const worker :Workerd.Worker = (
  modules = [
    ${module("test/runtimes/fetch-worker.mjs")},
    ${[...jsFiles("bindings/dist"), "wasm/dist/openssl.mjs"].map((f) => module(f)).join(",\n    ")},
    ${module("wasm/dist/openssl.wasm", "wasm")},
  ],
  compatibilityDate = "2025-09-01",
  bindings = [
    (name = "FETCH_BASE", text = ${str(base)}),
    (name = "FETCH_CA", text = ${str(id.certPem)}),
    (name = "FETCH_HOST", text = "localhost"),
  ],
  globalOutbound = "net",
);
`;
    const configFile = join(root, `.workerd-fetch-${process.pid}.capnp`);
    writeFileSync(configFile, config);
    onTestFinished(() => rmSync(configFile, { force: true }));
    const peer = await startPeer(join(root, "node_modules/.bin/workerd"), ["serve", configFile]);
    for (let i = 0; ; i++) {
      const ok = await new Promise<boolean>((r) => net.connect(http, "127.0.0.1").once("connect", function (this: net.Socket) { this.destroy(); r(true); }).once("error", () => r(false)));
      if (ok) break;
      if (i > 200 || peer.proc.exitCode !== null) throw new Error(`workerd did not start: ${peer.stderr()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const response = await fetch(`http://127.0.0.1:${http}/`);
    const body = await response.text();
    expect(response.status, body).toBe(200);
    expect(JSON.parse(body)).toEqual({
      runtime: "workerd", textA: "one two", gzipLength: 5000, status: 200, protocol: "TLSv1.3", alpn: "http/1.1", reused: true,
    });
  });
});

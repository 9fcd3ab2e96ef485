// One smoke test per runtime (SHUTDOWN.md's two-way close, against a real
// `openssl s_server`): Deno and Bun via their native TCP and via the tunnel.
import { execFile } from "node:child_process";
import { readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { createTunnel, type Tunnel } from "../../bindings/src/tunnel/tunnel.js";
import { SERVER_NAME, identity } from "../helpers/harness.js";
import { SMOKE_EXPECTED, freePort, identityFiles, killAllPeers, revServer, startPeer } from "../helpers/peers.js";

const run = promisify(execFile);
const root = resolve(import.meta.dirname, "../..");
const id = identity();
const files = identityFiles(id);
let tunnel: Tunnel;
beforeAll(async () => {
  tunnel = await createTunnel({ allow: ["127.0.0.1:*"] });
});
afterAll(() => tunnel.close());
afterEach(() => killAllPeers());

function expectSmoke(r: Record<string, unknown>) {
  expect(r).toMatchObject({ ...SMOKE_EXPECTED, peer: `/CN=${SERVER_NAME}` });
}

const RUNTIMES: [string, string[]][] = [
  ["deno", [join(root, "node_modules/.bin/deno"), "run", "--allow-net", "--allow-read", "--allow-env"]],
  ["bun", [join(root, "node_modules/.bin/bun"), "run"]],
];

for (const [name, [cmd, ...args]] of RUNTIMES) {
  describe(name, () => {
    for (const via of ["tcp", "tunnel"]) {
      it(`connects ${via === "tcp" ? "over its native TCP" : "through the tunnel (its WebSocket)"}, verifies, exchanges, closes both ways (0, then 1)`, async () => {
        const port = await revServer(files);
        const { stdout } = await run(cmd!, [...args, join(root, "test/runtimes/deno-bun-entry.mjs")], {
          cwd: root,
          timeout: 60_000,
          env: { ...process.env, SMOKE_PORT: String(port), SMOKE_CA: files.cert, SMOKE_SERVERNAME: SERVER_NAME,
            SMOKE_VIA: via, SMOKE_TUNNEL: tunnel.url, NO_COLOR: "1" },
        });
        const result = JSON.parse(stdout.trim().split("\n").pop()!);
        expect(result.runtime).toBe(name);
        expectSmoke(result);
      });
    }
  });
}

/** Every .js file under dir (relative to root), for workerd's module list. */
function jsFiles(dir: string): string[] {
  return readdirSync(join(root, dir)).flatMap((f) => {
    const rel = `${dir}/${f}`;
    if (statSync(join(root, rel)).isDirectory()) return rel.endsWith("/tunnel") ? [] : jsFiles(rel); // the tunnel is Node-only
    return f.endsWith(".js") ? [rel] : [];
  });
}

describe("workerd", () => {
  it("connects with connect() (cloudflare:sockets) and a WebAssembly.Module imported by the worker; verifies, exchanges, closes both ways", async () => {
    const port = await revServer(files);
    const http = await freePort();
    const str = (s: string) => JSON.stringify(s);
    // embed paths are relative to the config file, which therefore lives in the repository (git-ignored)
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
    ${module("test/runtimes/workerd-worker.mjs")},
    ${module("test/runtimes/smoke.mjs")},
    ${[...jsFiles("bindings/dist"), "wasm/dist/openssl.mjs"].map((f) => module(f)).join(",\n    ")},
    ${module("wasm/dist/openssl.wasm", "wasm")},
  ],
  compatibilityDate = "2025-09-01",
  bindings = [
    (name = "SMOKE_PORT", text = ${str(String(port))}),
    (name = "SMOKE_CA", text = ${str(id.certPem)}),
    (name = "SMOKE_SERVERNAME", text = ${str(SERVER_NAME)}),
  ],
  globalOutbound = "net",
);
`;
    const configFile = join(root, `.workerd-smoke-${process.pid}.capnp`);
    writeFileSync(configFile, config);
    const server = await startPeer(join(root, "node_modules/.bin/workerd"), ["serve", configFile]);
    onTestFinished(() => rmSync(configFile, { force: true }));
    // wait for workerd to listen
    for (let i = 0; ; i++) {
      const ok = await new Promise<boolean>((r) => net.connect(http, "127.0.0.1").once("connect", function (this: net.Socket) { this.destroy(); r(true); }).once("error", () => r(false)));
      if (ok) break;
      if (i > 200 || server.proc.exitCode !== null) throw new Error(`workerd did not start: ${server.stderr()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const response = await fetch(`http://127.0.0.1:${http}/`);
    const body = await response.text();
    expect(response.status, body).toBe(200);
    const result = JSON.parse(body);
    expect(result.runtime).toBe("workerd");
    expectSmoke(result);
  });
});

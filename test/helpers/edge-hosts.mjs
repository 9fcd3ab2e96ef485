// The edge tunnel (bindings/dist/edge/) as it is deployed, for its tests
// (test/runtimes/edge-tunnel.test.ts) and the edge fuzz target
// (test/fuzz/edge.mjs): a Cloudflare Worker run by workerd
// (test/runtimes/cloudflare-worker.mjs), and a Deno server
// (test/runtimes/deno-server.mjs), each configured from its environment.
// Plain JavaScript (types in edge-hosts.d.mts), so `make fuzz` can use it.
import { spawn } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "../..");

async function freePort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, "127.0.0.1", r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

/** Starts `cmd`; resolves with the process and what it printed so far, once `ready` matches it (its first group, if any). */
function start(cmd, args, env, ready) {
  const child = spawn(cmd, args, { cwd: root, env: { ...process.env, ...env } });
  let out = "";
  const host = { child, output: () => out, match: "" };
  return new Promise((resolveHost, reject) => {
    const timer = setTimeout(() => reject(new Error(`${cmd} did not start:\n${out}`)), 30_000);
    const onData = (d) => {
      out += d;
      const m = ready.exec(out);
      if (m) {
        clearTimeout(timer);
        host.match = m[1] ?? "";
        resolveHost(host);
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} exited (${code}):\n${out}`));
    });
  });
}

/**
 * The Worker in workerd, with TUNNEL_ALLOW = `allow` and Wisp on.
 * @param {{ allow: string }} options
 * @returns {Promise<import("./edge-hosts.d.mts").EdgeHost>}
 */
export async function startWorkerd({ allow }) {
  const port = await freePort();
  const str = (s) => JSON.stringify(s);
  const module = (name) => `(name = ${str(name)}, esModule = embed ${str(name)})`;
  const files = ["test/runtimes/cloudflare-worker.mjs", ...["edge/index", "edge/config", "edge/relay", "edge/wisp", "edge/cloudflare", "edge/deno",
    "tunnel/close", "tunnel/destination", "tunnel/wisp-packets"].map((m) => `bindings/dist/${m}.js`)];
  const config = `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .worker), (name = "net", network = (allow = ["local", "private"])) ],
  sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "main") ],
);
const worker :Workerd.Worker = (
  modules = [ ${files.map(module).join(", ")} ],
  compatibilityDate = "2025-09-01",
  bindings = [ (name = "TUNNEL_ALLOW", text = ${str(allow)}), (name = "TUNNEL_WISP", text = "1") ],
  globalOutbound = "net",
);
`;
  // embed paths are relative to the config file, which therefore lives in the repository (git-ignored)
  const configFile = join(root, `.workerd-edge-${process.pid}-${port}.capnp`);
  writeFileSync(configFile, config);
  // workerd may print nothing when it starts: ready once /healthz answers
  const child = spawn(join(root, "node_modules/.bin/workerd"), ["serve", "--verbose", configFile], { cwd: root });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  const stop = () => {
    child.kill("SIGKILL");
    rmSync(configFile, { force: true });
  };
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return { url: `ws://127.0.0.1:${port}`, port, output: () => out, stop };
    } catch {
      // not yet
    }
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  stop();
  throw new Error(`workerd did not answer /healthz:\n${out}`);
}

/**
 * The Deno server with `env` (TUNNEL_ALLOW, TUNNEL_WISP, TUNNEL_ORIGINS, EDGE_LIMITS as JSON).
 * @param {Record<string, string>} env
 * @returns {Promise<import("./edge-hosts.d.mts").EdgeHost>}
 */
export async function startDeno(env) {
  const host = await start(join(root, "node_modules/.bin/deno"), ["run", "--allow-net", "--allow-env", "--allow-read", "test/runtimes/deno-server.mjs"],
    env, /listening (\d+)/);
  const port = Number(host.match);
  return { url: `ws://127.0.0.1:${port}`, port, output: host.output, stop: () => host.child.kill("SIGKILL") };
}

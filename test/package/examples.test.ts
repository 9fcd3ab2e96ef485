// examples/, run the way a user runs them: each example copied into a
// throwaway directory, the packed tarball installed there with `npm install`
// (its other dependencies from the configured registry; the tools at the
// versions of the root package-lock.json; deno, bun and workerd are the
// root's), then run against local servers with a CA made here: a Node `tls`
// line echo server for the clients (Node, Deno, Bun, workerd, and the Vite
// app in headless Chromium through the tunnel), and a Node `tls` client for
// the Node server example, and TlsSockets from Node through the edge tunnel
// example (the Worker in workerd, the Deno server) over a wsproxy path and
// over Wisp. Each completes a round trip and a clean two-way close
// (SSL_shutdown 0, then 1; ending "clean").
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { copyFileSync, cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import type { Server } from "node:http";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tls from "node:tls";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { TlsSocket, connectWebSocket, connectWisp, type Transport } from "../../bindings/src/index.js";
import { createTunnel, type Tunnel, type TunnelEvent } from "../../bindings/src/tunnel/tunnel.js";
import { launch, type Browser } from "../helpers/browsers.mjs";
import { SERVER_NAME, identity } from "../helpers/harness.js";
import { freePort } from "../helpers/peers.js";
import { serveDirectory } from "../helpers/static-server.mjs";
import { npmEnv, pack, root } from "./pack.js";

/** In the order their tests run (and their installs start). */
const EXAMPLES = ["node-client", "deno", "bun", "workerd", "edge-tunnel", "browser-vite", "node-server"];
const bin = (name: string) => join(root, "node_modules/.bin", name);
const rootLock = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8"));
const lockVersion = (name: string): string => rootLock.packages[`node_modules/${name}`].version;
const version: string = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version;

/**
 * What changes in an example's package.json before it is installed: its
 * tools at the versions the repository itself tests with, and no second copy
 * of a runtime the root already has.
 */
const ADJUST: Record<string, (pkg: { devDependencies: Record<string, string> }) => void> = {
  "browser-vite": (pkg) => void (pkg.devDependencies.vite = lockVersion("vite")),
  workerd: (pkg) => {
    pkg.devDependencies.rolldown = lockVersion("rolldown");
    delete pkg.devDependencies.workerd; // node_modules/.bin/workerd of the repository
  },
  "edge-tunnel": (pkg) => ADJUST.workerd!(pkg),
};

const run = promisify(execFile);
const scratch = mkdtempSync(join(tmpdir(), "openssl-tls-wasm-examples-"));
const id = identity(); // self-signed for SERVER_NAME: the CA of every example
const caFile = join(scratch, "ca.pem");
const keyFile = join(scratch, "key.pem");
writeFileSync(caFile, id.certPem);
writeFileSync(keyFile, id.keyPem);

// ---- child processes: every one is killed when its test ends

const children = new Set<ChildProcess>();
afterEach(() => {
  for (const c of children) c.kill("SIGKILL");
  children.clear();
});
/** Processes a suite's beforeAll started: killed after the suite (and at the latest after the file). */
const suiteChildren = new Set<ChildProcess>();
afterAll(() => {
  for (const c of suiteChildren) c.kill("SIGKILL");
});

interface Running {
  proc: ChildProcess;
  output(): string;
  exited: Promise<number | string>;
}

function start(cmd: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; forSuite?: boolean }): Running {
  const { forSuite, ...spawnOptions } = options;
  const proc = spawn(cmd, args, { ...spawnOptions, stdio: ["ignore", "pipe", "pipe"] });
  const set = forSuite ? suiteChildren : children;
  set.add(proc);
  let out = "";
  proc.stdout!.on("data", (d) => (out += d));
  proc.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<number | string>((resolve) => proc.on("exit", (code, signal) => {
    set.delete(proc);
    resolve(code ?? signal ?? -1);
  }));
  return { proc, output: () => out, exited };
}

/** Polls `fn` until it returns something truthy; `detail` (e.g. a log) goes into the timeout's message. */
async function until<T>(fn: () => T | Promise<T>, what: string, detail?: () => string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${detail ? `:\n${detail()}` : ""}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

// ---- the package, installed once per example (three installs at a time)

let tarball: string;
const installs = new Map<string, Promise<string>>();

async function install(name: string): Promise<string> {
  const dir = join(scratch, name);
  const source = join(root, "examples", name);
  // what running it in place may have left there stays there
  cpSync(source, dir, {
    recursive: true, filter: (src) => !/^\/(node_modules|dist)(\/|$)|^\/package-lock\.json$|\.pem$/.test(src.slice(source.length)),
  });
  const pkgFile = join(dir, "package.json");
  const pkg = JSON.parse(readFileSync(pkgFile, "utf8"));
  ADJUST[name]?.(pkg);
  writeFileSync(pkgFile, JSON.stringify(pkg, null, 2));
  await run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error", tarball], {
    cwd: dir, env: npmEnv(), timeout: 240_000, killSignal: "SIGKILL",
  });
  const installed = JSON.parse(readFileSync(join(dir, "node_modules/openssl-tls-wasm/package.json"), "utf8"));
  if (installed.version !== version) throw new Error(`${name}: installed openssl-tls-wasm ${installed.version}, packed ${version}`);
  return dir;
}

function installed(name: string): Promise<string> {
  const p = installs.get(name);
  if (!p) throw new Error(`no install for ${name}`);
  return p;
}

// ---- the server the clients talk to: Node's tls, echoing every byte

interface EchoConnection {
  received: string;
  ended: boolean;
}
let echo: { port: number; server: tls.Server; connections: EchoConnection[] };

async function startEcho(): Promise<typeof echo> {
  const connections: EchoConnection[] = [];
  const server = tls.createServer({ cert: id.certPem, key: id.keyPem }, (socket) => {
    const c: EchoConnection = { received: "", ended: false };
    connections.push(c);
    socket.on("data", (d) => (c.received += d));
    socket.on("end", () => (c.ended = true)); // the client's close_notify (Node then sends its own: pipe ends)
    socket.on("error", () => {});
    socket.pipe(socket);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { port: (server.address() as net.AddressInfo).port, server, connections };
}

beforeAll(async () => {
  echo = await startEcho();
  tarball = (await pack(scratch)).file;
  let slots = 3;
  const waiting: (() => void)[] = [];
  for (const name of EXAMPLES) {
    const p = (async () => {
      if (slots === 0) await new Promise<void>((r) => waiting.push(r));
      slots--;
      try {
        return await install(name);
      } finally {
        slots++;
        waiting.shift()?.();
      }
    })();
    p.catch(() => {}); // awaited (and reported) by the example's tests
    installs.set(name, p);
  }
}, 120_000);

afterAll(async () => {
  await Promise.allSettled(installs.values());
  echo?.server.close();
  rmSync(scratch, { recursive: true, force: true });
});

// ---- what every client prints

/** "connected TLSv1.3 TLS_...\nsent ...\nreceived ...\nshutdown ...\nending clean" as an object. */
function parseReport(text: string): Record<string, string> {
  return Object.fromEntries(text.trim().split("\n").map((line) => {
    const m = /^(\w+)\s+(.*)$/.exec(line);
    return m ? [m[1], m[2]] : [line, ""];
  }));
}

/** A round trip to the echo server and a clean two-way close, as the client reported it and the server saw it. */
function expectCleanExchange(text: string, message: string, connectionsBefore: number): void {
  const report = parseReport(text);
  expect(report, text).toMatchObject({ sent: message, received: message, shutdown: "SSL_shutdown 0, then 1", ending: "clean" });
  expect(report.connected, text).toMatch(/^TLSv1\.3 TLS_[A-Z0-9_]+$/);
  expect(echo.connections.length).toBe(connectionsBefore + 1);
  expect(echo.connections.at(-1)).toEqual({ received: `${message}\n`, ended: true });
}

const clientArgs = () => [`127.0.0.1:${echo.port}`, "--ca", caFile, "--servername", SERVER_NAME];

describe("examples/", () => {
  it("every example is tested here, and each is a tiny project of its own depending on openssl-tls-wasm", () => {
    expect(readdirSync(join(root, "examples"), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort())
      .toEqual([...EXAMPLES].sort());
    for (const name of EXAMPLES) {
      const pkg = JSON.parse(readFileSync(join(root, "examples", name, "package.json"), "utf8"));
      expect(pkg, name).toMatchObject({ private: true, type: "module", dependencies: { "openssl-tls-wasm": `^${version}` } });
      expect(readFileSync(join(root, "examples", name, "README.md"), "utf8"), name).toMatch(/```sh\nnpm install/);
    }
  });
});

describe("node-client", () => {
  it("connectTcp + TlsSocket.connect: a line each way, SSL_shutdown 0 then 1, ending clean", async () => {
    const dir = await installed("node-client");
    const before = echo.connections.length;
    const { stdout } = await run(process.execPath, ["client.js", ...clientArgs()], { cwd: dir, timeout: 30_000, killSignal: "SIGKILL" });
    expectCleanExchange(stdout, "hello from node", before);
  });
});

describe("deno", () => {
  it("connectDeno (Deno.connect): a line each way, SSL_shutdown 0 then 1, ending clean", async () => {
    const dir = await installed("deno");
    const before = echo.connections.length;
    const { stdout } = await run(bin("deno"), ["run", "--allow-net", "--allow-read", "client.js", ...clientArgs()], {
      cwd: dir, timeout: 60_000, killSignal: "SIGKILL", env: { ...process.env, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    });
    expectCleanExchange(stdout, "hello from deno", before);
  });
});

describe("bun", () => {
  it("connectBun (Bun.connect): a line each way, SSL_shutdown 0 then 1, ending clean", async () => {
    const dir = await installed("bun");
    const before = echo.connections.length;
    const { stdout } = await run(bin("bun"), ["client.js", ...clientArgs()], {
      cwd: dir, timeout: 60_000, killSignal: "SIGKILL", env: { ...process.env, NO_COLOR: "1" },
    });
    expectCleanExchange(stdout, "hello from bun", before);
  });
});

describe("workerd", () => {
  it("bundled by rolldown, served by workerd: connectCloudflare + the wasm as a module; a line each way, ending clean", async () => {
    const dir = await installed("workerd");
    const build = await run("npm", ["run", "--silent", "build"], { cwd: dir, env: npmEnv({ NO_COLOR: "1" }), timeout: 60_000, killSignal: "SIGKILL" });
    expect(build.stdout + build.stderr, "rolldown resolves everything it bundles").not.toMatch(/UNRESOLVED_IMPORT|warn/i);
    copyFileSync(caFile, join(dir, "ca.pem"));
    const http = await freePort();
    const server = start(bin("workerd"), ["serve", "config.capnp", "--socket-addr", `http=127.0.0.1:${http}`], {
      cwd: dir, env: { ...process.env, TLS_SERVER: `127.0.0.1:${echo.port}`, TLS_SERVERNAME: SERVER_NAME },
    });
    await until(async () => {
      if (server.proc.exitCode !== null) throw new Error(`workerd exited: ${server.output()}`);
      return new Promise<boolean>((r) => net.connect(http, "127.0.0.1").once("connect", function (this: net.Socket) {
        this.destroy();
        r(true);
      }).once("error", () => r(false)));
    }, "workerd to listen", server.output);
    const before = echo.connections.length;
    const response = await fetch(`http://127.0.0.1:${http}/`, { signal: AbortSignal.timeout(30_000) });
    const body = await response.text();
    expect(response.status, body + server.output()).toBe(200);
    expectCleanExchange(body, "hello from workerd", before);
  });
});

describe("edge-tunnel", () => {
  /** A TlsSocket over `transport` to the echo server: a line each way, then the two-way close, in the clients' report format. */
  async function exchange(transport: Transport, message: string): Promise<string> {
    const socket = await TlsSocket.connect(transport, { ca: id.certPem, servername: SERVER_NAME });
    const lines = [`connected ${socket.info.protocol} ${socket.info.cipher}`];
    const w = socket.writable.getWriter();
    await w.write(new TextEncoder().encode(`${message}\n`));
    w.releaseLock();
    lines.push(`sent      ${message}`);
    const r = socket.readable.getReader();
    let reply = "";
    while (!reply.includes("\n")) {
      const { value, done } = await r.read();
      if (done) break;
      reply += new TextDecoder().decode(value);
    }
    r.releaseLock();
    lines.push(`received  ${reply.trimEnd()}`);
    const report = await socket.shutdown({ mode: "bidirectional" });
    lines.push(`shutdown  SSL_shutdown ${report.steps.filter((s) => s.call === "SSL_shutdown").map((s) => s.ret).join(", then ")}`);
    lines.push(`ending    ${(await socket.closed).ending}`);
    return lines.join("\n");
  }

  /** Through the tunnel at `url`: a wsproxy path, then a Wisp stream. */
  async function throughTunnel(url: string, where: string, output: () => string): Promise<void> {
    const options = { WebSocket: WebSocket as never, timeout: 10_000 };
    let before = echo.connections.length;
    expectCleanExchange(await exchange(await connectWebSocket(`${url}/127.0.0.1:${echo.port}`, options), `wsproxy via ${where}`), `wsproxy via ${where}`, before);
    const wisp = await connectWisp(`${url}/`, options);
    before = echo.connections.length;
    expectCleanExchange(await exchange(await wisp.connect({ host: "127.0.0.1", port: echo.port }), `wisp via ${where}`), `wisp via ${where}`, before);
    wisp.close();
    // never an open proxy: a destination not in TUNNEL_ALLOW
    const refused = await connectWebSocket(`${url}/127.0.0.1:1`, options)
      .then((t) => t.readable.getReader().read().then(() => null, (e: unknown) => e), (e: unknown) => e);
    expect(refused, output()).toMatchObject({ name: "WebSocketClosedError", code: 1008 });
  }

  it("the Worker, bundled by rolldown and served by workerd: a TlsSocket through it over a wsproxy path and over Wisp, ending clean", async () => {
    const dir = await installed("edge-tunnel");
    const build = await run("npm", ["run", "--silent", "build"], { cwd: dir, env: npmEnv({ NO_COLOR: "1" }), timeout: 60_000, killSignal: "SIGKILL" });
    expect(build.stdout + build.stderr, "rolldown resolves everything it bundles").not.toMatch(/UNRESOLVED_IMPORT|warn/i);
    const http = await freePort();
    const server = start(bin("workerd"), ["serve", "config.capnp", "--socket-addr", `http=127.0.0.1:${http}`], {
      cwd: dir, env: { ...process.env, TUNNEL_ALLOW: `127.0.0.1:${echo.port}` },
    });
    await until(async () => {
      if (server.proc.exitCode !== null) throw new Error(`workerd exited: ${server.output()}`);
      return fetch(`http://127.0.0.1:${http}/healthz`).then((r) => r.ok, () => false);
    }, "workerd to listen", server.output);
    await throughTunnel(`ws://127.0.0.1:${http}`, "workerd", server.output);
  });

  it("the Deno server: the same, ending clean", async () => {
    const dir = await installed("edge-tunnel");
    const server = start(bin("deno"), ["run", "--allow-net", "--allow-env", "--allow-read", "deno-server.js"], {
      cwd: dir, env: { ...process.env, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1", TUNNEL_ALLOW: `127.0.0.1:${echo.port}`, TUNNEL_WISP: "1", PORT: "0" },
    });
    const port = await until(() => {
      if (server.proc.exitCode !== null) throw new Error(`deno exited: ${server.output()}`);
      return /listening on ws:\/\/127\.0\.0\.1:(\d+)/.exec(server.output())?.[1];
    }, "the Deno tunnel to listen", server.output, 60_000);
    await throughTunnel(`ws://127.0.0.1:${port}`, "deno", server.output);
  });
});

describe("browser-vite", () => {
  let site: { url: string; server: Server } | undefined;
  let tunnel: Tunnel | undefined;
  let browser: Browser | undefined;
  afterAll(async () => {
    await browser?.close();
    await tunnel?.close();
    site?.server.close();
  });

  it("built by vite: the page connects through the tunnel (connectWebSocket) in Chromium; a line each way, ending clean", async () => {
    const dir = await installed("browser-vite");
    const build = await run("npm", ["run", "--silent", "build"], { cwd: dir, env: npmEnv({ NO_COLOR: "1" }), timeout: 60_000, killSignal: "SIGKILL" });
    // nothing Node-only for Vite to externalize (no node:fs import, no Emscripten Node runtime), no warning at all
    expect(build.stdout + build.stderr, "vite build output").not.toMatch(/externalized|warn/i);
    // the wasm and the root store as assets; no second copy of the loader, no declarations
    const assets = readdirSync(join(dir, "dist/assets"));
    expect(assets.filter((f) => f.endsWith(".wasm")), assets.join(" ")).toHaveLength(1);
    expect(assets.filter((f) => /\.(mjs|d\.mts|ts)$/.test(f)), assets.join(" ")).toEqual([]);

    site = await serveDirectory(join(dir, "dist"));
    const events: TunnelEvent[] = [];
    // the tunnel reaches the echo server only, and serves this page's origin only
    tunnel = await createTunnel({ allow: [`127.0.0.1:${echo.port}`], origins: [site.url], onEvent: (e) => events.push(e) });
    browser = await launch("chromium");
    const page = await browser.newPage();
    const query = new URLSearchParams({ tunnel: tunnel.url, server: `127.0.0.1:${echo.port}`, servername: SERVER_NAME });
    await page.goto(`${site.url}/index.html?${query}`);
    const before = echo.connections.length;
    await page.evaluate((ca) => {
      (document.querySelector("textarea[name=ca]") as HTMLTextAreaElement).value = ca;
      (document.querySelector("#connect") as HTMLFormElement).requestSubmit();
    }, id.certPem);
    const result = (await page.waitFor(() => {
      const el = document.querySelector("#result") as HTMLElement;
      return el.dataset.state === "done" || el.dataset.state === "error" ? { state: el.dataset.state, text: el.textContent ?? "" } : null;
    }, undefined, { timeout: 30_000 }))!;
    expect(result.state, result.text).toBe("done");
    expectCleanExchange(result.text, "hello from the browser", before);
    await until(() => events.some((e) => e.event === "closed"), "the tunnel to close");
    expect(events.find((e) => e.event === "closed")).toMatchObject({ target: `127.0.0.1:${echo.port}`, code: 1000 });
  });
});

describe("node-server", () => {
  let server: Running;
  let port: number;
  const log = () => server.output();

  beforeAll(async () => {
    const dir = await installed("node-server");
    server = start(process.execPath, ["server.js", "--cert", caFile, "--key", keyFile, "--listen", "127.0.0.1:0",
      "--handshake-timeout", "1", "--max-connections", "2"], { cwd: dir, forSuite: true });
    await until(() => log().includes("listening on") || server.proc.exitCode !== null, "the server to listen", log);
    const m = /listening on 127\.0\.0\.1:(\d+)/.exec(log());
    if (!m) throw new Error(`the server did not start: ${log()}`);
    port = Number(m[1]);
  }, 240_000);
  afterAll(() => server?.proc.kill("SIGKILL"));

  /** A Node tls client of the server, after its handshake. */
  async function client(): Promise<{ socket: tls.TLSSocket; name: string; received(): string; ended: Promise<unknown> }> {
    const socket = tls.connect({ host: "127.0.0.1", port, servername: SERVER_NAME, ca: id.certPem });
    await once(socket, "secureConnect");
    let data = "";
    socket.on("data", (d) => (data += d));
    // how the server's log names it (a closed socket no longer knows its port)
    return { socket, name: `127.0.0.1:${socket.localPort}`, received: () => data, ended: once(socket, "end") };
  }

  it("echoes lines to a Node tls client; the client closes, the server answers: ending clean", async () => {
    const c = await client();
    c.socket.write("first li");
    c.socket.write("ne\nsecond line\nno newline yet");
    await until(() => c.received() === "first line\nsecond line\n", "the echo", log);
    c.socket.end("\n"); // the rest of the line, then close_notify and FIN
    await c.ended; // the server's close_notify
    await until(() => log().includes(`${c.name} closed clean`), "the server's log of a clean close", log);
    expect(c.received()).toBe("first line\nsecond line\nno newline yet\n");
    expect(log()).toContain(`${c.name} connected TLSv1.3 TLS_`);
  });

  it("enforces its limits: beyond --max-connections a connection is dropped at once; a silent one after --handshake-timeout", async () => {
    const opened = Date.now();
    const silent = await Promise.all([0, 1].map(async () => {
      const s = net.connect(port, "127.0.0.1");
      await once(s, "connect");
      return { socket: s, closed: once(s, "close").then(() => Date.now() - opened) };
    }));
    await new Promise((r) => setTimeout(r, 250)); // both accepted by the server: 2 of --max-connections 2
    const third = net.connect(port, "127.0.0.1");
    third.on("error", () => {});
    const t0 = Date.now();
    await once(third, "close");
    expect(Date.now() - t0, "dropped at once, not by the handshake timeout").toBeLessThan(900);
    for (const s of silent) {
      const ms = await s.closed;
      expect(ms).toBeGreaterThanOrEqual(900);
      expect(ms).toBeLessThan(5000);
    }
    await until(() => (log().match(/handshake failed: TlsTimeoutError/g)?.length ?? 0) >= 2, "two handshake timeouts in the log", log);
  });

  it("on SIGTERM: a close_notify to each live client, their answers, a clean ending, exit 0", async () => {
    const c = await client();
    c.socket.write("still here\n");
    await until(() => c.received() === "still here\n", "the echo", log);
    server.proc.kill("SIGTERM");
    await c.ended; // the server's close_notify; Node's client answers with its own and closes
    expect(await server.exited).toBe(0);
    expect(log()).toMatch(/SIGTERM: closing 1 connection\(s\)/);
    expect(log()).toContain(`${c.name} closed clean`);
    expect(log().trimEnd().split("\n").at(-1)).toBe("stopped");
  });
});

// The tunnel on the edge (bindings/src/edge/): the same wsproxy tunnel as a
// Cloudflare Worker run by workerd, and as a Deno server, each configured
// from the environment (TUNNEL_ALLOW) as deployed. Through each: a TlsSocket
// to a local Node tls echo server with a clean two-way close, and each
// refusal with its close code: a destination not allowed (1008), a
// malformed path (1008), a text message (1003), a message over
// maxFrameBytes (1009); /healthz; a plain request (426).
import { spawn, type ChildProcess } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import * as tls from "node:tls";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { TlsSocket, WebSocketClosedError, connectWebSocket } from "../../bindings/src/index.js";
import { SERVER_NAME, identity } from "../helpers/harness.js";
import { freePort } from "../helpers/peers.js";

const root = resolve(import.meta.dirname, "../..");
const id = identity();
let echo: tls.Server;
let echoPort = 0;
const children: ChildProcess[] = [];
/** Everything each started program printed so far, by its first argument. */
const printed = new Map<string, () => string>();

beforeAll(async () => {
  echo = tls.createServer({ cert: id.certPem, key: id.keyPem }, (s) => {
    s.on("error", () => {});
    s.pipe(s);
  });
  await new Promise<void>((r) => echo.listen(0, "127.0.0.1", r));
  echoPort = (echo.address() as { port: number }).port;
});
afterAll(() => {
  for (const c of children) c.kill("SIGKILL");
  echo?.close();
});

/** Starts `cmd` and resolves once `ready` matches its output; the match's first group, if any. */
async function start(cmd: string, args: string[], env: Record<string, string>, ready: RegExp): Promise<string> {
  const child = spawn(cmd, args, { cwd: root, env: { ...process.env, ...env } });
  children.push(child);
  let out = "";
  printed.set(args.at(-1)!, () => out);
  return new Promise((resolvePort, reject) => {
    const timer = setTimeout(() => reject(new Error(`${cmd} did not start:\n${out}`)), 30_000);
    const onData = (d: Buffer) => {
      out += d;
      const m = ready.exec(out);
      if (m) {
        clearTimeout(timer);
        resolvePort(m[1] ?? "");
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.on("exit", (code) => reject(new Error(`${cmd} exited (${code}):\n${out}`)));
  });
}

async function workerdTunnel(): Promise<string> {
  const http = await freePort();
  const str = (s: string) => JSON.stringify(s);
  const module = (name: string) => `(name = ${str(name)}, esModule = embed ${str(name)})`;
  const files = ["test/runtimes/cloudflare-worker.mjs", "bindings/dist/edge/index.js", "bindings/dist/edge/relay.js",
    "bindings/dist/edge/cloudflare.js", "bindings/dist/edge/deno.js", "bindings/dist/tunnel/close.js", "bindings/dist/tunnel/destination.js"];
  const config = `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .worker), (name = "net", network = (allow = ["local", "private"])) ],
  sockets = [ (name = "http", address = "127.0.0.1:${http}", http = (), service = "main") ],
);
const worker :Workerd.Worker = (
  modules = [ ${files.map(module).join(", ")} ],
  compatibilityDate = "2025-09-01",
  bindings = [ (name = "TUNNEL_ALLOW", text = ${str(`127.0.0.1:${echoPort}`)}) ],
  globalOutbound = "net",
);
`;
  // embed paths are relative to the config file, which therefore lives in the repository (git-ignored)
  const configFile = join(root, `.workerd-edge-${process.pid}.capnp`);
  writeFileSync(configFile, config);
  afterAll(() => rmSync(configFile, { force: true }));
  await start(join(root, "node_modules/.bin/workerd"), ["serve", "--verbose", configFile], {}, /Listening on|listening|serving/i).catch(async () => {
    // workerd may print nothing when it starts: fall back to polling /healthz
  });
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${http}/healthz`)).ok) return `ws://127.0.0.1:${http}`;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("workerd did not answer /healthz");
}

async function denoTunnel(): Promise<string> {
  const port = await start(join(root, "node_modules/.bin/deno"), ["run", "--allow-net", "--allow-env", "--allow-read", "test/runtimes/deno-server.mjs"],
    { TUNNEL_ALLOW: `127.0.0.1:${echoPort}` }, /listening (\d+)/);
  return `ws://127.0.0.1:${port}`;
}

/** The close a raw WebSocket gets after sending `message` (or nothing) to `path`. */
async function closeOf(url: string, message?: string | Uint8Array): Promise<{ code: number; reason: string }> {
  const ws = new WebSocket(url);
  ws.on("error", () => {});
  if (message !== undefined) ws.on("open", () => ws.send(message));
  return new Promise((r) => ws.on("close", (code, reason) => r({ code, reason: reason.toString() })));
}

describe.each([["workerd (Cloudflare Worker)", workerdTunnel], ["Deno", denoTunnel]] as const)("the edge tunnel in %s", (_name, startTunnel) => {
  let url = "";
  beforeAll(async () => {
    url = await startTunnel();
  }, 60_000);

  it("relays a TlsSocket to an allowed server: echo, then a clean two-way close", async () => {
    const transport = await connectWebSocket(`${url}/127.0.0.1:${echoPort}`, { WebSocket: WebSocket as never });
    const socket = await TlsSocket.connect(transport, { ca: id.certPem, servername: SERVER_NAME });
    const w = socket.writable.getWriter();
    const big = new Uint8Array(300_000).map((_, i) => i & 0xff); // several frames each way, over maxFrameBytes in total
    await w.write(big);
    w.releaseLock();
    const r = socket.readable.getReader();
    let got = 0;
    while (got < big.length) got += (await r.read()).value!.length;
    r.releaseLock();
    expect(got).toBe(big.length);
    const report = await socket.shutdown({ mode: "bidirectional" });
    expect(report.ending).toBe("clean");
  });

  it("refuses what it must, with the Node tunnel's close codes", async () => {
    expect(await closeOf(`${url}/127.0.0.1:1`)).toEqual({ code: 1008, reason: "destination not allowed: 127.0.0.1:1" });
    expect(await closeOf(`${url}/not-a-destination`)).toMatchObject({ code: 1008, reason: expect.stringMatching(/malformed destination/) });
    expect(await closeOf(`${url}/127.0.0.1:${echoPort}`, "text")).toMatchObject({ code: 1003 });
    expect(await closeOf(`${url}/127.0.0.1:${echoPort}`, new Uint8Array(65537))).toMatchObject({ code: 1009 });
    const refused = await connectWebSocket(`${url}/10.0.0.1:443`, { WebSocket: WebSocket as never }).then(async (t) => {
      const reader = t.readable.getReader();
      return reader.read().then(() => null, (e: unknown) => e);
    }, (e: unknown) => e);
    expect(refused).toBeInstanceOf(WebSocketClosedError);
    expect((refused as WebSocketClosedError).code).toBe(1008);
  });

  it("answers /healthz and plain requests", async () => {
    const http = url.replace(/^ws/, "http");
    const health = await fetch(`${http}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ ok: true });
    expect((await fetch(`${http}/`)).status).toBe(426);
  });
});

describe("the edge tunnel's limits (Deno)", () => {
  let url = "";
  let sink: net.Server;
  let sinkPort = 0;
  beforeAll(async () => {
    // A TCP server that accepts and never reads: bytes for it pile up.
    sink = net.createServer((s) => {
      s.on("error", () => {});
      s.pause();
    });
    await new Promise<void>((r) => sink.listen(0, "127.0.0.1", r));
    sinkPort = (sink.address() as net.AddressInfo).port;
    const port = await start(join(root, "node_modules/.bin/deno"), ["run", "--allow-net", "--allow-env", "--allow-read", "test/runtimes/deno-server.mjs"], {
      TUNNEL_ALLOW: `127.0.0.1:${echoPort},127.0.0.1:${sinkPort}`,
      TUNNEL_ORIGINS: "http://allowed.test",
      EDGE_LIMITS: JSON.stringify({ maxConnections: 1, idleTimeoutMs: 400, maxBufferedBytes: 256 * 1024 }),
    }, /listening (\d+)/);
    url = `ws://127.0.0.1:${port}`;
  }, 60_000);
  afterAll(() => sink?.close());

  const open = (path: string, origin = "http://allowed.test") => {
    const ws = new WebSocket(`${url}${path}`, { origin });
    ws.on("error", () => {});
    return ws;
  };
  const closed = (ws: WebSocket) => new Promise<{ code: number; reason: string }>((r) => ws.on("close", (code, reason) => r({ code, reason: reason.toString() })));

  it("refuses an Origin not listed (1008)", async () => {
    expect(await closed(open(`/127.0.0.1:${echoPort}`, "http://evil.test"))).toEqual({ code: 1008, reason: "origin not allowed: http://evil.test" });
  });

  it("closes a tunnel idle for idleTimeoutMs with 1001", async () => {
    const ws = open(`/127.0.0.1:${echoPort}`);
    const started = Date.now();
    expect(await closed(ws)).toEqual({ code: 1001, reason: "idle timeout" });
    expect(Date.now() - started).toBeGreaterThanOrEqual(350);
  });

  it("refuses a connection beyond maxConnections with 1013, and takes one again once the first ends", async () => {
    const first = open(`/127.0.0.1:${echoPort}`);
    await new Promise((r) => first.on("open", r));
    await new Promise((r) => setTimeout(r, 100));
    expect(await closed(open(`/127.0.0.1:${echoPort}`))).toEqual({ code: 1013, reason: "too many connections" });
    first.close(1000);
    await closed(first);
    await new Promise((r) => setTimeout(r, 100));
    const again = open(`/127.0.0.1:${echoPort}`);
    await new Promise((r) => again.on("open", r));
    again.close(1000);
    expect((await closed(again)).code).toBe(1000);
  });

  it("closes with 4003 when more than maxBufferedBytes wait for a TCP peer that does not read", async () => {
    const ws = open(`/127.0.0.1:${sinkPort}`);
    await new Promise((r) => ws.on("open", r));
    const chunk = new Uint8Array(60_000);
    const ending = closed(ws);
    for (let i = 0; i < 400 && ws.readyState === WebSocket.OPEN; i++) {
      ws.send(chunk);
      if (i % 20 === 19) await new Promise((r) => setTimeout(r, 5));
    }
    // The tunnel closes with 4003. The client may see 1006 instead: closing a TCP connection with
    // unread bytes in its receive buffer resets it, and the close frame is lost with them.
    expect([4003, 1006]).toContain((await ending).code);
    await new Promise((r) => setTimeout(r, 100));
    expect(printed.get("test/runtimes/deno-server.mjs")!()).toMatch(new RegExp(`closed 127\\.0\\.0\\.1:${sinkPort}: 4003 too much data waiting`));
  });
});

describe("the edge tunnel's configuration", () => {
  it("takes exact and *.domain rules, refuses public: rules, an empty allowlist and bad limits", async () => {
    const { edgeConfig } = await import("../../bindings/src/edge/relay.js");
    const config = edgeConfig({ allow: ["example.org:443", "*.example.net:*"] });
    expect(config.rules.map((r) => r.kind)).toEqual(["host", "subdomains"]);
    expect(() => edgeConfig({ allow: ["public:443"] })).toThrow(/public:PORT rules need every resolved address checked/);
    expect(() => edgeConfig({ allow: [] })).toThrow(/never an open proxy/);
    expect(() => edgeConfig({ allow: ["example.org:443"], maxConnections: 0 })).toThrow(RangeError);
    expect(() => edgeConfig({ allow: ["example.org:443"], idleTimeoutMs: 1.5 })).toThrow(RangeError);
    expect(() => edgeConfig({ allow: ["not a rule"] })).toThrow(TypeError);
  });
});

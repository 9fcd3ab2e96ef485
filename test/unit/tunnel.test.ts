// The WebSocket-to-TCP tunnel: its refusals and limits, byte-exact relaying
// with ordered endings, TLS through it (TlsSocket over a WebSocket to Node's
// tls server), and the hardening of issue 9: hostile input never crashes it,
// every limit holds (before and after the upgrade, per client address,
// buffers, bandwidth), graceful shutdown, /healthz, events, the CLI's flags.
import { once } from "node:events";
import * as net from "node:net";
import * as tls from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import {
  OpenSSL, TlsSocket, TlsTruncationError, WebSocketClosedError, connectWebSocket,
} from "../../bindings/src/index.js";
import { createTunnel, parseDestination, type Tunnel } from "../../bindings/src/tunnel/tunnel.js";
import { SERVER_NAME, identity, str, text } from "../helpers/harness.js";
import { rawExchange, upgradeRequest } from "../helpers/raw-ws.js";

async function listen(server: net.Server): Promise<number> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return (server.address() as net.AddressInfo).port;
}

/** Opens a raw ws client; resolves with its messages and close code/reason once closed. */
function wsSession(url: string, send: (ws: WebSocket) => void = () => {}, headers?: Record<string, string>) {
  return new Promise<{ data: Buffer; code: number; reason: string }>((resolve) => {
    const ws = new WebSocket(url, { headers });
    const chunks: Buffer[] = [];
    ws.on("open", () => send(ws));
    ws.on("message", (d: Buffer) => chunks.push(d));
    ws.on("close", (code, reason) => resolve({ data: Buffer.concat(chunks), code, reason: reason.toString() }));
    ws.on("error", () => {});
  });
}

/** Polls until `condition` holds; false if it never did within `ms`. */
async function waitFor(condition: () => boolean, ms = 3000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 10))) {
    if (condition()) return true;
  }
  return condition();
}

/** A tunnel to the echo server still relays both ways (the tunnel survived whatever came before). */
async function expectEcho(t: Tunnel, options: { localAddress?: string; headers?: Record<string, string> } = {}): Promise<void> {
  const r = await new Promise<{ data: string; code: number }>((resolve) => {
    const ws = new WebSocket(`${t.url}/127.0.0.1:${echoPort}`, options);
    let data = "";
    ws.on("open", () => ws.send(Buffer.from("still alive")));
    ws.on("message", (d: Buffer) => {
      data += d.toString();
      if (data.length >= 11) ws.close(1000);
    });
    ws.on("close", (code) => resolve({ data, code }));
    ws.on("error", () => {});
  });
  expect(r).toEqual({ data: "still alive", code: 1000 });
}

const logs: string[] = [];
let tunnel: Tunnel;
let echoPort = 0;
let echo: net.Server;

beforeAll(async () => {
  // echoes, and closes (FIN) when the client does
  echo = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on("data", (d) => s.write(d));
    s.on("end", () => s.end());
    s.on("error", () => {});
  });
  echoPort = await listen(echo);
  tunnel = await createTunnel({ allow: [`127.0.0.1:${echoPort}`, "localhost:*"], log: (l) => logs.push(l), maxConnections: 4 });
});
afterAll(async () => {
  await tunnel.close();
  echo.close();
});

describe("destinations", () => {
  it("parses /<host>:<port>, IPv6 in brackets; rejects anything else", () => {
    expect(parseDestination("/example.org:443")).toEqual({ host: "example.org", port: 443 });
    expect(parseDestination("/[::1]:8443")).toEqual({ host: "::1", port: 8443 });
    for (const bad of ["/", "/example.org", "/example.org:0", "/example.org:70000", "/a b:1", "/%zz:1", "/user@host:1"]) {
      expect(parseDestination(bad), bad).toBeNull();
    }
  });

  it("refuses a destination that is not allowed: close 1008 with the reason, and a log line", async () => {
    const r = await wsSession(`${tunnel.url}/127.0.0.1:22`);
    expect(r.code).toBe(1008);
    expect(r.reason).toBe("destination not allowed: 127.0.0.1:22");
    expect(logs.some((l) => l.includes("refused (1008): destination not allowed: 127.0.0.1:22"))).toBe(true);
  });

  it("refuses a malformed path (1008)", async () => {
    const r = await wsSession(`${tunnel.url}/no-port-here`);
    expect(r.code).toBe(1008);
    expect(r.reason).toMatch(/malformed destination/);
  });

  it("reports a destination that cannot be reached (4002)", async () => {
    const closed = net.createServer();
    const port = await listen(closed);
    closed.close();
    await once(closed, "close");
    const t = await createTunnel({ allow: [`127.0.0.1:${port}`] });
    const r = await wsSession(`${t.url}/127.0.0.1:${port}`);
    expect(r.code).toBe(4002);
    expect(r.reason).toMatch(/ECONNREFUSED/);
    await t.close();
  });

  it("refuses by Origin when origins are configured", async () => {
    const t = await createTunnel({ allow: [`127.0.0.1:${echoPort}`], origins: ["http://good.test"] });
    expect((await wsSession(`${t.url}/127.0.0.1:${echoPort}`, undefined, { Origin: "http://evil.test" })).code).toBe(1008);
    const ok = await wsSession(`${t.url}/127.0.0.1:${echoPort}`, (ws) => { ws.send(Buffer.from("hi")); ws.close(1000); }, { Origin: "http://good.test" });
    expect(ok.code).toBe(1000);
    await t.close();
  });
});

describe("limits", () => {
  it("refuses beyond maxConnections (1013)", async () => {
    const t = await createTunnel({ allow: [`127.0.0.1:${echoPort}`], maxConnections: 1 });
    const first = new WebSocket(`${t.url}/127.0.0.1:${echoPort}`);
    await once(first, "open");
    await new Promise((r) => setTimeout(r, 50));
    const second = await wsSession(`${t.url}/127.0.0.1:${echoPort}`);
    expect(second.code).toBe(1013);
    first.close();
    await t.close();
  });

  it("closes an idle connection (1001)", async () => {
    const t = await createTunnel({ allow: [`127.0.0.1:${echoPort}`], idleTimeoutMs: 200 });
    const r = await wsSession(`${t.url}/127.0.0.1:${echoPort}`);
    expect(r).toMatchObject({ code: 1001, reason: "idle timeout" });
    await t.close();
  });

  it("refuses a frame larger than maxFrameBytes (1009)", async () => {
    const t = await createTunnel({ allow: [`127.0.0.1:${echoPort}`], maxFrameBytes: 1024 });
    const r = await wsSession(`${t.url}/127.0.0.1:${echoPort}`, (ws) => ws.send(Buffer.alloc(4096)));
    expect(r.code).toBe(1009);
    await t.close();
  });
});

describe("relaying", () => {
  it("WebSocket -> TCP: every byte arrives before the FIN that the normal WebSocket close causes", async () => {
    const payload = Buffer.alloc(300_000).map((_, i) => i % 251);
    const got: Buffer[] = [];
    const sink = net.createServer({ allowHalfOpen: true }, (s) => {
      s.on("data", (d) => got.push(d));
      s.on("end", () => s.end());
    });
    const port = await listen(sink);
    const ended = new Promise<void>((resolve) => sink.on("connection", (s) => s.on("end", resolve)));
    const t = await createTunnel({ allow: [`127.0.0.1:${port}`] });
    await wsSession(`${t.url}/127.0.0.1:${port}`, (ws) => {
      for (let at = 0; at < payload.length; at += 50_000) ws.send(payload.subarray(at, at + 50_000));
      ws.close(1000);
    });
    await ended;
    expect(Buffer.concat(got).equals(payload)).toBe(true);
    await t.close();
    sink.close();
  });

  it("TCP -> WebSocket: every byte arrives before the close 1000 that the peer's FIN causes", async () => {
    const payload = Buffer.alloc(300_000).map((_, i) => (i * 7) % 251);
    const source = net.createServer((s) => s.end(payload));
    const port = await listen(source);
    const t = await createTunnel({ allow: [`127.0.0.1:${port}`] });
    const r = await wsSession(`${t.url}/127.0.0.1:${port}`);
    expect(r.code).toBe(1000);
    expect(r.data.equals(payload)).toBe(true);
    await t.close();
    source.close();
  });

  it("relays an echo both ways", async () => {
    const r = await wsSession(`${tunnel.url}/127.0.0.1:${echoPort}`, (ws) => {
      ws.send(Buffer.from("echo me"));
      ws.once("message", () => ws.close(1000));
    });
    expect(r.data.toString()).toBe("echo me");
  });

  it("a TCP connection that dies without FIN is reported as close 4001, not as a normal end", async () => {
    const t = await createTunnel({ allow: [`127.0.0.1:${echoPort}`] });
    const r = await wsSession(`${t.url}/127.0.0.1:${echoPort}`, (ws) => {
      ws.send(Buffer.from("x"));
      ws.once("message", () => t.killAll());
    });
    expect(r.code).toBe(4001);
    expect(r.reason).toMatch(/killed/);
    await t.close();
  });
});

describe("backpressure", () => {
  it("a WebSocket client that stops reading stops the tunnel reading TCP: the TCP sender stalls, then everything arrives", async () => {
    const source = net.createServer();
    const sourcePort = await listen(source);
    const connected = once(source, "connection") as Promise<[net.Socket]>;
    const t = await createTunnel({ allow: [`127.0.0.1:${sourcePort}`] });
    const ws = new WebSocket(`${t.url}/127.0.0.1:${sourcePort}`);
    let received = 0;
    ws.on("message", (d: Buffer) => (received += d.length));
    await once(ws, "open");
    const [sender] = await connected;
    ws.pause(); // the client stops reading
    // Write until a drain no longer comes: kernel buffers and the tunnel's
    // 1 MiB high-water mark fill, then the tunnel stops reading TCP.
    const chunk = Buffer.alloc(1 << 20);
    let offered = 0;
    let stalled = false;
    while (!stalled && offered < 256 << 20) {
      offered += chunk.length;
      if (!sender.write(chunk)) {
        stalled = !(await Promise.race([once(sender, "drain").then(() => true), new Promise((r) => setTimeout(() => r(false), 500))]));
      }
    }
    expect(stalled).toBe(true); // nothing is reading: the tunnel paused TCP instead of buffering it all
    expect(offered).toBeLessThan(64 << 20);
    ws.resume();
    sender.end();
    await once(ws, "close");
    expect(received).toBe(offered);
    await t.close();
    source.close();
  });
});

describe("TLS through the tunnel", () => {
  const id = identity();
  let server: tls.Server;
  let port = 0;
  let t: Tunnel;
  let ossl: OpenSSL;
  beforeAll(async () => {
    ossl = await OpenSSL.load();
    server = tls.createServer({ cert: id.certPem, key: id.keyPem }, (s) => {
      s.pipe(s);
      s.on("error", () => {});
    });
    port = await listen(server);
    t = await createTunnel({ allow: [`127.0.0.1:${port}`] });
  });
  afterAll(async () => {
    await t.close();
    server.close();
  });

  it("TlsSocket over a WebSocket: echo and a clean bidirectional close", async () => {
    const transport = await connectWebSocket(`${t.url}/127.0.0.1:${port}`, { WebSocket: WebSocket as never });
    const socket = await TlsSocket.connect(transport, { openssl: ossl, ca: id.certPem, servername: SERVER_NAME });
    const w = socket.writable.getWriter();
    await w.write(text("through the tunnel"));
    w.releaseLock();
    const r = socket.readable.getReader();
    expect(str((await r.read()).value!)).toBe("through the tunnel");
    r.releaseLock();
    const report = await socket.shutdown({ mode: "bidirectional" });
    expect(report).toMatchObject({ ret: 1, ending: "clean" });
  });

  it("a killed TCP connection is truncation, with the WebSocket close as the cause", async () => {
    const transport = await connectWebSocket(`${t.url}/127.0.0.1:${port}`, { WebSocket: WebSocket as never });
    const socket = await TlsSocket.connect(transport, { openssl: ossl, ca: id.certPem, servername: SERVER_NAME });
    t.killAll();
    const reader = socket.readable.getReader();
    const e = await reader.read().catch((err: unknown) => err);
    expect(e).toBeInstanceOf(TlsTruncationError);
    expect((e as Error).cause).toBeInstanceOf(WebSocketClosedError);
    expect((await socket.closed).ending).toBe("truncated");
  });
});

describe("hostile input: regressions (issue 9)", () => {
  it("an Origin with non-ASCII bytes is refused (1008) with a reason of at most 123 UTF-8 bytes, and the tunnel lives on", async () => {
    const t = await createTunnel({ allow: [`127.0.0.1:${echoPort}`], origins: ["http://good.test"] });
    // Node reads header bytes as latin1: each UTF-8 "é" becomes two characters of two UTF-8 bytes each.
    const origin = Buffer.from(`http://${"é".repeat(100)}.test`);
    const r = await rawExchange(t.port, [upgradeRequest(`/127.0.0.1:${echoPort}`, { Origin: origin })]);
    expect(r.status).toBe(101);
    expect(r.close?.code).toBe(1008);
    expect(r.close!.reason.length).toBeLessThanOrEqual(123);
    expect(r.close!.reason.toString()).toMatch(/^origin not allowed: "http:\/\/Ã©Ã©.*…$/);
    await expectEcho(t, { headers: { Origin: "http://good.test" } });
    expect(t.connections).toBe(0);
    await t.close();
  });

  it("connections that never upgrade are capped and destroyed after upgradeTimeoutMs (slowloris)", async () => {
    const t = await createTunnel({ allow: [`127.0.0.1:${echoPort}`], maxPending: 20, maxPendingPerClient: 20, upgradeTimeoutMs: 500 });
    const closedAt: number[] = [];
    const start = Date.now();
    const sockets = Array.from({ length: 100 }, (_, i) => {
      const s = net.connect({ host: "127.0.0.1", port: t.port });
      s.on("error", () => {});
      s.on("close", () => closedAt.push(Date.now() - start));
      // half of them send half a request header, the others nothing at all
      if (i % 2) s.on("connect", () => s.write("GET /127.0.0.1:1 HTTP/1.1\r\nHost: x\r\nUpgrade: webs"));
      return s;
    });
    expect(await waitFor(() => closedAt.length >= 80, 400)).toBe(true); // beyond the cap: dropped on accept
    expect(t.pending).toBeLessThanOrEqual(20);
    expect(await waitFor(() => closedAt.length === 100, 2000)).toBe(true); // the rest: at the deadline
    expect(Math.max(...closedAt)).toBeGreaterThanOrEqual(450);
    expect(t.pending).toBe(0);
    for (const s of sockets) s.destroy();
    await expectEcho(t);
    await t.close();
  });
});

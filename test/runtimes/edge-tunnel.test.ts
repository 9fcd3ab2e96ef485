// The tunnel on the edge (bindings/src/edge/): the same wsproxy tunnel and
// Wisp v1 endpoint as a Cloudflare Worker run by workerd, and as a Deno
// server, each configured from the environment (TUNNEL_ALLOW, TUNNEL_WISP)
// as deployed. Through each: a TlsSocket to a local Node tls echo server
// with a clean two-way close, and each refusal with its close code: a
// destination not allowed (1008), a malformed path (1008), a text message
// (1003), a message over maxFrameBytes (1009); /healthz; a plain request
// (426). Over Wisp: several TlsSockets on one WebSocket (our client), the
// TCP peer's FIN as CLOSE 0x02 after its data, refusals as CLOSE reasons
// (0x48, 0x41, 0x44), bad packets closing with 1002 and the streams' TCP
// connections; a destination that never answers (4002, CLOSE 0x43, and what
// each platform does with the attempt); the Wisp limits in Deno.
import * as net from "node:net";
import * as tls from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { TlsSocket, WebSocketClosedError, WispStreamClosedError, connectWebSocket, connectWisp, type Transport, type WispClient } from "../../bindings/src/index.js";
import { SERVER_NAME, identity } from "../helpers/harness.js";
import { freePort } from "../helpers/peers.js";
import { drain, waitFor } from "../helpers/streams.js";
import { startDeno as startDenoHost, startWorkerd, type EdgeHost } from "../helpers/edge-hosts.mjs";
import { unansweredPort, type Unanswered } from "../helpers/unanswered.js";
import { closePayload, frame, upgradeRequest } from "../fuzz/raw-ws.mjs";
import { edgeInput, edgeReplyProblems } from "../fuzz/edge.mjs";
import { exchange } from "../fuzz/tunnel.mjs";

const id = identity();
let echo: tls.Server;
let echoPort = 0;
/** A plain TCP server: echoes, and answers "bye" with "bye" and its FIN. */
let plain: net.Server;
let plainPort = 0;
/** A port nothing listens on. */
let refusedPort = 0;
/** A port where TCP's connect never completes. */
let silent: Unanswered;
/** Every socket the plain server accepted, to check that the tunnel closed them. */
const accepted: net.Socket[] = [];

beforeAll(async () => {
  echo = tls.createServer({ cert: id.certPem, key: id.keyPem }, (s) => {
    s.on("error", () => {});
    s.pipe(s);
  });
  await new Promise<void>((r) => echo.listen(0, "127.0.0.1", r));
  echoPort = (echo.address() as { port: number }).port;
  plain = net.createServer({ allowHalfOpen: true }, (s) => {
    accepted.push(s);
    s.on("error", () => {});
    s.on("data", (d: Buffer) => (d.toString() === "bye" ? s.end("bye") : s.write(d)));
    s.on("end", () => s.end());
  });
  await new Promise<void>((r) => plain.listen(0, "127.0.0.1", r));
  plainPort = (plain.address() as net.AddressInfo).port;
  refusedPort = await freePort();
  silent = await unansweredPort();
});
afterAll(() => {
  for (const h of hosts) h.stop();
  silent?.close();
  for (const s of accepted) s.destroy();
  echo?.close();
  plain?.close();
});

/** The edge tunnels' allowlist: the TLS echo server, the plain one, a port nothing listens on, one that never answers. */
const allowList = () => `127.0.0.1:${echoPort},127.0.0.1:${plainPort},127.0.0.1:${refusedPort},127.0.0.1:${silent.port}`;

/** Every edge tunnel started here, to stop at the end; the last Deno one, whose log a test reads. */
const hosts: EdgeHost[] = [];
let lastDeno: EdgeHost | undefined;

async function workerdTunnel(): Promise<string> {
  const host = await startWorkerd({ allow: allowList() });
  hosts.push(host);
  return host.url;
}

/** The Deno tunnel (test/runtimes/deno-server.mjs) with `env`; its port. */
async function startDeno(env: Record<string, string>): Promise<number> {
  lastDeno = await startDenoHost(env);
  hosts.push(lastDeno);
  return lastDeno.port;
}

async function denoTunnel(): Promise<string> {
  return `ws://127.0.0.1:${await startDeno({ TUNNEL_ALLOW: allowList(), TUNNEL_WISP: "1", EDGE_LIMITS: JSON.stringify({ connectTimeoutMs: 500, upgradeTimeoutMs: 1000 }) })}`;
}

/** A TCP server that accepts and never reads: bytes for it pile up. */
async function startSink(): Promise<{ sink: net.Server; sinkPort: number }> {
  const sink = net.createServer((s) => {
    s.on("error", () => {});
    s.pause();
  });
  await new Promise<void>((r) => sink.listen(0, "127.0.0.1", r));
  return { sink, sinkPort: (sink.address() as net.AddressInfo).port };
}

/** For a describe of its own: a sink server, and a Deno tunnel with `env(sinkPort)`. */
async function denoWithSink(env: (sinkPort: number) => Record<string, string>): Promise<{ url: string; sink: net.Server; sinkPort: number }> {
  const { sink, sinkPort } = await startSink();
  return { url: `ws://127.0.0.1:${await startDeno(env(sinkPort))}`, sink, sinkPort };
}

/** The close a raw WebSocket gets after sending `message` (or nothing) to `path`. */
async function closeOf(url: string, message?: string | Uint8Array): Promise<{ code: number; reason: string }> {
  const ws = new WebSocket(url);
  ws.on("error", () => {});
  if (message !== undefined) ws.on("open", () => ws.send(message));
  return new Promise((r) => ws.on("close", (code, reason) => r({ code, reason: reason.toString() })));
}

// workerd can close a socket still connecting; Deno.connect cannot be cancelled.
describe.each([["workerd (Cloudflare Worker)", workerdTunnel, 0x42, true], ["Deno", denoTunnel, 0x44, false]] as const)("the edge tunnel in %s", (_name, startTunnel, refusedReason, cancelsConnect) => {
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
    expect(await closeOf(`${url}/127.0.0.1:${echoPort}`, new Uint8Array(128 * 1024 + 1))).toMatchObject({ code: 1009 });
    const refused = await connectWebSocket(`${url}/10.0.0.1:443`, { WebSocket: WebSocket as never }).then(async (t) => {
      const reader = t.readable.getReader();
      return reader.read().then(() => null, (e: unknown) => e);
    }, (e: unknown) => e);
    expect(refused).toBeInstanceOf(WebSocketClosedError);
    expect((refused as WebSocketClosedError).code).toBe(1008);
  });

  it("serves Wisp v1: three TlsSockets over one WebSocket, 300 kB each way each, clean closes", async () => {
    const client = await openWisp(url);
    expect(client.initialCredit).toBe(16);
    const run = async (n: number) => {
      const socket = await TlsSocket.connect(await client.connect({ host: "127.0.0.1", port: echoPort }), { ca: id.certPem, servername: SERVER_NAME });
      const big = new Uint8Array(300_000).map((_, i) => (i * n) & 0xff);
      const w = socket.writable.getWriter();
      const writing = w.write(big);
      const r = socket.readable.getReader();
      const got: number[] = [];
      while (got.length < big.length) got.push(...(await r.read()).value!);
      r.releaseLock();
      await writing;
      w.releaseLock();
      expect(Buffer.from(got).equals(Buffer.from(big))).toBe(true);
      return (await socket.shutdown({ mode: "bidirectional" })).ending;
    };
    expect(await Promise.all([1, 3, 7].map(run))).toEqual(["clean", "clean", "clean"]);
    client.close();
  });

  it("Wisp: the TCP peer's FIN arrives as CLOSE 0x02 after its data", async () => {
    await expectRelays(url);
  });

  it("Wisp refusals as CLOSE reasons: not allowed 0x48, connection refused 0x44 (0x42 in workerd), UDP 0x41, malformed host 0x41", async () => {
    const client = await openWisp(url);
    expect(await wispReason(client, 1)).toBe(0x48);
    expect(await wispReason(client, echoPort, "other.test")).toBe(0x48);
    // Deno says "Connection refused"; workerd says "cannot connect to the specified address" for every failure.
    expect(await wispReason(client, refusedPort)).toBe(refusedReason);
    client.close();
    const raw = rawWisp(`${url}/`);
    await raw.opened;
    raw.ws.send(connectPkt(3, plainPort, "127.0.0.1", 2));
    raw.ws.send(connectPkt(5, plainPort, "bad host!"));
    expect((await raw.packet((p) => p.type === CLOSE && p.id === 3)).payload[0]).toBe(0x41);
    expect((await raw.packet((p) => p.type === CLOSE && p.id === 5)).payload[0]).toBe(0x41);
    raw.ws.close();
  });

  const malformed: [string, Uint8Array | string][] = [
    ["an unknown packet type", pkt(0x09, 5)],
    ["a packet shorter than its header", new Uint8Array([2, 5, 0])],
    ["DATA for a stream never opened", pkt(DATA, 1234, new Uint8Array([1]))],
    ["CONNECT on stream 0", connectPkt(0, 1)],
    ["CONTINUE from the client", pkt(CONTINUE, 5, new Uint8Array(4))],
    ["a text message", "hello"],
  ];
  it.each(malformed)("Wisp: %s closes the WebSocket with 1002 and ends the streams' TCP connections", async (_what, message) => {
    const raw = rawWisp(`${url}/`);
    await raw.opened;
    const before = accepted.length;
    raw.ws.send(connectPkt(5, plainPort));
    expect(await waitFor(() => accepted.length > before)).toBe(true);
    const side = accepted.at(-1)!;
    raw.ws.send(message);
    expect((await raw.closed).code).toBe(1002);
    expect(await waitFor(() => side.destroyed || side.readableEnded)).toBe(true);
  });

  it("a destination that never answers: 4002 after connectTimeoutMs (500 ms here); over Wisp CLOSE 0x43, and the session goes on", async () => {
    const started = performance.now();
    expect(await closeOf(`${url}/127.0.0.1:${silent.port}`)).toEqual({ code: 4002, reason: `cannot connect to 127.0.0.1:${silent.port}: timed out after 500 ms` });
    expect(performance.now() - started).toBeGreaterThanOrEqual(450);
    const client = await openWisp(url);
    expect(await wispReason(client, silent.port)).toBe(0x43);
    await expectBye(client);
    client.close();
    // The two attempts: workerd closed them; in Deno they hold their places in maxConnections (as TCP connections) until the OS gives up.
    const health = async () => (await fetch(`${url.replace(/^ws/, "http")}/healthz`)).json() as Promise<{ connections: number; tcp: number }>;
    // The WebSockets' places are free either way.
    await expect.poll(health, { timeout: 5000 }).toMatchObject({ connections: 0, tcp: cancelsConnect ? 0 : 2 });
  });

  it("refuses a bad upgrade request before upgrading: 400 or 405 with the reason, never a 500", async () => {
    const port = Number(new URL(url).port);
    const path = `/127.0.0.1:${plainPort}`;
    const statusOf = async (request: Buffer) => {
      const reply = await exchange(port, [request], "linger");
      return { status: reply.status, body: reply.bytes.toString("latin1").split("\r\n\r\n")[1] ?? "" };
    };
    const without = (name: string) => Buffer.from(upgradeRequest(path).toString("latin1").replace(new RegExp(`${name}: [^\r]*\r\n`), ""), "latin1");
    expect(await statusOf(without("Sec-WebSocket-Key"))).toMatchObject({ status: 400, body: expect.stringMatching(/Sec-WebSocket-Key/) });
    expect(await statusOf(upgradeRequest(path, { "Sec-WebSocket-Key": "not base64" }))).toMatchObject({ status: 400 });
    expect(await statusOf(upgradeRequest(path, { "Sec-WebSocket-Version": "8" }))).toMatchObject({ status: 400, body: expect.stringMatching(/Version must be 13/) });
    expect((await statusOf(Buffer.from(upgradeRequest(path).toString("latin1").replace("GET", "POST"), "latin1"))).status).toBe(405);
    // workerd builds request.url from the Host header: a repeated one made it invalid (and the handler throw)
    const twoHosts = Buffer.from(upgradeRequest(path).toString("latin1").replace("Host: 127.0.0.1\r\n", "Host: 127.0.0.1\r\nHost: 127.0.0.1\r\n"), "latin1");
    expect((await statusOf(twoHosts)).status).not.toBeGreaterThanOrEqual(500);
  });

  it("a client gone during the upgrade gives its places back after upgradeTimeoutMs (1 s here; Deno reports no close for it)", async () => {
    const port = Number(new URL(url).port);
    const health = async () => (await fetch(`${url.replace(/^ws/, "http")}/healthz`)).json() as Promise<{ connections: number; tcp: number }>;
    const before = await health();
    // an upgrade, then a reset at once: wsproxy paths and Wisp
    await Promise.all(Array.from({ length: 10 }, (_, i) => exchange(port, [upgradeRequest(i % 2 ? "/" : `/127.0.0.1:${plainPort}`)], "rst")));
    await expect.poll(health, { timeout: 5000 }).toMatchObject({ connections: before.connections, tcp: before.tcp });
    await expectRelays(url);
  });

  it("a client's Close gets a Close back, on a wsproxy path and on Wisp (workerd leaves that reply to the Worker)", async () => {
    const port = Number(new URL(url).port);
    for (const path of [`/127.0.0.1:${plainPort}`, "/"]) {
      const reply = await exchange(port, [upgradeRequest(path), frame({ opcode: 8, payload: closePayload(4000, Buffer.from("client done")) })], "linger");
      expect(reply.status, path).toBe(101);
      expect(reply.close?.code, path).toBe(4000);
    }
  });

  it("300 hostile inputs (make fuzz's: Wisp, wsproxy, malformed HTTP and frames): valid replies and close frames; then no WebSocket or TCP connection left, and it still relays", async () => {
    const port = Number(new URL(url).port);
    const target = { path: `/127.0.0.1:${plainPort}`, origin: "http://fuzz.test" };
    const problems: string[] = [];
    const statuses = new Map<number | null, number>();
    for (let batch = 0; batch < 15; batch++) {
      await Promise.all(Array.from({ length: 20 }, async (_, k) => {
        const input = edgeInput(20261127, batch * 20 + k, target);
        const reply = await exchange(port, input.chunks, input.ending);
        statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
        for (const p of edgeReplyProblems(reply, Buffer.concat(input.chunks))) problems.push(`${input.name}: ${p}`);
      }));
    }
    expect(problems).toEqual([]);
    expect(statuses.get(101)).toBeGreaterThan(100); // many got as far as a WebSocket
    const health = async () => (await fetch(`${url.replace(/^ws/, "http")}/healthz`)).json() as Promise<{ connections: number; tcp: number }>;
    // Deno still holds the two timed-out connects of the test above (the OS has not given up yet).
    await expect.poll(health, { timeout: 10_000 }).toMatchObject({ connections: 0, tcp: cancelsConnect ? 0 : 2 });
    await expectRelays(url);
  }, 60_000);

  it("Wisp: a message over maxFrameBytes closes with 1009", async () => {
    const raw = rawWisp(`${url}/`);
    await raw.opened;
    raw.ws.send(connectPkt(5, plainPort));
    raw.ws.send(pkt(DATA, 5, new Uint8Array(128 * 1024)));
    expect((await raw.closed).code).toBe(1009);
  });

  it("answers /healthz and plain requests", async () => {
    const http = url.replace(/^ws/, "http");
    const health = await fetch(`${http}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ ok: true });
    expect((await fetch(`${http}/`)).status).toBe(426);
  });
});

// ---- Wisp: our client, and a raw one to send what ours never would

const CONNECT = 1, DATA = 2, CONTINUE = 3, CLOSE = 4;

function pkt(type: number, streamId: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const b = new Uint8Array(5 + payload.length);
  const v = new DataView(b.buffer);
  v.setUint8(0, type);
  v.setUint32(1, streamId, true);
  b.set(payload, 5);
  return b;
}

function connectPkt(streamId: number, port: number, host = "127.0.0.1", kind = 1): Uint8Array {
  const name = new TextEncoder().encode(host);
  const p = new Uint8Array(3 + name.length);
  p[0] = kind;
  new DataView(p.buffer).setUint16(1, port, true);
  p.set(name, 3);
  return pkt(CONNECT, streamId, p);
}

interface Packet { type: number; id: number; payload: Buffer }

/** A raw Wisp client: the packets it got, and how its WebSocket closed. */
function rawWisp(url: string) {
  const ws = new WebSocket(url);
  ws.on("error", () => {});
  const packets: Packet[] = [];
  ws.on("message", (d: Buffer) => packets.push({ type: d[0]!, id: d.readUInt32LE(1), payload: d.subarray(5) }));
  const closed = new Promise<{ code: number; reason: string }>((r) => ws.on("close", (code, reason) => r({ code, reason: reason.toString() })));
  const packet = async (match: (p: Packet) => boolean) => {
    expect(await waitFor(() => packets.some(match))).toBe(true);
    return packets.find(match)!;
  };
  return { ws, packets, closed, packet, opened: new Promise((r) => ws.on("open", r)) };
}

/** The Wisp CLOSE reason a stream to host:port ends with (null: it ended cleanly). */
async function wispReason(client: WispClient, port: number, host = "127.0.0.1"): Promise<number | null> {
  const { error } = await drain(await client.connect({ host, port }));
  if (error === null) return null;
  expect(error).toBeInstanceOf(WispStreamClosedError);
  return (error as WispStreamClosedError).reason;
}

const openWisp = (url: string) => connectWisp(`${url}/`, { WebSocket: WebSocket as never });

/** A Wisp stream on `client` to the plain server gets its "bye" back, then the server's FIN (CLOSE 0x02). */
async function expectBye(client: WispClient): Promise<void> {
  const transport = await client.connect({ host: "127.0.0.1", port: plainPort });
  const w = transport.writable.getWriter();
  await w.write(new TextEncoder().encode("bye"));
  w.releaseLock();
  expect(await drain(transport)).toEqual({ data: "bye", error: null });
}

/** The tunnel at `url` still relays (expectBye on a new Wisp client). */
async function expectRelays(url: string): Promise<void> {
  const client = await openWisp(url);
  await expectBye(client);
  client.close();
}

describe("the edge tunnel's limits (Deno)", () => {
  let url = "";
  let sink: net.Server;
  let sinkPort = 0;
  beforeAll(async () => {
    ({ url, sink, sinkPort } = await denoWithSink((sinkPort) => ({
      TUNNEL_ALLOW: `127.0.0.1:${echoPort},127.0.0.1:${sinkPort}`,
      TUNNEL_ORIGINS: "http://allowed.test",
      EDGE_LIMITS: JSON.stringify({ maxConnections: 1, idleTimeoutMs: 400, maxBufferedBytes: 256 * 1024 }),
    })));
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
    expect(lastDeno!.output()).toMatch(new RegExp(`closed 127\\.0\\.0\\.1:${sinkPort}: 4003 too much data waiting`));
  });
});

describe("the edge tunnel's Wisp limits (Deno)", () => {
  let url = "";
  let sink: net.Server;
  let sinkPort = 0;
  beforeAll(async () => {
    ({ url, sink, sinkPort } = await denoWithSink((sinkPort) => ({
      TUNNEL_ALLOW: `127.0.0.1:${plainPort},127.0.0.1:${sinkPort}`,
      TUNNEL_WISP: "yes",
      EDGE_LIMITS: JSON.stringify({ maxConnections: 3, maxStreamsPerConnection: 2, idleTimeoutMs: 600, maxBufferedBytes: 256 * 1024 }),
    })));
  }, 60_000);
  afterAll(() => sink?.close());
  const health = async () => (await fetch(`${url.replace(/^ws/, "http")}/healthz`)).json() as Promise<{ connections: number; tcp: number }>;

  it("maxStreamsPerConnection and maxConnections: a stream beyond either gets CLOSE 0x49; closing one makes room; nothing left after", async () => {
    const a = await openWisp(url);
    const a1 = await a.connect({ host: "127.0.0.1", port: plainPort });
    await a.connect({ host: "127.0.0.1", port: plainPort });
    expect(await wispReason(a, plainPort)).toBe(0x49); // a third stream on this WebSocket
    const b = await openWisp(url);
    await b.connect({ host: "127.0.0.1", port: plainPort }); // the third TCP connection in all
    expect(await wispReason(b, plainPort)).toBe(0x49); // a fourth
    await a1.writable.close();
    await new Promise((r) => setTimeout(r, 100)); // the tunnel sees the CLOSE
    const again = await b.connect({ host: "127.0.0.1", port: plainPort });
    const w = again.writable.getWriter();
    await w.write(new TextEncoder().encode("bye"));
    w.releaseLock();
    expect((await drain(again)).data).toBe("bye");
    a.close();
    b.close();
    let left = await health();
    for (let i = 0; i < 50 && (left.tcp > 0 || left.connections > 0); i++) left = await new Promise((r) => setTimeout(r, 20)).then(health);
    expect(left).toMatchObject({ connections: 0, tcp: 0 });
  });

  it("a client sending past maxBufferedBytes to a destination that does not read loses that stream (0x49), not the others", async () => {
    const raw = rawWisp(`${url}/`);
    await raw.opened;
    raw.ws.send(connectPkt(1, plainPort));
    raw.ws.send(connectPkt(2, sinkPort));
    const chunk = new Uint8Array(60_000);
    // Far past the credit too: the byte budget is what holds, once the kernel's socket buffers (megabytes on loopback) are full.
    for (let i = 0; i < 400 && !raw.packets.some((p) => p.type === CLOSE && p.id === 2); i++) {
      raw.ws.send(pkt(DATA, 2, chunk));
      if (i % 20 === 19) await new Promise((r) => setTimeout(r, 5));
    }
    expect((await raw.packet((p) => p.type === CLOSE && p.id === 2)).payload[0]).toBe(0x49);
    raw.ws.send(pkt(DATA, 1, new TextEncoder().encode("bye")));
    expect((await raw.packet((p) => p.type === CLOSE && p.id === 1)).payload[0]).toBe(0x02);
    expect(raw.packets.filter((p) => p.type === DATA && p.id === 1).map((p) => p.payload.toString()).join("")).toBe("bye");
    raw.ws.close();
  });

  it("idle: a quiet stream gets CLOSE 0x47; a WebSocket with no stream for as long closes with 1001", async () => {
    const raw = rawWisp(`${url}/`);
    await raw.opened;
    raw.ws.send(connectPkt(9, plainPort));
    const started = Date.now();
    expect((await raw.packet((p) => p.type === CLOSE && p.id === 9)).payload[0]).toBe(0x47);
    expect(Date.now() - started).toBeGreaterThanOrEqual(550);
    expect(await raw.closed).toEqual({ code: 1001, reason: "idle timeout" });
  });
});

describe("the edge tunnel without TUNNEL_WISP", () => {
  it("refuses a Wisp path with 1008", async () => {
    const port = await startDeno({ TUNNEL_ALLOW: `127.0.0.1:${plainPort}`, TUNNEL_WISP: "" });
    expect(await closeOf(`ws://127.0.0.1:${port}/`)).toEqual({ code: 1008, reason: "Wisp is not enabled on this tunnel (a path ending with \"/\")" });
  }, 60_000);
});

describe("the edge tunnel's configuration", () => {
  it("takes exact and *.domain rules, refuses public: rules, an empty allowlist and bad limits", async () => {
    const { edgeConfig } = await import("../../bindings/src/edge/config.js");
    const config = edgeConfig({ allow: ["example.org:443", "*.example.net:*"] });
    expect(config.rules.map((r) => r.kind)).toEqual(["host", "subdomains"]);
    expect(() => edgeConfig({ allow: ["public:443"] })).toThrow(/public:PORT rules need every resolved address checked/);
    expect(() => edgeConfig({ allow: [] })).toThrow(/never an open proxy/);
    expect(() => edgeConfig({ allow: ["example.org:443"], maxConnections: 0 })).toThrow(RangeError);
    expect(() => edgeConfig({ allow: ["example.org:443"], idleTimeoutMs: 1.5 })).toThrow(RangeError);
    expect(() => edgeConfig({ allow: ["example.org:443"], connectTimeoutMs: 0 })).toThrow(/connectTimeoutMs must be an integer >= 1 and <= 2147483647, got 0/);
    // a timer beyond setTimeout's limit would fire at once
    expect(() => edgeConfig({ allow: ["example.org:443"], idleTimeoutMs: 2 ** 31 })).toThrow(/idleTimeoutMs must be an integer >= 0 and <= 2147483647/);
    expect(edgeConfig({ allow: ["example.org:443"] }).connectTimeoutMs).toBe(10_000);
    expect(() => edgeConfig({ allow: ["example.org:443"], maxFrameBytes: 63 })).toThrow(RangeError);
    expect(() => edgeConfig({ allow: ["example.org:443"], wisp: "yes" as never })).toThrow(/wisp must be a boolean/);
    expect(() => edgeConfig({ allow: ["not a rule"] })).toThrow(TypeError);
  });
});

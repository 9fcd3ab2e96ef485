// The tunnel's Wisp v1 endpoint (createTunnel({ wisp: true })): our own
// client (connectWisp) running TlsSockets through it to a local Node TLS
// echo server, large transfers both ways, every refusal as its CLOSE reason,
// a raw `ws` client sending what a broken client would, each limit, events,
// and the tunnel closing with streams live; every test ends with no
// connection or stream left (tunnel.connections and .streams back to 0).
import { createHash, randomBytes } from "node:crypto";
import { spawn } from "node:child_process";
import { once } from "node:events";
import * as http from "node:http";
import * as net from "node:net";
import { join, resolve } from "node:path";
import * as tls from "node:tls";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { TlsSocket, WebSocketClosedError, WispStreamClosedError, type Transport, type WispClient } from "../../bindings/src/index.js";
import { connectWisp } from "../../bindings/src/index.node.js";
import { createTunnel, type Tunnel, type TunnelEvent, type TunnelOptions } from "../../bindings/src/tunnel/tunnel.js";
import { SERVER_NAME, identity, text } from "../helpers/harness.js";
import { heapGrowth } from "../helpers/heap.js";
import { drain, waitFor } from "../helpers/streams.js";
import { unansweredPort } from "../helpers/unanswered.js";

const sha256 = (chunks: Uint8Array[]) => {
  const h = createHash("sha256");
  for (const c of chunks) h.update(c);
  return h.digest("hex");
};

async function listen(server: net.Server): Promise<number> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return (server.address() as net.AddressInfo).port;
}

let tlsPort: number;
let echoPort: number;
let sinkPort: number;
let refusedPort: number;
const servers: net.Server[] = [];
/** Every socket the local servers accepted, to check that the tunnel closed them. */
const accepted: net.Socket[] = [];

beforeAll(async () => {
  const id = identity();
  const tlsServer = tls.createServer({ cert: id.certPem, key: id.keyPem }, (socket) => {
    accepted.push(socket);
    socket.on("error", () => {});
    socket.pipe(socket); // echo, with backpressure
  });
  const echo = net.createServer({ allowHalfOpen: true }, (socket) => {
    accepted.push(socket);
    socket.on("error", () => {});
    socket.on("data", (d: Buffer) => {
      if (d.toString() === "bye") socket.end("bye");
      else socket.write(d);
    });
    socket.on("end", () => socket.end());
  });
  // Never reads: what is sent to it piles up.
  const sink = net.createServer((socket) => {
    accepted.push(socket);
    socket.on("error", () => {});
    socket.pause();
  });
  servers.push(tlsServer, echo, sink);
  tlsPort = await listen(tlsServer);
  echoPort = await listen(echo);
  sinkPort = await listen(sink);
  const closed = net.createServer();
  refusedPort = await listen(closed);
  closed.close();
});

afterAll(() => {
  for (const s of accepted) s.destroy();
  for (const s of servers) s.close();
});

const tunnels: Tunnel[] = [];
afterEach(async () => {
  for (const t of tunnels.splice(0)) {
    // No leak: every WebSocket and stream is gone by the end of each test.
    expect(await waitFor(() => t.connections === 0 && t.streams === 0)).toBe(true);
    await t.close();
  }
});

async function wispTunnel(options: Partial<TunnelOptions> = {}): Promise<{ tunnel: Tunnel; events: TunnelEvent[]; url: string }> {
  const events: TunnelEvent[] = [];
  const tunnel = await createTunnel({ allow: ["127.0.0.1:*"], wisp: true, onEvent: (e) => events.push(e), ...options });
  tunnels.push(tunnel);
  return { tunnel, events, url: `${tunnel.url}/` };
}

async function tlsOver(client: WispClient): Promise<TlsSocket> {
  const transport = await client.connect({ host: "127.0.0.1", port: tlsPort });
  return TlsSocket.connect(transport, { ca: identity().certPem, servername: SERVER_NAME });
}

async function roundTrip(socket: TlsSocket, message: string): Promise<string> {
  const w = socket.writable.getWriter();
  await w.write(text(message));
  w.releaseLock();
  const r = socket.readable.getReader();
  let got = "";
  while (got.length < message.length) {
    const { value, done } = await r.read();
    if (done) break;
    got += new TextDecoder().decode(value);
  }
  r.releaseLock();
  return got;
}

/** A stream on `client` to the echo server echoes (the WebSocket survived what came before). */
async function expectEcho(client: WispClient): Promise<void> {
  const transport = await client.connect({ host: "127.0.0.1", port: echoPort });
  const w = transport.writable.getWriter();
  await w.write(text("bye"));
  w.releaseLock();
  expect((await drain(transport)).data).toBe("bye");
}

async function closeReason(client: WispClient, host: string, port: number): Promise<number | null> {
  const transport = await client.connect({ host, port });
  const { error } = await drain(transport);
  if (error === null) return null;
  expect(error).toBeInstanceOf(WispStreamClosedError);
  return (error as WispStreamClosedError).reason;
}

// ---- a raw client, to send what ours never would

const CONNECT = 1, DATA = 2, CONTINUE = 3, CLOSE = 4;

function pkt(type: number, id: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(5 + payload.length);
  b[0] = type;
  b.writeUInt32LE(id, 1);
  payload.copy(b, 5);
  return b;
}

function connectPkt(id: number, port: number, host = "127.0.0.1", kind = 1): Buffer {
  const p = Buffer.alloc(3 + Buffer.byteLength(host));
  p[0] = kind;
  p.writeUInt16LE(port, 1);
  p.write(host, 3);
  return pkt(CONNECT, id, p);
}

interface Packet { type: number; id: number; payload: Buffer }

class RawWisp {
  readonly ws: WebSocket;
  readonly packets: Packet[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly opened: Promise<unknown>;

  constructor(url: string) {
    this.ws = new WebSocket(url);
    this.ws.on("error", () => {});
    this.ws.on("message", (d: Buffer) => this.packets.push({ type: d[0]!, id: d.readUInt32LE(1), payload: d.subarray(5) }));
    this.closed = new Promise((resolve) => this.ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() })));
    this.opened = once(this.ws, "open");
  }

  async packet(match: (p: Packet) => boolean, ms = 5000): Promise<Packet> {
    expect(await waitFor(() => this.packets.some(match), ms)).toBe(true);
    return this.packets.find(match)!;
  }

  closeOf(id: number): Promise<Packet> {
    return this.packet((p) => p.type === CLOSE && p.id === id);
  }
}

describe("Wisp endpoint: our client through the tunnel", () => {
  it("handshake CONTINUE, several TlsSockets at once over one WebSocket, events with stream ids, nothing left after", async () => {
    const { tunnel, events, url } = await wispTunnel();
    const client = await connectWisp(url);
    expect(client.initialCredit).toBe(16);
    const sockets = await Promise.all([0, 1, 2, 3, 4].map(() => tlsOver(client)));
    expect(tunnel.connections).toBe(1);
    expect(tunnel.streams).toBe(5);
    expect(await Promise.all(sockets.map((s, i) => roundTrip(s, `stream ${i}`)))).toEqual(["stream 0", "stream 1", "stream 2", "stream 3", "stream 4"]);
    await Promise.all(sockets.map((s) => s.close()));
    expect(await waitFor(() => tunnel.streams === 0)).toBe(true);
    const streamIds = new Set(events.filter((e) => e.event === "connected").map((e) => e.stream));
    expect(streamIds.size).toBe(5);
    for (const e of events.filter((e) => e.event === "connecting" || e.event === "closed")) {
      if (e.stream !== undefined) expect(e.target).toBe(`127.0.0.1:${tlsPort}`);
    }
    client.close();
  });

  it("moves 8 MiB each way on two streams at once (credit spent and renewed), SHA-256 equal", async () => {
    const { url } = await wispTunnel();
    const client = await connectWisp(url);
    const SIZE = 8 << 20;
    const run = async () => {
      const socket = await tlsOver(client);
      const sent: Uint8Array[] = [];
      const writing = (async () => {
        const w = socket.writable.getWriter();
        for (let at = 0; at < SIZE; at += 65536) {
          const chunk = new Uint8Array(randomBytes(65536));
          sent.push(chunk);
          await w.write(chunk);
        }
        w.releaseLock();
      })();
      const received: Uint8Array[] = [];
      let n = 0;
      const r = socket.readable.getReader();
      while (n < SIZE) {
        const { value, done } = await r.read();
        if (done) break;
        received.push(value);
        n += value.length;
      }
      r.releaseLock();
      await writing;
      expect(n).toBe(SIZE);
      expect(sha256(received)).toBe(sha256(sent));
      expect((await socket.shutdown({ mode: "bidirectional" })).ending).toBe("clean");
    };
    await Promise.all([run(), run()]);
    client.close();
  }, 120_000);

  it("the TCP peer's FIN: its data, then CLOSE 0x02 (readable ends cleanly)", async () => {
    const { url } = await wispTunnel();
    const client = await connectWisp(url);
    const transport = await client.connect({ host: "127.0.0.1", port: echoPort });
    const w = transport.writable.getWriter();
    await w.write(text("bye"));
    w.releaseLock();
    expect(await drain(transport)).toEqual({ data: "bye", error: null });
    client.close();
  });

  it("refusals, each as its CLOSE reason: blocked 0x48, refused 0x44, public: not public 0x48, lookup failed 0x42, lookup timed out 0x43", async () => {
    const lines: string[] = [];
    const { events, url } = await wispTunnel({
      log: (line) => lines.push(line),
      allow: [`127.0.0.1:${echoPort}`, `127.0.0.1:${refusedPort}`, "public:7", "*.allowed.test:*"],
      resolve: async (host) => {
        if (host === "slow.test") return new Promise(() => {});
        if (host === "missing.test") throw Object.assign(new Error("not found"), { code: "ENOTFOUND" });
        return [{ address: "10.0.0.1", family: 4 }];
      },
      resolveTimeoutMs: 200,
    });
    const client = await connectWisp(url);
    expect(await closeReason(client, "127.0.0.1", tlsPort)).toBe(0x48); // not on the list
    expect(await closeReason(client, "localhost", echoPort)).toBe(0x48); // exact rules are exact
    expect(await closeReason(client, "127.0.0.1", refusedPort)).toBe(0x44);
    expect(await closeReason(client, "private.test", 7)).toBe(0x48); // resolves to 10.0.0.1
    expect(await closeReason(client, "127.0.0.1", 7)).toBe(0x48); // an IP address: loopback is not public
    expect(await closeReason(client, "missing.test", 7)).toBe(0x42);
    expect(await closeReason(client, "slow.test", 7)).toBe(0x43);
    expect(await closeReason(client, "a.allowed.test", 9)).not.toBe(0x48); // *.domain: allowed by name (then unreachable)
    const refused = events.filter((e) => e.event === "refused");
    expect(refused.some((e) => /10\.0\.0\.1 is private/.test(e.reason ?? ""))).toBe(true);
    expect(refused.every((e) => typeof e.stream === "number")).toBe(true);
    // Text lines name the stream after the connection (#id/stream) and give Wisp reasons in hex.
    expect(lines.some((l) => new RegExp(`^#\\d+/\\d+ 127\\.0\\.0\\.1:\\d+ -> 127\\.0\\.0\\.1:${tlsPort} refused \\(0x48\\): destination not allowed`).test(l))).toBe(true);
    // The connection survived every refusal.
    await expectEcho(client);
    client.close();
  });

  it("a destination that never answers: CLOSE 0x43 after connectTimeoutMs; the WebSocket and its other streams go on", async () => {
    const silent = await unansweredPort();
    try {
      const { tunnel: t, events, url } = await wispTunnel({ connectTimeoutMs: 300 });
      const client = await connectWisp(url);
      const started = performance.now();
      expect(await closeReason(client, "127.0.0.1", silent.port)).toBe(0x43);
      expect(performance.now() - started).toBeGreaterThanOrEqual(280);
      expect(events.find((e) => e.event === "closed" && e.code === 0x43)?.reason).toBe(`cannot connect to 127.0.0.1:${silent.port}: timed out after 300 ms`);
      expect(t.streams).toBe(0);
      await expectEcho(client);
      client.close();
    } finally {
      silent.close();
    }
  });

  it("public: connects by the checked address once it passes", async () => {
    const { events, url } = await wispTunnel({
      allow: ["public:*"],
      resolve: async () => [{ address: "127.0.0.1", family: 4 }],
      isPublicAddress: (a) => a === "127.0.0.1",
    });
    const client = await connectWisp(url);
    const transport = await client.connect({ host: "echo.test", port: echoPort });
    const w = transport.writable.getWriter();
    await w.write(text("bye")); // sent before the lookup finished: held, then written
    w.releaseLock();
    expect(await drain(transport)).toEqual({ data: "bye", error: null });
    expect(events.find((e) => e.event === "resolved")).toMatchObject({ target: `echo.test:${echoPort}`, address: "127.0.0.1" });
    client.close();
  });

  it("without wisp: true a path ending with / is refused with 1008", async () => {
    const tunnel = await createTunnel({ allow: ["127.0.0.1:*"] });
    tunnels.push(tunnel);
    const error = await connectWisp(`${tunnel.url}/`).then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(WebSocketClosedError);
    expect((error as WebSocketClosedError).code).toBe(1008);
  });

  it("the wsproxy path still works next to it", async () => {
    const { tunnel } = await wispTunnel();
    const ws = new WebSocket(`${tunnel.url}/127.0.0.1:${echoPort}`);
    await once(ws, "open");
    ws.send(Buffer.from("bye"));
    const [data] = await once(ws, "message");
    expect(String(data)).toBe("bye");
    const [code] = await once(ws, "close");
    expect(code).toBe(1000);
  });
});

describe("Wisp endpoint: a long-lived session", () => {
  it("holds no more memory after 1,500 more streams opened and closed on one WebSocket than after the first 500", async () => {
    // Nothing in the test itself may hold memory per stream: no event list (wispTunnel's grows by three events
    // a stream), and an echo server of its own (the shared one keeps every socket it accepted).
    const tunnel = await createTunnel({ allow: ["127.0.0.1:*"], wisp: true, log: () => {} });
    tunnels.push(tunnel);
    const echo = net.createServer({ allowHalfOpen: true }, (socket) => {
      socket.on("error", () => {});
      socket.on("data", (d: Buffer) => socket.write(d));
      socket.on("end", () => socket.end());
    });
    const port = await listen(echo);
    const client = await connectWisp(`${tunnel.url}/`);
    const streams = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const transport = await client.connect({ host: "127.0.0.1", port });
        const w = transport.writable.getWriter(), r = transport.readable.getReader();
        await w.write(text("x"));
        await r.read();
        await w.close();
        await r.read();
      }
    };
    // The session and our client both run in this process: this bounds both (each keeps a bounded set of recently closed ids).
    const growth = await heapGrowth(streams, 500, 1_500);
    expect(growth.js).toBeLessThan(4 << 20);
    expect(await waitFor(() => tunnel.streams === 0)).toBe(true);
    client.close();
    echo.close();
  }, 60_000);
});

describe("Wisp endpoint: a raw client", () => {
  it("selects no subprotocol: a Wisp v2 offer gets v1", async () => {
    const { tunnel } = await wispTunnel();
    const req = http.get({
      host: "127.0.0.1", port: tunnel.port, path: "/",
      headers: { Connection: "Upgrade", Upgrade: "websocket", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol": "wisp-v2" },
    });
    const [res, socket] = (await once(req, "upgrade")) as [http.IncomingMessage, net.Socket];
    expect(res.statusCode).toBe(101);
    expect(res.headers["sec-websocket-protocol"]).toBeUndefined();
    socket.destroy();
  });

  it("answers UDP, port 0 and a malformed host with CLOSE 0x41", async () => {
    const { url } = await wispTunnel();
    const raw = new RawWisp(url);
    await raw.opened;
    const hello = await raw.packet((p) => p.type === CONTINUE && p.id === 0);
    expect(hello.payload.readUInt32LE(0)).toBe(16);
    raw.ws.send(connectPkt(7, 53, "127.0.0.1", 2));
    expect((await raw.closeOf(7)).payload[0]).toBe(0x41);
    raw.ws.send(connectPkt(8, 0));
    expect((await raw.closeOf(8)).payload[0]).toBe(0x41);
    raw.ws.send(connectPkt(9, 80, "bad host!"));
    expect((await raw.closeOf(9)).payload[0]).toBe(0x41);
    raw.ws.close();
    await raw.closed;
  });

  it("CONTINUE renews credit as DATA reaches TCP, and a client CLOSE closes that TCP connection", async () => {
    const { tunnel, url } = await wispTunnel();
    const raw = new RawWisp(url);
    await raw.opened;
    const before = accepted.length;
    raw.ws.send(connectPkt(5, echoPort));
    for (let i = 0; i < 12; i++) raw.ws.send(pkt(DATA, 5, Buffer.from("x")));
    const renewed = await raw.packet((p) => p.type === CONTINUE && p.id === 5);
    expect(renewed.payload.readUInt32LE(0)).toBeGreaterThan(8);
    expect(renewed.payload.readUInt32LE(0)).toBeLessThanOrEqual(16);
    // One CONTINUE per half-credit (8 packets), not one per packet.
    await new Promise((r) => setTimeout(r, 100));
    expect(raw.packets.filter((p) => p.type === CONTINUE && p.id === 5)).toHaveLength(1);
    expect(await waitFor(() => accepted.length > before)).toBe(true);
    const side = accepted.at(-1)!;
    raw.ws.send(pkt(CLOSE, 5, Buffer.from([0x02])));
    expect(await waitFor(() => side.destroyed || side.readableEnded)).toBe(true);
    expect(await waitFor(() => tunnel.streams === 0)).toBe(true);
    raw.ws.send(pkt(DATA, 5, Buffer.from("late"))); // in flight when we closed: dropped, not an error
    raw.ws.send(connectPkt(6, echoPort));
    raw.ws.send(pkt(DATA, 6, Buffer.from("bye")));
    await raw.closeOf(6);
    expect(raw.packets.filter((p) => p.type === DATA && p.id === 6).map((p) => p.payload.toString()).join("")).toBe("bye");
    raw.ws.close();
    await raw.closed;
  });

  const malformed: [string, (ws: WebSocket) => void][] = [
    ["an unknown packet type", (ws) => ws.send(pkt(0x09, 5))],
    ["a packet shorter than its header", (ws) => ws.send(Buffer.from([2, 5, 0]))],
    ["DATA for a stream never opened", (ws) => ws.send(pkt(DATA, 1234, Buffer.from("x")))],
    ["CONNECT without a port", (ws) => ws.send(pkt(CONNECT, 77, Buffer.from([1])))],
    ["CONNECT on stream 0", (ws) => ws.send(connectPkt(0, echoPort))],
    ["CONNECT for an open stream", (ws) => ws.send(connectPkt(5, echoPort))],
    ["CLOSE without a reason", (ws) => ws.send(pkt(CLOSE, 5))],
    ["CONTINUE from the client", (ws) => ws.send(pkt(CONTINUE, 5, Buffer.alloc(4)))],
    ["INFO (Wisp v2)", (ws) => ws.send(pkt(0x05, 0, Buffer.from([2, 0])))],
    ["a text message", (ws) => ws.send("hello")],
  ];
  for (const [what, send] of malformed) {
    it(`${what}: close 1002, and the streams' TCP connections are closed`, async () => {
      const { tunnel, events, url } = await wispTunnel();
      const raw = new RawWisp(url);
      await raw.opened;
      const before = accepted.length;
      raw.ws.send(connectPkt(5, echoPort));
      expect(await waitFor(() => accepted.length > before && tunnel.streams === 1)).toBe(true);
      const side = accepted.at(-1)!;
      send(raw.ws);
      expect((await raw.closed).code).toBe(1002);
      expect(await waitFor(() => side.destroyed || side.readableEnded)).toBe(true);
      expect(events.some((e) => e.event === "protocol-error")).toBe(true);
    });
  }
});

describe("Wisp endpoint: limits", () => {
  it("maxStreamsPerConnection: one stream too many gets CLOSE 0x49; closing one makes room", async () => {
    const { url } = await wispTunnel({ maxStreamsPerConnection: 2 });
    const client = await connectWisp(url);
    const a = await client.connect({ host: "127.0.0.1", port: echoPort });
    await client.connect({ host: "127.0.0.1", port: echoPort });
    expect(await closeReason(client, "127.0.0.1", echoPort)).toBe(0x49);
    await a.writable.close();
    const t = await client.connect({ host: "127.0.0.1", port: echoPort });
    const w = t.writable.getWriter();
    await w.write(text("bye"));
    w.releaseLock();
    expect((await drain(t)).data).toBe("bye");
    client.close();
  });

  it("maxConnections counts Wisp streams with wsproxy tunnels: beyond it CLOSE 0x49 and 1013", async () => {
    const { tunnel, url } = await wispTunnel({ maxConnections: 3 });
    const client = await connectWisp(url); // one live WebSocket
    await client.connect({ host: "127.0.0.1", port: echoPort });
    await client.connect({ host: "127.0.0.1", port: echoPort });
    expect(await waitFor(() => tunnel.streams === 2)).toBe(true);
    const ws = new WebSocket(`${tunnel.url}/127.0.0.1:${echoPort}`); // the third TCP connection
    await once(ws, "open");
    expect(await closeReason(client, "127.0.0.1", echoPort)).toBe(0x49); // a fourth
    const refused = new WebSocket(`${tunnel.url}/127.0.0.1:${echoPort}`);
    const [code] = await once(refused, "close");
    expect(code).toBe(1013);
    ws.close();
    client.close();
  });

  it("maxFrameBytes: a larger message closes the WebSocket (1009) and every stream", async () => {
    const { url } = await wispTunnel({ maxFrameBytes: 1024, highWaterMark: 1024 });
    const raw = new RawWisp(url);
    await raw.opened;
    raw.ws.send(connectPkt(5, echoPort));
    raw.ws.send(pkt(DATA, 5, Buffer.alloc(2048)));
    expect((await raw.closed).code).toBe(1009);
  });

  it("per-stream buffer: a client sending past its budget to a destination that does not read loses that stream (0x49), not the others", async () => {
    const { url } = await wispTunnel({ highWaterMark: 16384, maxBufferedBytes: 65536 });
    const raw = new RawWisp(url);
    await raw.opened;
    raw.ws.send(connectPkt(5, sinkPort));
    raw.ws.send(connectPkt(6, echoPort));
    const chunk = Buffer.alloc(60000, 1);
    // Far past the credit of 16 packets: a misbehaving client.
    for (let i = 0; i < 200 && !raw.packets.some((p) => p.type === CLOSE && p.id === 5); i++) {
      raw.ws.send(pkt(DATA, 5, chunk));
      await new Promise((r) => setTimeout(r, 5));
    }
    expect((await raw.closeOf(5)).payload[0]).toBe(0x49);
    raw.ws.send(pkt(DATA, 6, Buffer.from("bye")));
    await raw.closeOf(6);
    expect(raw.packets.filter((p) => p.type === DATA && p.id === 6).map((p) => p.payload.toString()).join("")).toBe("bye");
    raw.ws.close();
    await raw.closed;
  }, 30_000);

  it("idle timeout: a quiet stream gets CLOSE 0x47; a WebSocket with no stream for as long closes with 1001", async () => {
    const { url } = await wispTunnel({ idleTimeoutMs: 300 });
    const raw = new RawWisp(url);
    await raw.opened;
    raw.ws.send(connectPkt(5, echoPort));
    const started = Date.now();
    await new Promise((r) => setTimeout(r, 200));
    raw.ws.send(pkt(DATA, 5, Buffer.from("x"))); // traffic: the stream's clock starts again
    expect((await raw.closeOf(5)).payload[0]).toBe(0x47);
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
    expect(raw.packets.some((p) => p.type === DATA && p.id === 5)).toBe(true); // the echo came back before
    expect((await raw.closed).code).toBe(1001);
  });

  it("bandwidth: maxBytesPerSecond slows a Wisp transfer down", async () => {
    const { url } = await wispTunnel({ maxBytesPerSecond: 400_000 });
    const client = await connectWisp(url);
    const transport = await client.connect({ host: "127.0.0.1", port: echoPort });
    const w = transport.writable.getWriter();
    const started = Date.now();
    const SIZE = 300_000;
    void w.write(new Uint8Array(SIZE).fill(120));
    let n = 0;
    for await (const chunk of transport.readable) {
      n += chunk.length;
      if (n >= SIZE) break;
    }
    const elapsed = Date.now() - started;
    client.close();
    // 600 kB relayed (up and down) at 400 kB/s with a 100 kB burst: about a second (unthrottled: a few ms).
    expect(elapsed).toBeGreaterThan(700);
  }, 30_000);
});

describe("Wisp endpoint: the tunnel closing", () => {
  it("drain: new streams get 0x49, live ones finish, then the WebSocket closes 1001", async () => {
    const { tunnel, url } = await wispTunnel();
    tunnels.pop();
    const client = await connectWisp(url);
    const live = await client.connect({ host: "127.0.0.1", port: echoPort });
    expect(await waitFor(() => tunnel.streams === 1)).toBe(true);
    const closing = tunnel.close({ drainTimeoutMs: 10_000 });
    expect(await closeReason(client, "127.0.0.1", echoPort)).toBe(0x49);
    const w = live.writable.getWriter();
    await w.write(text("bye"));
    w.releaseLock();
    expect((await drain(live)).data).toBe("bye");
    const ended = await client.closed;
    expect(ended).toBeInstanceOf(WebSocketClosedError);
    expect((ended as WebSocketClosedError).code).toBe(1001);
    await closing;
    expect(tunnel.connections).toBe(0);
    expect(tunnel.streams).toBe(0);
  });

  it("close(): streams and TCP connections go at once", async () => {
    const { tunnel, url } = await wispTunnel();
    tunnels.pop();
    const client = await connectWisp(url);
    const before = accepted.length;
    await Promise.all([0, 1, 2].map(() => client.connect({ host: "127.0.0.1", port: echoPort })));
    expect(await waitFor(() => accepted.length >= before + 3)).toBe(true);
    await tunnel.close();
    // The sockets' "close" events come just after.
    expect(await waitFor(() => tunnel.connections === 0 && tunnel.streams === 0)).toBe(true);
    expect(await waitFor(() => accepted.slice(before).every((s) => s.destroyed || s.readableEnded))).toBe(true);
    expect(await client.closed).toBeInstanceOf(WebSocketClosedError);
  });
});

describe("the command: --wisp", () => {
  const cli = join(resolve(import.meta.dirname, "../.."), "bindings/dist/tunnel/cli.js");

  async function start(args: string[]): Promise<{ lines: Record<string, unknown>[]; url: string; stop: () => Promise<unknown> }> {
    const proc = spawn(process.execPath, [cli, "--listen", "127.0.0.1:0", "--log", "json", "--allow", `127.0.0.1:${echoPort}`, ...args]);
    const lines: Record<string, unknown>[] = [];
    let partial = "";
    proc.stdout.on("data", (d: Buffer) => {
      const complete = (partial + d.toString()).split("\n");
      partial = complete.pop()!;
      for (const line of complete) lines.push(JSON.parse(line) as Record<string, unknown>);
    });
    const exited = once(proc, "exit");
    expect(await waitFor(() => lines.some((l) => l.event === "listening"), 10_000)).toBe(true);
    return { lines, url: lines.find((l) => l.event === "listening")!.url as string, stop: () => (proc.kill("SIGINT"), exited) };
  }

  it("serves Wisp with --wisp (stream events in the JSON log), refuses it with 1008 without", async () => {
    const on = await start(["--wisp", "--max-streams-per-connection", "1"]);
    const client = await connectWisp(`${on.url}/`);
    const transport = await client.connect({ host: "127.0.0.1", port: echoPort });
    expect(await closeReason(client, "127.0.0.1", echoPort)).toBe(0x49); // the second stream
    const w = transport.writable.getWriter();
    await w.write(text("bye"));
    w.releaseLock();
    expect((await drain(transport)).data).toBe("bye");
    client.close();
    expect(await waitFor(() => on.lines.some((l) => l.event === "closed" && typeof l.stream === "number" && l.code === 2))).toBe(true);
    await on.stop();
    const off = await start([]);
    const error = await connectWisp(`${off.url}/`).then(() => null, (e: unknown) => e);
    expect((error as WebSocketClosedError).code).toBe(1008);
    await off.stop();
  }, 30_000);
});

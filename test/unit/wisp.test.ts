// The Wisp v1 client: TlsSockets over @mercuryworkshop/wisp-js's server on
// loopback (several at once, 8 MiB each way, every shutdown mode, refusals,
// the WebSocket dying mid-stream, aborts), and a raw WebSocket server of our
// own that sends what a broken server would (each protocol error).
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import * as http from "node:http";
import * as net from "node:net";
import * as tls from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import { logging, server as wisp } from "@mercuryworkshop/wisp-js/server";
import {
  ConnectTimeoutError, OpenSSL, TlsSocket, WebSocketClosedError, WebSocketLimitError, WispClient, WispClosedError, WispProtocolError,
  WispStreamClosedError, wispCloseReasonName, wispConnector, type Transport,
} from "../../bindings/src/index.js";
import { connectWisp } from "../../bindings/src/index.node.js";
import { SERVER_NAME, identity } from "../helpers/harness.js";
import { heapGrowth } from "../helpers/heap.js";

const WS = WebSocket as never;
const text = (s: string) => new TextEncoder().encode(s);
const sha256 = (chunks: Uint8Array[]) => {
  const h = createHash("sha256");
  for (const c of chunks) h.update(c);
  return h.digest("hex");
};
const until = async (check: () => boolean, ms = 5000) => {
  for (const end = Date.now() + ms; !check() && Date.now() < end;) await new Promise((r) => setTimeout(r, 10));
  expect(check()).toBe(true);
};

// ---- the real server: wisp-js in front of a Node TLS server

interface ServerSide { socket: tls.TLSSocket; received: Buffer[]; ended: boolean; error?: Error; closed: Promise<void> }
let tlsServer: tls.Server;
let tlsPort: number;
const serverSides: ServerSide[] = [];
let wispServer: http.Server;
let wispUrl: string;
const upgrades: net.Socket[] = [];
let refusedPort: number;
const BLOCKED_PORT = 9;

beforeAll(async () => {
  const id = identity();
  // Echoes, except: "bye" makes it close first (close_notify and FIN); "count" answers with the bytes received so far.
  tlsServer = tls.createServer({ cert: id.certPem, key: id.keyPem }, (socket) => {
    const side: ServerSide = { socket, received: [], ended: false, closed: once(socket, "close").then(() => {}) };
    serverSides.push(side);
    socket.on("error", (e) => (side.error = e));
    socket.on("end", () => (side.ended = true));
    socket.on("data", (d: Buffer) => {
      side.received.push(d);
      if (d.toString() === "bye") socket.end("bye");
      else if (!socket.write(d)) {
        socket.pause();
        socket.once("drain", () => socket.resume());
      }
    });
  });
  tlsServer.listen(0, "127.0.0.1");
  await once(tlsServer, "listening");
  tlsPort = (tlsServer.address() as net.AddressInfo).port;

  logging.set_level(logging.NONE);
  wisp.options.allow_loopback_ips = true;
  wisp.options.port_blacklist = [BLOCKED_PORT];
  wispServer = http.createServer((_, res) => res.end("wisp"));
  wispServer.on("upgrade", (req, socket, head) => {
    upgrades.push(socket as net.Socket);
    wisp.routeRequest(req, socket, head);
  });
  wispServer.listen(0, "127.0.0.1");
  await once(wispServer, "listening");
  wispUrl = `ws://127.0.0.1:${(wispServer.address() as net.AddressInfo).port}/`;

  const closedServer = net.createServer().listen(0, "127.0.0.1");
  await once(closedServer, "listening");
  refusedPort = (closedServer.address() as net.AddressInfo).port;
  closedServer.close();
});

afterAll(() => {
  for (const s of upgrades) s.destroy();
  for (const s of serverSides) s.socket.destroy();
  wispServer?.close();
  tlsServer?.close();
});

async function tlsOver(client: WispClient, options: Partial<Parameters<typeof TlsSocket.connect>[1]> = {}): Promise<{ socket: TlsSocket; side: ServerSide }> {
  const count = serverSides.length;
  const transport = await client.connect({ host: "127.0.0.1", port: tlsPort });
  const socket = await TlsSocket.connect(transport, { ca: identity().certPem, servername: SERVER_NAME, ...options });
  await until(() => serverSides.length > count);
  return { socket, side: serverSides.at(-1)! };
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

describe("Wisp over @mercuryworkshop/wisp-js", () => {
  it("opens with the server's CONTINUE on stream 0 and runs several TlsSockets at once over one WebSocket", async () => {
    const client = await connectWisp(wispUrl);
    expect(client.initialCredit).toBe(128);
    const connect = wispConnector(client);
    const sockets = await Promise.all([0, 1, 2, 3, 4].map(async () => {
      const transport = await connect({ host: "127.0.0.1", port: tlsPort });
      return TlsSocket.connect(transport, { ca: identity().certPem, servername: SERVER_NAME });
    }));
    expect(client.streamCount).toBe(5);
    const answers = await Promise.all(sockets.map((s, i) => roundTrip(s, `stream ${i}`)));
    expect(answers).toEqual(["stream 0", "stream 1", "stream 2", "stream 3", "stream 4"]);
    const reports = await Promise.all(sockets.map((s) => s.shutdown({ mode: "bidirectional" })));
    expect(reports.map((r) => r.ending)).toEqual(["clean", "clean", "clean", "clean", "clean"]);
    await until(() => client.streamCount === 0);
    expect(upgrades).toHaveLength(1); // one WebSocket for all
    client.close();
    expect(await client.closed).toBeNull();
  });

  it("moves 8 MiB each way on two streams at once: CONTINUE credit spent and renewed, SHA-256 equal", async () => {
    const client = await connectWisp(wispUrl);
    const SIZE = 8 << 20;
    const before = serverSides.length;
    const run = async () => {
      const { socket } = await tlsOver(client);
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
      return sha256(sent);
    };
    // 8 MiB is 512+ DATA packets per stream against a credit of 128: the writes had to wait for CONTINUE.
    const hashes = await Promise.all([run(), run()]);
    // What the destination received, stream by stream (which server socket is which stream is not known).
    expect(serverSides.slice(before).map((side) => sha256(side.received)).sort()).toEqual(hashes.sort());
    await until(() => client.streamCount === 0);
    client.close();
  }, 120_000);

  describe("shutdown modes (Wisp has no half-close)", () => {
    let client: WispClient;
    beforeAll(async () => (client = await connectWisp(wispUrl)));
    afterAll(() => client.close());

    it("bidirectional: close_notify as DATA, the peer's close_notify arrives before its CLOSE: clean, ret 1", async () => {
      const { socket, side } = await tlsOver(client);
      expect(await roundTrip(socket, "bidi")).toBe("bidi");
      const report = await socket.shutdown({ mode: "bidirectional" });
      expect(report.ret).toBe(1);
      expect(report.ending).toBe("clean");
      await side.closed;
      expect(side.ended).toBe(true);
      expect(side.error).toBeUndefined();
      await until(() => client.streamCount === 0);
    });

    it("unidirectional: close_notify then CLOSE 0x02 (the stream ends both ways): one-way, ret 0; the peer sees close_notify then FIN", async () => {
      const { socket, side } = await tlsOver(client);
      expect(await roundTrip(socket, "uni")).toBe("uni");
      const report = await socket.shutdown({ mode: "unidirectional" });
      expect(report.ret).toBe(0);
      expect(report.ending).toBe("one-way");
      expect(client.streamCount).toBe(0);
      await side.closed;
      expect(side.ended).toBe(true);
      expect(side.error).toBeUndefined();
    });

    it("quiet: no alert, CLOSE 0x02: one-way; the peer sees the TCP connection end", async () => {
      const { socket, side } = await tlsOver(client);
      expect(await roundTrip(socket, "quiet")).toBe("quiet");
      const report = await socket.shutdown({ mode: "quiet" });
      expect(report.ending).toBe("one-way");
      expect(client.streamCount).toBe(0);
      await side.closed;
    });

    it("closing the TlsSocket's writable is a TLS half-close: the stream stays open, the echo still arrives, then the peer's close_notify and CLOSE", async () => {
      const { socket } = await tlsOver(client);
      const w = socket.writable.getWriter();
      await w.write(text("half"));
      const reading = (async () => {
        let got = "";
        for await (const chunk of socket.readable) got += new TextDecoder().decode(chunk);
        return got;
      })();
      await w.close();
      expect(await reading).toBe("half");
      expect((await socket.closed).ending).toBe("clean");
      await until(() => client.streamCount === 0);
    });

    it("the peer closes first: its close_notify (DATA) then CLOSE 0x02; readable ends and the socket ends clean", async () => {
      const { socket, side } = await tlsOver(client);
      const w = socket.writable.getWriter();
      await w.write(text("bye"));
      w.releaseLock();
      let got = "";
      for await (const chunk of socket.readable) got += new TextDecoder().decode(chunk);
      expect(got).toBe("bye");
      expect((await socket.closed).ending).toBe("clean");
      await side.closed;
      await until(() => client.streamCount === 0);
    });

    it("allowHalfOpen: true cannot keep writing after the peer closes: the stream is gone, the write fails with WispStreamClosedError 0x02 as its cause", async () => {
      const { socket } = await tlsOver(client, { allowHalfOpen: true });
      const w = socket.writable.getWriter();
      await w.write(text("bye"));
      let got = "";
      for await (const chunk of socket.readable) got += new TextDecoder().decode(chunk);
      expect(got).toBe("bye");
      await until(() => client.streamCount === 0); // the server's CLOSE arrived
      const error = await w.write(text("too late")).then(() => null, (e: unknown) => e);
      expect(error).toBeInstanceOf(Error);
      const cause = (error as Error).cause as WispStreamClosedError;
      expect(cause).toBeInstanceOf(WispStreamClosedError);
      expect(cause.reason).toBe(0x02);
      expect(cause.reasonName).toBe("voluntary");
      await socket.closed;
    });
  });

  it("a burst upload then bidirectional shutdown: every byte and the close_notify reach the destination (its answer proves it)", async () => {
    // A unidirectional shutdown right after such a burst may lose the tail: the CLOSE that follows the
    // close_notify closes the destination's TCP connection at once, and wisp-js discards the DATA it
    // still queues (the README says so). Bidirectional waits for the peer's close_notify, sent after
    // it read everything.
    const client = await connectWisp(wispUrl);
    const { socket, side } = await tlsOver(client);
    const SIZE = 4 << 20;
    const reading = (async () => {
      let n = 0;
      for await (const chunk of socket.readable) n += chunk.length;
      return n;
    })();
    const w = socket.writable.getWriter();
    for (let at = 0; at < SIZE; at += 65536) await w.write(new Uint8Array(65536).fill(at >> 16));
    w.releaseLock();
    const report = await socket.shutdown({ mode: "bidirectional" });
    expect([report.ret, report.ending]).toEqual([1, "clean"]);
    expect(await reading).toBe(SIZE);
    await side.closed;
    expect(side.received.reduce((n, b) => n + b.length, 0)).toBe(SIZE);
    expect(side.ended).toBe(true);
    client.close();
  });

  it("a refused destination: the server's CLOSE 0x03 errors the readable with WispStreamClosedError; TlsSocket.connect rejects with it as the cause", async () => {
    const client = await connectWisp(wispUrl);
    const transport = await client.connect({ host: "127.0.0.1", port: refusedPort });
    const error = await transport.readable.getReader().read().then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(WispStreamClosedError);
    expect((error as WispStreamClosedError).reason).toBe(0x03);
    expect((error as WispStreamClosedError).message).toMatch(/reason 0x03: network error/);
    await expect(transport.writable.getWriter().write(text("x"))).rejects.toBeInstanceOf(WispStreamClosedError);

    const handshake = await TlsSocket.connect(await client.connect({ host: "127.0.0.1", port: refusedPort }), { ca: identity().certPem, servername: SERVER_NAME })
      .then(() => null, (e: unknown) => e) as Error;
    expect(handshake?.name).toBe("TlsHandshakeError");
    expect(handshake.cause).toBeInstanceOf(WispStreamClosedError);

    const blocked = await client.connect({ host: "127.0.0.1", port: BLOCKED_PORT });
    const b = await blocked.readable.getReader().read().then(() => null, (e: unknown) => e) as WispStreamClosedError;
    expect(b.reason).toBe(0x48);
    expect(b.reasonName).toBe("destination blocked");
    expect(client.streamCount).toBe(0);
    client.close();
  });

  it("the server's WebSocket dying mid-stream errors every stream with WebSocketClosedError", async () => {
    const client = await connectWisp(wispUrl);
    const a = await tlsOver(client);
    const b = await tlsOver(client);
    expect(await roundTrip(a.socket, "a")).toBe("a");
    upgrades.at(-1)!.destroy();
    const [ea, eb] = await Promise.all([a.socket.closed, b.socket.closed]);
    for (const e of [ea, eb]) {
      expect(e.ending === "error" || e.ending === "truncated").toBe(true);
      expect((e.error as Error).cause).toBeInstanceOf(WebSocketClosedError);
    }
    expect(await client.closed).toBeInstanceOf(WebSocketClosedError);
    expect(client.streamCount).toBe(0);
    await expect(client.connect({ host: "127.0.0.1", port: tlsPort })).rejects.toBeInstanceOf(WebSocketClosedError);
  });

  it("aborts: an aborted signal refuses connect; a TlsSocket's signal mid-stream sends CLOSE (the destination's TCP closes); close() ends every stream", async () => {
    await expect(connectWisp(wispUrl, { signal: AbortSignal.abort(new Error("early")) })).rejects.toThrow("early");
    const client = await connectWisp(wispUrl);
    await expect(client.connect({ host: "127.0.0.1", port: tlsPort }, { signal: AbortSignal.abort(new Error("no")) })).rejects.toThrow("no");
    const controller = new AbortController();
    const { socket, side } = await tlsOver(client, { signal: controller.signal });
    expect(await roundTrip(socket, "abort me")).toBe("abort me");
    controller.abort(new Error("user gave up"));
    expect((await socket.closed).ending).toBe("error");
    await side.closed;
    expect(client.streamCount).toBe(0);

    const t = await client.connect({ host: "127.0.0.1", port: tlsPort });
    client.close();
    await expect(t.readable.getReader().read()).rejects.toBeInstanceOf(WispClosedError);
    await expect(client.connect({ host: "127.0.0.1", port: tlsPort })).rejects.toBeInstanceOf(WispClosedError);
    expect(await client.closed).toBeNull();
  });

  it("leaks nothing: after clean, one-way, refused, aborted and broken streams the wasm heap is where it was and no stream is left", async () => {
    const ossl = await OpenSSL.load();
    const settle = async () => {
      await TlsSocket.clearSessionCache();
      expect(await TlsSocket.clearContextCache()).toBe(0);
    };
    { // warm up: the first connection and the first failure make what OpenSSL keeps for the process
      const client = await connectWisp(wispUrl);
      await (await tlsOver(client)).socket.shutdown();
      await TlsSocket.connect(await client.connect({ host: "127.0.0.1", port: refusedPort }), { ca: identity().certPem, servername: SERVER_NAME })
        .catch(() => {});
      const c = new AbortController();
      const aborted = await tlsOver(client, { signal: c.signal });
      c.abort(new Error("warm-up"));
      await aborted.socket.closed;
      client.close();
    }
    await settle();
    const before = ossl.heapInUse();
    const client = await connectWisp(wispUrl);
    const clean = await tlsOver(client);
    const oneWay = await tlsOver(client);
    const controller = new AbortController();
    const aborted = await tlsOver(client, { signal: controller.signal });
    const broken = await tlsOver(client);
    expect(await roundTrip(clean.socket, "x")).toBe("x");
    await clean.socket.shutdown({ mode: "bidirectional" });
    await oneWay.socket.shutdown({ mode: "unidirectional" });
    controller.abort(new Error("stop"));
    await aborted.socket.closed;
    await expect(TlsSocket.connect(await client.connect({ host: "127.0.0.1", port: refusedPort }), { ca: identity().certPem, servername: SERVER_NAME }))
      .rejects.toThrow(/handshake|transport/);
    upgrades.at(-1)!.destroy(); // the WebSocket dies under `broken`
    await broken.socket.closed;
    expect(await client.closed).toBeInstanceOf(WebSocketClosedError);
    expect(client.streamCount).toBe(0);
    await settle();
    expect(ossl.heapInUse()).toBeLessThanOrEqual(before);
  });

  it("refuses bad destinations and options with TypeError/RangeError", async () => {
    await expect(connectWisp(wispUrl, { timeout: -1 })).rejects.toThrow(RangeError);
    await expect(connectWisp(wispUrl, { maxBufferedBytes: 0 })).rejects.toThrow(RangeError);
    const client = await connectWisp(wispUrl);
    await expect(client.connect({ host: "", port: 1 })).rejects.toThrow(TypeError);
    await expect(client.connect({ host: "x", port: 0 })).rejects.toThrow(RangeError);
    await expect(client.connect({ host: "x", port: 65536 })).rejects.toThrow(RangeError);
    expect(client.streamCount).toBe(0);
    client.close();
    expect(wispCloseReasonName(0x44)).toBe("connection refused");
    expect(wispCloseReasonName(0x99)).toBe("reason 0x99");
  });
});

// ---- a raw server that sends what we tell it

/** Packets the client sent, parsed. */
interface Packet { type: number; id: number; payload: Uint8Array }
function parse(data: Buffer): Packet {
  return { type: data[0]!, id: data.readUInt32LE(1), payload: new Uint8Array(data.subarray(5)) };
}
function pkt(type: number, id: number, payload: number[] | Uint8Array = []): Buffer {
  const b = Buffer.alloc(5 + payload.length);
  b[0] = type;
  b.writeUInt32LE(id, 1);
  Buffer.from(payload).copy(b, 5);
  return b;
}
const cont = (id: number, n: number) => pkt(3, id, [n & 255, (n >> 8) & 255, (n >> 16) & 255, n >>> 24]);

interface RawPeer { ws: WebSocket; next(): Promise<Packet>; closeCode: Promise<number> }

let raw: WebSocketServer;
let rawUrl: string;
let onPeer: (peer: RawPeer) => void = () => {};
beforeAll(async () => {
  raw = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await once(raw, "listening");
  rawUrl = `ws://127.0.0.1:${(raw.address() as net.AddressInfo).port}/`;
  raw.on("connection", (ws) => {
    const queue: Packet[] = [];
    const waiters: ((p: Packet) => void)[] = [];
    ws.on("message", (d: Buffer) => {
      const p = parse(d);
      const w = waiters.shift();
      if (w) w(p);
      else queue.push(p);
    });
    const closeCode = new Promise<number>((r) => ws.on("close", (code) => r(code)));
    onPeer({ ws, next: () => (queue.length ? Promise.resolve(queue.shift()!) : new Promise((r) => waiters.push(r))), closeCode });
  });
});
afterAll(() => raw?.close());

/** A client connected to the raw server, with the server's side of it. */
async function rawClient(handshake: Buffer | null = cont(0, 8), options = {}): Promise<{ client: WispClient; peer: RawPeer }> {
  const peering = new Promise<RawPeer>((r) => (onPeer = r));
  const connecting = connectWisp(rawUrl, { WebSocket: WS, ...options });
  const peer = await peering;
  if (handshake) peer.ws.send(handshake);
  return { client: await connecting, peer };
}

/** Opens a stream; returns it and its id as the server saw the CONNECT. */
async function stream(client: WispClient, peer: RawPeer): Promise<{ t: Transport; id: number }> {
  const t = await client.connect({ host: "example.test", port: 443 });
  const p = await peer.next();
  expect(p.type).toBe(1);
  expect(p.payload[0]).toBe(1); // TCP
  expect(p.payload[1]! | (p.payload[2]! << 8)).toBe(443);
  expect(new TextDecoder().decode(p.payload.subarray(3))).toBe("example.test");
  expect(p.id).not.toBe(0);
  return { t, id: p.id };
}

describe("Wisp over wisp-js: a long-lived client", () => {
  let echo: net.Server;
  let echoPort: number;
  let client: WispClient;
  beforeAll(async () => {
    echo = net.createServer({ allowHalfOpen: true }, (s) => {
      s.on("error", () => {});
      s.on("data", (d) => s.write(d));
      s.on("end", () => s.end());
    });
    echo.listen(0, "127.0.0.1");
    await once(echo, "listening");
    echoPort = (echo.address() as net.AddressInfo).port;
    client = await connectWisp(wispUrl);
  });
  afterAll(() => {
    client.close();
    echo.close();
  });

  it("one stream: no more memory after 9,000 more echoed messages than after the first 1,000", async () => {
    const transport = await client.connect({ host: "127.0.0.1", port: echoPort });
    const w = transport.writable.getWriter(), r = transport.readable.getReader();
    const message = new Uint8Array(50);
    const echoes = async (n: number) => {
      for (let i = 0; i < n; i++) {
        await w.write(message);
        for (let got = 0; got < message.length;) got += (await r.read()).value!.length;
      }
    };
    const growth = await heapGrowth(echoes, 1_000, 9_000);
    expect(growth.js).toBeLessThan(4 << 20); // measured ~0.2 MB
    await w.close();
    expect((await r.read()).done).toBe(true);
  }, 60_000);

  it("one WispClient: no more memory after 1,500 more streams opened and closed than after the first 500", async () => {
    const streams = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const transport = await client.connect({ host: "127.0.0.1", port: echoPort });
        const w = transport.writable.getWriter(), r = transport.readable.getReader();
        await w.write(text("x"));
        await r.read();
        await w.close(); // CLOSE 0x02: the id is remembered (a bounded set) for the server's late packets
        await r.read();
      }
    };
    const growth = await heapGrowth(streams, 500, 1_500);
    expect(growth.js).toBeLessThan(4 << 20);
    expect(client.streamCount).toBe(0);
  }, 60_000);
});

describe("Wisp protocol errors (a raw server)", () => {
  async function expectProtocolError(send: (peer: RawPeer, id: number) => void, match: RegExp): Promise<WispProtocolError> {
    const { client, peer } = await rawClient();
    const { t, id } = await stream(client, peer);
    send(peer, id);
    const error = await t.readable.getReader().read().then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(WispProtocolError);
    expect((error as Error).message).toMatch(match);
    expect(await client.closed).toBe(error);
    expect(await peer.closeCode).toBe(1002);
    expect(client.streamCount).toBe(0);
    await expect(t.writable.getWriter().write(text("x"))).rejects.toBe(error);
    return error as WispProtocolError;
  }

  it("an unknown packet type", async () => {
    const e = await expectProtocolError((p, id) => p.ws.send(pkt(0x09, id, [1, 2])), /unknown Wisp packet type 0x09/);
    expect(e.packetType).toBe(9);
  });
  it("a truncated packet (shorter than its header)", () => expectProtocolError((p) => p.ws.send(Buffer.from([2, 1, 0])), /truncated Wisp packet: 3 bytes/));
  it("a CONTINUE with a truncated payload", () => expectProtocolError((p, id) => p.ws.send(pkt(3, id, [1, 0])), /malformed CONTINUE: a 2-byte payload/));
  it("a CLOSE without its reason", () => expectProtocolError((p, id) => p.ws.send(pkt(4, id)), /malformed CLOSE: a 0-byte payload/));
  it("CONTINUE for a stream never opened", () => expectProtocolError((p, id) => p.ws.send(cont((id ^ 0x5a5a) >>> 0, 4)), /CONTINUE for stream \d+, which this client never opened/));
  it("DATA for a stream never opened", async () => {
    const e = await expectProtocolError((p, id) => p.ws.send(pkt(2, (id ^ 0x5a5a) >>> 0, [1])), /DATA for stream \d+, which this client never opened/);
    expect(e.streamId).not.toBeUndefined();
  });
  it("a CONNECT from the server", () => expectProtocolError((p, id) => p.ws.send(pkt(1, id, [1, 80, 0, 120])), /sent a CONNECT packet/));
  it("DATA on stream 0", () => expectProtocolError((p) => p.ws.send(pkt(2, 0, [1])), /DATA on stream 0/));
  it("a text message", () => expectProtocolError((p) => p.ws.send("hello"), /text message/));

  it("the handshake's CONTINUE missing: DATA first, or a Wisp v2 INFO, or a bad CONTINUE: connectWisp rejects", async () => {
    for (const [first, match] of [
      [pkt(2, 7, [1]), /expected the handshake's CONTINUE on stream 0, got DATA on stream 7/],
      [pkt(5, 0, [2, 0]), /got INFO on stream 0 \(Wisp v2/],
      [cont(5, 8), /got CONTINUE on stream 5/],
      [pkt(3, 0, [8]), /malformed CONTINUE/],
    ] as const) {
      const peering = new Promise<RawPeer>((r) => (onPeer = r));
      const connecting = connectWisp(rawUrl, { WebSocket: WS });
      const peer = await peering;
      peer.ws.send(first);
      await expect(connecting).rejects.toThrow(match);
      await expect(connecting).rejects.toBeInstanceOf(WispProtocolError);
      expect(await peer.closeCode).toBe(1002);
    }
  });

  it("no CONTINUE at all: ConnectTimeoutError after `timeout`, or the signal's reason; the WebSocket is closed", async () => {
    let peering = new Promise<RawPeer>((r) => (onPeer = r));
    await expect(connectWisp(rawUrl, { WebSocket: WS, timeout: 200 })).rejects.toBeInstanceOf(ConnectTimeoutError);
    await (await peering).closeCode;
    peering = new Promise<RawPeer>((r) => (onPeer = r));
    const controller = new AbortController();
    const connecting = connectWisp(rawUrl, { WebSocket: WS, signal: controller.signal });
    const peer = await peering;
    controller.abort(new Error("stop waiting"));
    await expect(connecting).rejects.toThrow("stop waiting");
    await peer.closeCode;
  });

  it("a message larger than maxMessageBytes: the connection fails with 1009 (the `ws` package refuses it itself; another WebSocket, with WebSocketLimitError)", async () => {
    {
      const { client, peer } = await rawClient(cont(0, 8), { maxMessageBytes: 1024 });
      const { t, id } = await stream(client, peer);
      peer.ws.send(pkt(2, id, new Uint8Array(2048)));
      const e = await t.readable.getReader().read().then(() => null, (x: unknown) => x) as WebSocketClosedError;
      expect(e).toBeInstanceOf(WebSocketClosedError); // locally 1006, with the `ws` package's RangeError as the cause
      expect(String((e.cause as Error)?.message)).toMatch(/Max payload size exceeded/);
      expect(await peer.closeCode).toBe(1009);
      expect(client.streamCount).toBe(0);
    }
    // A WebSocket class without maxPayload: the client's own check.
    class NoMaxPayload extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols);
      }
    }
    const { client, peer } = await rawClient(cont(0, 8), { maxMessageBytes: 1024, WebSocket: NoMaxPayload });
    const { t, id } = await stream(client, peer);
    peer.ws.send(pkt(2, id, new Uint8Array(2048)));
    const e = await t.readable.getReader().read().then(() => null, (x: unknown) => x) as WebSocketLimitError;
    expect(e).toBeInstanceOf(WebSocketLimitError);
    expect([e.limit, e.bytes, e.max]).toEqual(["maxMessageBytes", 2053, 1024]);
    expect(await peer.closeCode).toBe(1009);
    expect(client.streamCount).toBe(0);
  });

  it("a stream whose reader lags beyond maxBufferedBytes errors alone with WebSocketLimitError and is closed with 0x81", async () => {
    const { client, peer } = await rawClient(cont(0, 8), { maxBufferedBytes: 64 * 1024 });
    const a = await stream(client, peer);
    const b = await stream(client, peer);
    for (let i = 0; i < 8; i++) peer.ws.send(pkt(2, a.id, new Uint8Array(16 * 1024)));
    const close = await peer.next();
    expect([close.type, close.id, close.payload[0]]).toEqual([4, a.id, 0x81]);
    const reader = a.t.readable.getReader();
    await expect((async () => { for (;;) if ((await reader.read()).done) break; })()).rejects.toBeInstanceOf(WebSocketLimitError);
    // The other stream goes on.
    peer.ws.send(pkt(2, b.id, [7]));
    expect((await b.t.readable.getReader().read()).value).toEqual(new Uint8Array([7]));
    expect(client.streamCount).toBe(1);
    client.close();
  });

  it("DATA respects the credit in packets: 2 credits, 5 packets' worth waits for CONTINUE", async () => {
    const { client, peer } = await rawClient(cont(0, 2));
    const { t, id } = await stream(client, peer);
    const w = t.writable.getWriter();
    const writing = w.write(new Uint8Array(5 * 64 * 1024 - 3)); // 5 packets of at most 64 KiB
    const first = [await peer.next(), await peer.next()];
    expect(first.map((p) => [p.type, p.id, p.payload.length])).toEqual([[2, id, 65536], [2, id, 65536]]);
    const third = peer.next();
    const early = await Promise.race([third.then(() => "sent"), new Promise((r) => setTimeout(() => r("waiting"), 150))]);
    expect(early).toBe("waiting"); // no credit left: the third packet waits
    peer.ws.send(cont(id, 10));
    const rest = [await third, await peer.next(), await peer.next()];
    expect(rest.map((p) => [p.type, p.id, p.payload.length])).toEqual([[2, id, 65536], [2, id, 65536], [2, id, 65533]]);
    await writing;
    expect(client.streamCount).toBe(1);
    client.close();
  });

  it("CLOSE with a reason: the readable errors naming it, writes reject, nothing is left", async () => {
    const { client, peer } = await rawClient();
    const { t, id } = await stream(client, peer);
    peer.ws.send(pkt(2, id, [1, 2, 3]));
    peer.ws.send(pkt(4, id, [0x44]));
    const reader = t.readable.getReader();
    expect((await reader.read()).value).toEqual(new Uint8Array([1, 2, 3])); // data before the CLOSE first
    const e = await reader.read().then(() => null, (x: unknown) => x) as WispStreamClosedError;
    expect(e).toBeInstanceOf(WispStreamClosedError);
    expect([e.reason, e.reasonName, e.streamId]).toEqual([0x44, "connection refused", id]);
    expect(e.message).toMatch(/reason 0x44: connection refused/);
    await expect(t.writable.getWriter().write(text("x"))).rejects.toBeInstanceOf(WispStreamClosedError);
    expect(client.streamCount).toBe(0);
    client.close();
  });

  it("CLOSE 0x02 ends the readable normally; closing the writable sends CLOSE 0x02 and late packets for that stream are dropped", async () => {
    const { client, peer } = await rawClient();
    const a = await stream(client, peer);
    peer.ws.send(pkt(2, a.id, [9]));
    peer.ws.send(pkt(4, a.id, [0x02]));
    const reader = a.t.readable.getReader();
    expect((await reader.read()).value).toEqual(new Uint8Array([9]));
    expect((await reader.read()).done).toBe(true);
    await a.t.writable.getWriter().close(); // after the server's CLOSE: nothing to send

    const b = await stream(client, peer);
    const w = b.t.writable.getWriter();
    await w.write(text("last"));
    await w.close();
    const data = await peer.next();
    expect([data.type, new TextDecoder().decode(data.payload)]).toEqual([2, "last"]);
    const close = await peer.next();
    expect([close.type, close.id, close.payload[0]]).toEqual([4, b.id, 0x02]);
    expect((await b.t.readable.getReader().read()).done).toBe(true); // no half-close: readable ended too
    // In flight before the server saw our CLOSE, and its answering CLOSE: dropped, not errors.
    peer.ws.send(pkt(2, b.id, [1]));
    peer.ws.send(cont(b.id, 4));
    peer.ws.send(pkt(4, b.id, [0x02]));
    peer.ws.send(pkt(4, 12345, [0x02])); // a CLOSE for a stream not open: harmless, ignored
    const c = await stream(client, peer);
    peer.ws.send(pkt(2, c.id, [5]));
    expect((await c.t.readable.getReader().read()).value).toEqual(new Uint8Array([5]));
    client.close();
    expect(await client.closed).toBeNull();
  });

  it("aborting a stream's writable or cancelling its readable sends CLOSE 0x02; the other direction ends with it", async () => {
    const { client, peer } = await rawClient();
    const a = await stream(client, peer);
    const reader = a.t.readable.getReader();
    await a.t.writable.getWriter().abort(new Error("reset by the application"));
    const close = await peer.next();
    expect([close.type, close.id, close.payload[0]]).toEqual([4, a.id, 0x02]);
    await expect(reader.read()).rejects.toThrow("reset by the application");

    const b = await stream(client, peer);
    await b.t.readable.cancel();
    const closeB = await peer.next();
    expect([closeB.type, closeB.id, closeB.payload[0]]).toEqual([4, b.id, 0x02]);
    await expect(b.t.writable.getWriter().write(text("x"))).rejects.toBeInstanceOf(WispStreamClosedError);
    expect(client.streamCount).toBe(0);
    client.close();
  });

  it("CLOSE on stream 0: the server ended the connection; every stream errors with its reason", async () => {
    const { client, peer } = await rawClient();
    const a = await stream(client, peer);
    peer.ws.send(pkt(4, 0, [0x49]));
    const e = await a.t.readable.getReader().read().then(() => null, (x: unknown) => x) as WispStreamClosedError;
    expect(e).toBeInstanceOf(WispStreamClosedError);
    expect([e.reason, e.streamId, e.reasonName]).toEqual([0x49, 0, "throttled"]);
    expect(await client.closed).toBe(e);
  });
});

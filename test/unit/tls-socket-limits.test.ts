// TlsSocket against hostile or broken peers (issue 9, items 3-5): bounded
// memory (input reaches the wasm heap only as OpenSSL consumes it, WebSocket
// message and buffer limits), handshake and idle timeouts, AbortSignal, no
// internal error after the end, a peer that answers close_notify with a
// transport close, and a heap that returns to where it was after a burst.
import { once } from "node:events";
import * as net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import {
  OpenSSL, TlsClosedError, TlsSocket, TlsTimeoutError, TlsTruncationError, WebSocketClosedError, WebSocketLimitError, connectWebSocket, fromWebSocket, memoryPair, type Transport, type WebSocketLike,
} from "../../bindings/src/index.js";
import { fromNodeSocket } from "../../bindings/src/node.js";
import { SERVER_NAME, identity, str, text } from "../helpers/harness.js";

const id = identity();
let ossl: OpenSSL;
beforeAll(async () => {
  ossl = await OpenSSL.load();
});

const clientOptions = (openssl: OpenSSL) => ({ openssl, ca: id.certPem, servername: SERVER_NAME });
const serverOptions = (openssl: OpenSSL) => ({ openssl, cert: id.certPem, key: id.keyPem });

async function pairOfSockets(openssl = ossl, server = {}, client = {}) {
  const [a, b] = memoryPair();
  return Promise.all([
    TlsSocket.connect(a, { ...clientOptions(openssl), ...client }),
    TlsSocket.accept(b, { ...serverOptions(openssl), ...server }),
  ]);
}

/** Wasm linear memory in bytes (it grows, never shrinks). */
const memoryOf = (o: OpenSSL) => o.memoryBytes();

/** A transport whose chunks towards the reader can be held back and then delivered as one. */
function coalescing(t: Transport): Transport & { hold(): void; release(): void } {
  const held: Uint8Array[] = [];
  let holding = false;
  let ctl!: TransformStreamDefaultController<Uint8Array>;
  const ts = new TransformStream<Uint8Array, Uint8Array>({
    start: (c) => void (ctl = c),
    transform: (chunk, c) => void (holding ? held.push(chunk) : c.enqueue(chunk)),
  });
  void t.readable.pipeTo(ts.writable).catch(() => {});
  return {
    readable: ts.readable,
    writable: t.writable,
    hold: () => void (holding = true),
    release: () => {
      holding = false;
      ctl.enqueue(Buffer.concat(held.splice(0)));
    },
  };
}

describe("bounded input (item 3)", () => {
  it("one 64 MiB transport chunk of garbage: the handshake fails and the wasm memory stays put", async () => {
    const fresh = await OpenSSL.instantiate();
    const [a, b] = memoryPair();
    const before = memoryOf(fresh);
    const accepting = TlsSocket.accept(b, serverOptions(fresh));
    const w = a.writable.getWriter();
    void w.write(new Uint8Array(64 << 20).fill(0x16)).catch(() => {});
    await expect(accepting).rejects.toThrow(/handshake failed/);
    expect(memoryOf(fresh) - before).toBeLessThan(2 << 20);
  });

  it("8 MiB of real records arriving as one chunk are read intact, fed at most 32 KiB at a time", async () => {
    const fresh = await OpenSSL.instantiate();
    const [a, b] = memoryPair();
    const toServer = coalescing(b);
    const [client, server] = await Promise.all([
      TlsSocket.connect(a, clientOptions(fresh)),
      TlsSocket.accept(toServer, serverOptions(fresh)),
    ]);
    toServer.hold();
    const data = new Uint8Array(8 << 20);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31 + (i >> 12)) & 0xff;
    const w = client.writable.getWriter();
    await w.write(data);
    await w.close(); // our close_notify follows the data, in the same held chunk
    const before = memoryOf(fresh);
    toServer.release();
    const got = new Uint8Array(data.length);
    let n = 0;
    let maxBacklog = 0;
    for await (const chunk of server.readable) {
      got.set(chunk, n);
      n += chunk.length;
      maxBacklog = Math.max(maxBacklog, server.connection.pendingInput);
    }
    expect(n).toBe(data.length);
    expect(Buffer.from(got).equals(Buffer.from(data))).toBe(true);
    expect(maxBacklog).toBeLessThanOrEqual(32 * 1024);
    expect(memoryOf(fresh) - before).toBeLessThan(1 << 20);
    await server.shutdown({ mode: "unidirectional" });
    expect((await client.closed).ending).toBe("clean");
  });

  describe("WebSocket transport", () => {
    let wss: WebSocketServer;
    let url = "";
    let send: (ws: WebSocket) => void = () => {};
    beforeAll(async () => {
      wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
      await once(wss, "listening");
      url = `ws://127.0.0.1:${(wss.address() as net.AddressInfo).port}/`;
      wss.on("connection", (ws) => send(ws));
    });
    afterAll(() => new Promise<void>((r) => wss.close(() => r())));

    it("a 64 MiB message is refused before it reaches OpenSSL (connectWebSocket: close 1009, memory flat)", async () => {
      send = (ws) => ws.send(new Uint8Array(64 << 20));
      const fresh = await OpenSSL.instantiate();
      const before = memoryOf(fresh);
      const transport = await connectWebSocket(url, { WebSocket: WebSocket as never });
      const error = await TlsSocket.connect(transport, clientOptions(fresh)).catch((e: Error) => e);
      expect(error).toBeInstanceOf(Error);
      const closed = (error as Error).cause as WebSocketClosedError;
      expect(closed).toBeInstanceOf(WebSocketClosedError);
      // `ws` sent close 1009 and dropped the connection without waiting for the reply (1006 locally)
      expect(closed.cause).toMatchObject({ name: "RangeError", message: "Max payload size exceeded" });
      expect(memoryOf(fresh) - before).toBeLessThan(2 << 20);
    });

    it("fromWebSocket (a WebSocket that cannot refuse it itself, as in browsers): WebSocketLimitError, close 1009", async () => {
      send = (ws) => ws.send(new Uint8Array((1 << 20) + 1));
      const ws = new WebSocket(url); // no maxPayload: the message arrives whole
      const closed = once(ws, "close");
      const transport = await fromWebSocket(ws as never);
      const reader = transport.readable.getReader();
      const error = await reader.read().catch((e: Error) => e);
      expect(error).toBeInstanceOf(WebSocketLimitError);
      expect(error).toMatchObject({ limit: "maxMessageBytes", bytes: (1 << 20) + 1, max: 1 << 20 });
      const [code] = await closed;
      expect(code).toBe(1009);
    });

    it("more unread data than maxBufferedBytes (a WebSocket that cannot pause, as in browsers): WebSocketLimitError", async () => {
      send = (ws) => {
        for (let i = 0; i < 40; i++) ws.send(new Uint8Array(64 * 1024));
      };
      const ws = new WebSocket(url);
      const closed = once(ws, "close");
      const transport = await fromWebSocket(unpausable(ws), { maxBufferedBytes: 1 << 20 });
      expect((await closed)[0]).toBe(1009);
      const error = await transport.readable.getReader().read().catch((e: Error) => e);
      expect(error).toBeInstanceOf(WebSocketLimitError);
      expect((error as WebSocketLimitError).limit).toBe("maxBufferedBytes");
    });

    it("limits are validated", async () => {
      const ws = new WebSocket(url);
      ws.on("error", () => {}); // closed before it opened: nothing listens once validation has thrown
      await expect(fromWebSocket(ws as never, { maxMessageBytes: 0 })).rejects.toThrow(RangeError);
      await expect(fromWebSocket(ws as never, { maxBufferedBytes: Number.NaN })).rejects.toThrow(RangeError);
      ws.close();
    });
  });
});

describe("timeouts and AbortSignal", () => {
  it("a client that sends half a ClientHello and stops: accept() rejects with TlsTimeoutError, everything is freed", async () => {
    const fresh = await OpenSSL.instantiate();
    const [c0, s0] = await pairOfSockets(fresh); // warm-up: first-use allocations (error strings, provider caches)
    await Promise.all([c0.destroy(), s0.destroy()]);
    const baseline = fresh.heapInUse();
    const server = net.createServer({ allowHalfOpen: true });
    const results: Promise<unknown>[] = [];
    server.on("connection", (s) => {
      results.push(TlsSocket.accept(fromNodeSocket(s), { ...serverOptions(fresh), handshakeTimeout: 300 }).catch((e: Error) => e));
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const port = (server.address() as net.AddressInfo).port;
    // A real ClientHello (what a client writes first), cut in half.
    const probe = memoryPair();
    void TlsSocket.connect(probe[0], { ...clientOptions(ossl), handshakeTimeout: 0 }).catch(() => {});
    const first = (await probe[1].readable.getReader().read()).value!;
    const clients = await Promise.all(Array.from({ length: 50 }, async () => {
      const c = net.connect(port, "127.0.0.1");
      await once(c, "connect");
      c.write(first.subarray(0, first.length >> 1));
      return c;
    }));
    await new Promise((r) => setTimeout(r, 50));
    expect(fresh.heapInUse()).toBeGreaterThan(baseline); // 50 half-handshakes are held...
    const errors = await Promise.all(await waitFor(() => results.length === 50, results));
    for (const e of errors) {
      expect(e).toBeInstanceOf(TlsTimeoutError);
      expect(e).toMatchObject({ phase: "handshake", timeoutMs: 300 });
    }
    // ...and all freed (give or take OpenSSL's error queue, whose 16 slots keep small text buffers)
    expect(Math.abs(fresh.heapInUse() - baseline)).toBeLessThanOrEqual(1024);
    // and their transports were closed
    await Promise.all(clients.map(async (c) => {
      if (!c.destroyed) await once(c, "close");
    }));
    server.close();
  });

  it("a client whose server never answers: connect() rejects with TlsTimeoutError", async () => {
    const [a] = memoryPair();
    const started = Date.now();
    await expect(TlsSocket.connect(a, { ...clientOptions(ossl), handshakeTimeout: 200 })).rejects.toMatchObject({
      name: "TlsTimeoutError", phase: "handshake",
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
  });

  for (const role of ["server", "client"] as const) {
    it(`idleTimeout (${role}): traffic keeps it open; silence closes it with TlsTimeoutError, the peer sees truncation`, async () => {
      const limit = { idleTimeout: 250 };
      const [client, server] = await pairOfSockets(ossl, role === "server" ? limit : {}, role === "client" ? limit : {});
      const [timed, peer] = role === "server" ? [server, client] : [client, server];
      const w = peer.writable.getWriter();
      const reader = timed.readable.getReader();
      for (let i = 0; i < 6; i++) { // 600 ms of traffic, every 100 ms
        await w.write(text(`ping ${i}`));
        expect(str((await reader.read()).value!)).toBe(`ping ${i}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const end = await timed.closed;
      expect(end.ending).toBe("error");
      expect(end.error).toBeInstanceOf(TlsTimeoutError);
      expect(end.error).toMatchObject({ phase: "idle", timeoutMs: 250 });
      await expect(reader.read()).rejects.toBeInstanceOf(TlsTimeoutError);
      expect((await peer.closed).ending).toBe("truncated");
    });
  }

  it("timeouts are validated", async () => {
    const [a] = memoryPair();
    await expect(TlsSocket.connect(a, { ...clientOptions(ossl), handshakeTimeout: -1 })).rejects.toThrow(RangeError);
    await expect(TlsSocket.connect(a, { ...clientOptions(ossl), idleTimeout: 1.5 })).rejects.toThrow(RangeError);
    await expect(TlsSocket.connect(a, { ...clientOptions(ossl), signal: {} as never })).rejects.toThrow(TypeError);
  });

  it("AbortSignal: aborted during the handshake, connect() rejects with its reason; afterwards the readable errors", async () => {
    const [a] = memoryPair();
    const early = new AbortController();
    const connecting = TlsSocket.connect(a, { ...clientOptions(ossl), signal: early.signal });
    early.abort(new Error("user went away"));
    await expect(connecting).rejects.toThrow("user went away");
    await expect(TlsSocket.connect(memoryPair()[0], { ...clientOptions(ossl), signal: AbortSignal.abort() }))
      .rejects.toMatchObject({ name: "AbortError" });
    // aborted while connect() still awaits OpenSSL.load() (no `openssl` given), before the socket exists
    const setup = new AbortController();
    const loading = TlsSocket.connect(memoryPair()[0], { ca: id.certPem, servername: SERVER_NAME, signal: setup.signal });
    setup.abort(new Error("gone during setup"));
    await expect(loading).rejects.toThrow("gone during setup");

    const later = new AbortController();
    const [client] = await pairOfSockets(ossl, {}, { signal: later.signal });
    const reading = client.readable.getReader().read();
    later.abort();
    await expect(reading).rejects.toMatchObject({ name: "AbortError" });
    expect((await client.closed).ending).toBe("error");
  });
});

describe("after the end (item 4): typed errors, never UseAfterFreeError", () => {
  it("a write after shutdown() rejects with TlsClosedError; info and peerChain stay readable", async () => {
    const [client, server] = await pairOfSockets();
    const serverSide = (async () => {
      for await (const _ of server.readable);
      await server.shutdown({ mode: "unidirectional" });
    })();
    await client.shutdown({ mode: "bidirectional" });
    await serverSide;
    const w = client.writable.getWriter();
    const error = await w.write(text("too late")).catch((e: Error) => e);
    expect(error).toBeInstanceOf(TlsClosedError);
    expect(error).toMatchObject({ ending: "clean" });
    expect(client.info.protocol).toBe("TLSv1.3");
    expect(client.info.peerCertificate?.subject).toBe(`/CN=${SERVER_NAME}`);
    expect(client.peerChain).toHaveLength(1);
  });

  it("a read pending when a unidirectional shutdown ends the socket resolves done", async () => {
    const [client] = await pairOfSockets();
    const reader = client.readable.getReader();
    const pending = reader.read();
    await new Promise((r) => setTimeout(r, 20)); // the read is waiting for the transport
    const report = await client.shutdown({ mode: "unidirectional" });
    expect(report.ending).toBe("one-way");
    expect(await pending).toEqual({ done: true, value: undefined });
    expect(client.shutdownState).toEqual({ sent: true, received: false });
  });
});

describe("a peer that answers our close_notify by closing the transport (item 5)", () => {
  /** Our server, acting like nginx: on the client's close_notify it closes TCP without answering. */
  async function nginxLike() {
    const [client, server] = await pairOfSockets();
    void (async () => {
      for await (const _ of server.readable);
      await server.destroy(); // transport closed, no close_notify
    })();
    return client;
  }

  it("bidirectional: rejects with TlsTruncationError and ends truncated, as SSL_read reports it natively", async () => {
    const client = await nginxLike();
    await expect(client.shutdown({ mode: "bidirectional" })).rejects.toBeInstanceOf(TlsTruncationError);
    expect((await client.closed).ending).toBe("truncated");
  });

  it("bidirectional with acceptEof: resolves one-way, the report showing OpenSSL's unexpected-EOF read", async () => {
    const client = await nginxLike();
    const report = await client.shutdown({ mode: "bidirectional", acceptEof: true });
    expect(report).toMatchObject({ ret: 0, ending: "one-way" });
    expect(report.steps.map((st) => `${st.call} ${st.ret} ${st.sslError}`)).toEqual(["SSL_shutdown 0 syscall", "SSL_read 0 ssl"]);
    expect(report.steps[1]!.failure?.reasonString).toBe("unexpected eof while reading");
    expect(await client.closed).toMatchObject({ ending: "one-way", state: { sent: true, received: false } });
    expect((await client.closed).error).toBeUndefined();
  });

  it("acceptEof does not excuse an EOF that came before our close_notify (a truncated stream)", async () => {
    const [client, server] = await pairOfSockets();
    await server.destroy();
    const reader = client.readable.getReader();
    await expect(reader.read()).rejects.toBeInstanceOf(TlsTruncationError); // the EOF is seen first
    await expect(client.shutdown({ mode: "bidirectional", acceptEof: true })).rejects.toBeInstanceOf(TlsTruncationError);
    expect((await client.closed).ending).toBe("truncated");
  });
});

describe("memory after a burst", () => {
  let peak = 0;
  it("100 concurrent connections moving 256 KiB each way: the heap in use returns to where it was", async () => {
    const fresh = await OpenSSL.instantiate();
    const cctx = fresh.createContext({ role: "client", ca: id.certPem });
    const sctx = fresh.createContext({ role: "server", cert: id.certPem, key: id.keyPem });
    const run = async () => {
      const [a, b] = memoryPair();
      const [client, server] = await Promise.all([
        TlsSocket.connect(a, { context: cctx, servername: SERVER_NAME }),
        TlsSocket.accept(b, { context: sctx }),
      ]);
      const echo = (async () => {
        const w = server.writable.getWriter();
        for await (const chunk of server.readable) await w.write(chunk);
        await w.close();
      })();
      const w = client.writable.getWriter();
      const sending = (async () => {
        for (let i = 0; i < 16; i++) await w.write(new Uint8Array(16384).fill(i));
        await w.close();
      })();
      let got = 0;
      for await (const chunk of client.readable) {
        got += chunk.length;
        peak = Math.max(peak, fresh.heapInUse());
      }
      await Promise.all([sending, echo]);
      expect(got).toBe(256 * 1024);
      expect((await client.closed).ending).toBe("clean");
    };
    await run(); // warm-up: first-use allocations (error strings, provider caches)
    const baseline = fresh.heapInUse();
    peak = 0;
    await Promise.all(Array.from({ length: 100 }, run));
    expect(peak - baseline).toBeGreaterThan(100 * 16 * 1024); // they were all alive at once
    expect(fresh.heapInUse()).toBeLessThanOrEqual(baseline + 64 * 1024);
    cctx.dispose();
    sctx.dispose();
  });
});

/** A `ws` WebSocket seen through the standard API only (no pause/resume), like a browser's. */
function unpausable(ws: WebSocket): WebSocketLike {
  return {
    get binaryType() { return ws.binaryType; },
    set binaryType(t: string) { ws.binaryType = t as never; },
    get readyState() { return ws.readyState; },
    get bufferedAmount() { return ws.bufferedAmount; },
    send: (d) => ws.send(d),
    close: (code, reason) => ws.close(code, reason),
    addEventListener: (type, fn) => ws.addEventListener(type as never, fn as never),
  };
}

/** Resolves `items` once `ready()` holds (polling). */
async function waitFor<T>(ready: () => boolean, items: T): Promise<T> {
  while (!ready()) await new Promise((r) => setTimeout(r, 10));
  return items;
}


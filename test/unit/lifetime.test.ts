// Lifetimes, misuse and bad input: typed errors instead of wasm traps, and a
// heap that returns to where it started.
import { beforeAll, describe, expect, it } from "vitest";
import { OpenSSL, UseAfterFreeError } from "../../bindings/src/index.js";
import { Pair, expectResult, identity, load, str, text } from "../helpers/harness.js";

let ossl: OpenSSL;
beforeAll(async () => {
  ossl = await load();
});

describe("misuse", () => {
  it("throws UseAfterFreeError for disposed objects, never traps", () => {
    const p = new Pair(ossl);
    p.handshake();
    const session = p.client.getSession()!;
    p.dispose();
    expect(() => p.client.read()).toThrow(UseAfterFreeError);
    expect(() => p.client.shutdown()).toThrow(UseAfterFreeError);
    expect(() => p.client.feed(new Uint8Array(1))).toThrow(UseAfterFreeError);
    expect(() => p.client.drain()).toThrow(UseAfterFreeError);
    expect(() => p.cctx.createConnection()).toThrow(UseAfterFreeError);
    p.dispose(); // idempotent
    session.dispose();
    expect(() => session.resumable).toThrow(UseAfterFreeError);
    expect(() => p.client.setSession(session)).toThrow(UseAfterFreeError);
  });

  it("a context disposes its live connections", () => {
    const ctx = ossl.createContext({ role: "client", verify: false, ca: "none" });
    const a = ctx.createConnection();
    const b = ctx.createConnection();
    ctx.dispose();
    expect(a.disposed && b.disposed).toBe(true);
    expect(() => a.handshake()).toThrow(UseAfterFreeError);
  });

  it("rejects wrong types and values with TypeError / RangeError", () => {
    expect(() => ossl.createContext({ role: "proxy" } as never)).toThrow(TypeError);
    expect(() => ossl.createContext(null as never)).toThrow(TypeError);
    expect(() => ossl.createContext({ role: "client", minVersion: "TLSv1.0" as never })).toThrow(RangeError);
    expect(() => ossl.createContext({ role: "client", ca: 42 as never })).toThrow(TypeError);
    expect(() => ossl.createContext({ role: "client", alpnProtocols: [""] })).toThrow(RangeError);
    expect(() => ossl.createContext({ role: "server", cert: identity().certPem })).toThrow(/cert and key/);
    using ctx = ossl.createContext({ role: "client", verify: false, ca: "none" });
    using conn = ctx.createConnection();
    expect(() => conn.feed("bytes" as never)).toThrow(TypeError);
    expect(() => conn.write([1, 2] as never)).toThrow(TypeError);
    expect(() => conn.read(0)).toThrow(RangeError);
    expect(() => conn.setOutputCapacity(0)).toThrow(TypeError);
    expect(() => ctx.createConnection({ servername: "a\0b" })).toThrow(TypeError);
    conn.closeInput();
    expect(() => conn.feed(new Uint8Array(1))).toThrow(RangeError);
  });
});

describe("bad input", () => {
  it("garbage instead of a ServerHello: SSL_ERROR_SSL with a reason, a fatal alert, no abort", () => {
    using ctx = ossl.createContext({ role: "client", verify: false, ca: "none" });
    using conn = ctx.createConnection();
    expectResult(conn.handshake(), -1, "want_read");
    conn.drain();
    conn.feed(text("HTTP/1.1 400 Bad Request\r\n\r\n"));
    const r = conn.handshake();
    expectResult(r, -1, "ssl");
    expect(r.failure!.reasonString).toMatch(/wrong version number|packet length too long|record layer failure/);
  });

  it("an oversized record header: SSL_ERROR_SSL 'packet length too long' (or similar), no abort", () => {
    const p = new Pair(ossl);
    p.handshake();
    p.client.read();
    p.client.feed(new Uint8Array([23, 3, 3, 0xff, 0xff, ...new Uint8Array(64)]));
    const r = p.client.read();
    expectResult(r, -1, "ssl");
    expect(r.failure!.reason).toBeGreaterThan(0);
    p.dispose();
  });

  it("moves large writes and feeds through the shared buffer (1 MiB each way, intact)", () => {
    // 1 MiB of records fed at once: over the default inputCapacity (1 MiB), so raise it
    using p = new Pair(ossl, { serverConnection: { inputCapacity: 2 << 20 } });
    p.handshake();
    const big = new Uint8Array(1 << 20);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7919) & 0xff;
    for (let at = 0; at < big.length; at += 65536) {
      expectResult(p.client.write(big.subarray(at, at + 65536)), 65536, "none");
    }
    p.toServer();
    const got = new Uint8Array(big.length);
    let n = 0;
    for (;;) {
      const r = p.server.read(65536);
      if (r.ret <= 0) break;
      got.set(r.data, n);
      n += r.ret;
    }
    expect(n).toBe(big.length);
    expect(Buffer.from(got).equals(Buffer.from(big))).toBe(true);
  });
});

describe("input capacity (issue 9, item 3)", () => {
  it("a failed connection fed 20 MB keeps at most inputCapacity in the heap: RangeError beyond it, nothing half-fed", async () => {
    const fresh = await OpenSSL.instantiate();
    using ctx = fresh.createContext({ role: "client", verify: false, ca: "none" });
    using conn = ctx.createConnection();
    conn.handshake();
    conn.feed(text("HTTP/1.1 400 Bad Request\r\n\r\n"));
    expectResult(conn.handshake(), -1, "ssl"); // fatal: OpenSSL reads no more input
    const memory = () => fresh.memoryBytes();
    const before = memory();
    const chunk = new Uint8Array(64 * 1024);
    let refused = 0;
    for (let fed = 0; fed < 20e6; fed += chunk.length) {
      try {
        conn.feed(chunk);
      } catch (e) {
        expect(e).toBeInstanceOf(RangeError);
        expect((e as Error).message).toMatch(/exceed inputCapacity \(1048576\)/);
        refused++;
      }
    }
    expect(conn.pendingInput).toBeLessThanOrEqual(1 << 20);
    expect(refused).toBeGreaterThan(250);
    expect(memory() - before).toBeLessThanOrEqual(2 << 20);
  });

  it("inputCapacity is validated; Infinity lifts it; outputCapacity takes Infinity too", () => {
    using ctx = ossl.createContext({ role: "client", verify: false, ca: "none" });
    for (const bad of [-1, 1.5, NaN, "1" as never]) {
      expect(() => ctx.createConnection({ inputCapacity: bad })).toThrow(RangeError);
      expect(() => ctx.createConnection({ outputCapacity: bad })).toThrow(RangeError);
    }
    using small = ctx.createConnection({ inputCapacity: 10 });
    small.feed(new Uint8Array(10));
    expect(() => small.feed(new Uint8Array(1))).toThrow(RangeError);
    expect(small.pendingInput).toBe(10);
    using unlimited = ctx.createConnection({ inputCapacity: Infinity, outputCapacity: Infinity });
    unlimited.feed(new Uint8Array(3 << 20));
    expect(unlimited.pendingInput).toBe(3 << 20);
  });
});

describe("memory", () => {
  it("1,000 connect / transfer / shutdown / dispose cycles leave the heap within 64 KiB of where it started", async () => {
    const fresh = await OpenSSL.instantiate();
    const id = identity();
    const cctx = fresh.createContext({ role: "client", ca: id.certPem, groups: "X25519" });
    const sctx = fresh.createContext({ role: "server", cert: id.certPem, key: id.keyPem });
    const cycle = () => {
      const p = new Pair(fresh, { clientContext: cctx, serverContext: sctx });
      p.handshake();
      p.client.write(text("request"));
      p.toServer();
      expect(str(p.server.read().data)).toBe("request");
      p.server.write(text("response"));
      p.toClient();
      expect(str(p.client.read().data)).toBe("response");
      p.closeCleanly();
      p.dispose();
    };
    // warm-up: OpenSSL's lazily built tables, the server's session cache (full after 1 entry per connection;
    // flushed by time), the scratch buffer's growth
    for (let i = 0; i < 20; i++) cycle();
    const before = fresh.heapInUse();
    for (let i = 0; i < 1000; i++) cycle();
    const after = fresh.heapInUse();
    cctx.dispose();
    sctx.dispose();
    console.log(`heap in use: ${before} bytes before, ${after} after 1,000 cycles (${after - before} bytes difference)`);
    expect(after - before).toBeLessThan(64 * 1024);
  }, 300_000);
});

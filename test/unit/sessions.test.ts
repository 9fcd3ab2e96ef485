// Session reuse (SHUTDOWN.md scenarios 30-33): a cleanly shut down session
// stays in the cache for further reuse (the SSL_shutdown man page); an
// unclean end removes it.
import { beforeAll, describe, expect, it } from "vitest";
import { TlsSession, SessionNotResumableError, type TlsContext, type OpenSSL, type ProtocolVersion } from "../../bindings/src/index.js";
import { contexts, expectHeapRestoredAfterEach, expectResult, load, Pair, warmUp, type PairOptions } from "../helpers/harness.js";

let ossl: OpenSSL;
beforeAll(async () => {
  ossl = await load();
  warmUp(ossl);
});
// Every test frees what it made: the heap comes back (harness.ts).
expectHeapRestoredAfterEach(() => ossl);

interface Variant { name: string; version: ProtocolVersion; tickets: boolean }
const VARIANTS: Variant[] = [
  { name: "TLS 1.2 with tickets", version: "TLSv1.2", tickets: true },
  { name: "TLS 1.2 without tickets (session IDs)", version: "TLSv1.2", tickets: false },
  { name: "TLS 1.3", version: "TLSv1.3", tickets: true },
];

/**
 * Runs `first` on a connected pair (it may return the client's session, taken
 * before it freed the client), then reconnects with that session, passed as
 * the object itself or through export()/import() as an application would
 * store it. Returns SSL_session_reused and SSL_SESSION_is_resumable.
 */
function reconnect(v: Variant, first: (p: Pair) => TlsSession | void, o: PairOptions & { via?: "object" | "export" } = {}): { resumedSession: boolean; resumable: boolean } {
  const opts: PairOptions = { version: v.version, server: { tickets: v.tickets, ...o.server }, client: o.client };
  const { cctx, sctx } = contexts(ossl, opts);
  try {
    const p1 = new Pair(ossl, { ...opts, clientContext: cctx, serverContext: sctx });
    p1.handshake();
    expect(p1.client.sessionReused).toBe(false);
    const session = first(p1) ?? p1.client.getSession()!;
    p1.client.dispose();
    p1.server.dispose();
    const resumable = session.resumable;
    let offered = session;
    if (o.via === "export") {
      try {
        offered = TlsSession.import(ossl, session.export());
      } finally {
        session.dispose(); // also when export() refuses it
      }
    }
    const p2 = new Pair(ossl, { ...opts, clientContext: cctx, serverContext: sctx, clientConnection: { session: offered } });
    offered.dispose(); // SSL_set_session took its own reference
    p2.handshake();
    const resumedSession = p2.client.sessionReused;
    expect(p2.server.sessionReused).toBe(resumedSession);
    p2.dispose();
    return { resumedSession, resumable };
  } finally {
    (cctx as TlsContext).dispose();
    (sctx as TlsContext).dispose();
  }
}

describe.each(VARIANTS)("$name", (v) => {
  it("30: after a two-way close the next connection resumes (SSL_session_reused = 1)", () => {
    expect(reconnect(v, (p) => p.closeCleanly())).toEqual({ resumedSession: true, resumable: true });
    expect(reconnect(v, (p) => p.closeCleanly(), { via: "export" })).toEqual({ resumedSession: true, resumable: true });
  });

  it("32: client freed without shutdown: not resumed", () => {
    const r = reconnect(v, (p) => {
      p.client.read(); // TLS 1.3 tickets: the session would be resumable
      const session = p.client.getSession()!;
      p.client.dispose();
      expect(() => session.export()).toThrow(SessionNotResumableError);
      return session;
    });
    expect(r).toEqual({ resumedSession: false, resumable: false });
  });

  it("32: client saw an unexpected EOF: not resumed", () => {
    const r = reconnect(v, (p) => {
      p.client.closeInput();
      expectResult(p.client.read(), 0, "ssl");
    });
    expect(r).toEqual({ resumedSession: false, resumable: false });
    // export() refuses such a session: its bytes would not say it was invalidated
    expect(() => reconnect(v, (p) => {
      p.client.closeInput();
      p.client.read();
    }, { via: "export" })).toThrow(SessionNotResumableError);
  });

  it("33: quiet shutdown on both sides: resumed", () => {
    const r = reconnect(v, (p) => {
      p.client.read(); // TLS 1.3 tickets
      p.client.quietShutdown = true;
      p.server.quietShutdown = true;
      expectResult(p.client.shutdown(), 1, "none");
      expectResult(p.server.shutdown(), 1, "none");
    });
    expect(r).toEqual({ resumedSession: true, resumable: true });
  });
});

describe("TLS 1.2 without tickets", () => {
  it("31: server freed without shutdown: its cache drops the session, not resumed", () => {
    const v = VARIANTS[1]!;
    const r = reconnect(v, (p) => {
      p.client.shutdown();
      p.toServer();
      p.server.dispose();
    });
    expect(r.resumable).toBe(true); // the client still thinks it is
    expect(r.resumedSession).toBe(false);
  });

  it("31: (contrast) server shut down cleanly: the session stays in its cache", () => {
    const { cctx, sctx } = contexts(ossl, { version: "TLSv1.2", server: { tickets: false } });
    const p = new Pair(ossl, { clientContext: cctx, serverContext: sctx });
    p.handshake();
    expect(sctx.cachedSessions).toBe(1);
    p.closeCleanly();
    p.dispose();
    expect(sctx.cachedSessions).toBe(1);
    const q = new Pair(ossl, { clientContext: cctx, serverContext: sctx });
    q.handshake();
    q.server.dispose(); // freed without SSL_shutdown
    expect(sctx.cachedSessions).toBe(1); // q's session was removed, the first stays
    q.dispose();
    cctx.dispose();
    sctx.dispose();
  });
});

describe("Session objects", () => {
  it("export/import round-trips, and import rejects garbage with an OpenSSLError", () => {
    const p = new Pair(ossl, { version: "TLSv1.3" });
    p.handshake();
    p.closeCleanly();
    using s = p.client.getSession()!;
    expect(s.protocolVersion).toBe(0x0304);
    expect(s.hasTicket).toBe(true);
    expect(s.timeout).toBeGreaterThan(0);
    using t = TlsSession.import(ossl, s.export());
    expect(t.resumable).toBe(true);
    expect(() => TlsSession.import(ossl, new Uint8Array([1, 2, 3]))).toThrow(/not a serialized SSL_SESSION/);
    expect(() => TlsSession.import(ossl, "x" as never)).toThrow(TypeError);
    p.dispose();
  });
});

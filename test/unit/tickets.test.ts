// Sessions as they arrive (the new-session callback), ticket key rotation,
// and ALPN chosen by a server callback.
import { randomBytes } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { constants as C, OpenSSL, type TlsSession } from "../../bindings/src/index.js";
import { Pair, contexts, expectHeapRestoredAfterEach, expectResult, warmUp } from "../helpers/harness.js";

let ossl: OpenSSL;
beforeAll(async () => {
  ossl = await OpenSSL.load();
  warmUp(ossl);
});
// Every test frees what it made: the heap comes back (harness.ts).
expectHeapRestoredAfterEach(() => ossl);

describe("sessions as they arrive", () => {
  it("TLS 1.3: each NewSessionTicket reaches onSession when the client reads it; each one resumes", () => {
    const got: TlsSession[] = [];
    const { cctx, sctx } = contexts(ossl, { version: "TLSv1.3", client: { collectSessions: true }, server: { numTickets: 3 } });
    const p = new Pair(ossl, { clientContext: cctx, serverContext: sctx, clientConnection: { servername: "server.test", onSession: (s) => got.push(s) } });
    p.handshake();
    expect(got).toHaveLength(0); // the tickets are waiting, unread
    expectResult(p.client.read(), -1, "want_read");
    expect(got).toHaveLength(3);
    p.closeCleanly();
    p.dispose();
    for (const s of got) {
      expect(s.resumable).toBe(true);
      expect(s.maxEarlyData).toBe(0); // no 0-RTT: early data is replayable, so it stays off
      using q = new Pair(ossl, { clientContext: cctx, serverContext: sctx, clientConnection: { servername: "server.test", session: s } });
      q.handshake();
      expect(q.client.sessionReused).toBe(true);
      s.dispose();
    }
    cctx.dispose();
    sctx.dispose();
  });

  it("TLS 1.2: the session arrives at the end of the handshake", () => {
    const got: TlsSession[] = [];
    using p = new Pair(ossl, { version: "TLSv1.2", client: { collectSessions: true }, clientConnection: { servername: "server.test", onSession: (s) => got.push(s) } });
    p.handshake();
    expect(got).toHaveLength(1);
    expect(got[0]!.hasTicket).toBe(true);
    got[0]!.dispose();
  });
});

describe("collectSessions", () => {
  it("is needed for onSession; with it, a TLS 1.3 ticket is single-use (OpenSSL's client cache rule), without it reusable", () => {
    using plain = ossl.createContext({ role: "client", ca: "none", verify: false });
    expect(() => plain.createConnection({ onSession: () => {} })).toThrow(/collectSessions/);
    for (const collect of [false, true]) {
      const { cctx, sctx } = contexts(ossl, { version: "TLSv1.3", client: { collectSessions: collect } });
      const first = new Pair(ossl, { clientContext: cctx, serverContext: sctx });
      first.handshake();
      first.closeCleanly();
      const session = first.client.getSession()!;
      first.dispose();
      const reused: boolean[] = [];
      for (let i = 0; i < 2; i++) {
        using q = new Pair(ossl, { clientContext: cctx, serverContext: sctx, clientConnection: { servername: "server.test", session } });
        q.handshake();
        q.client.read(); // its own new ticket arrives: with collectSessions, the old one is retired
        reused.push(q.client.sessionReused);
      }
      expect(reused).toEqual(collect ? [true, false] : [true, true]);
      session.dispose();
      cctx.dispose();
      sctx.dispose();
    }
  });
});

describe("ticket keys", () => {
  for (const version of ["TLSv1.2", "TLSv1.3"] as const) {
    it(`${version}: tickets resume under the same keys, and not after the keys are rotated`, () => {
      // (no server session cache: only the ticket can resume the session)
      const { cctx, sctx } = contexts(ossl, { version, server: { ticketKeys: randomBytes(80), sessionCache: false } });
      const first = new Pair(ossl, { clientContext: cctx, serverContext: sctx });
      first.handshake();
      first.closeCleanly();
      const session = first.client.getSession()!;
      first.dispose();
      const again = (): boolean => {
        using q = new Pair(ossl, { clientContext: cctx, serverContext: sctx, clientConnection: { servername: "server.test", session } });
        q.handshake();
        return q.client.sessionReused;
      };
      expect(again()).toBe(true);
      sctx.setTicketKeys(randomBytes(80));
      expect(again()).toBe(false);
      expect(() => sctx.setTicketKeys(new Uint8Array(10))).toThrow(RangeError);
      session.dispose();
      cctx.dispose();
      sctx.dispose();
    });
  }
});

describe("ALPN chosen by a callback", () => {
  it("the server's function sees the client's offer and picks; undefined refuses", () => {
    const seen: string[][] = [];
    using p = new Pair(ossl, {
      client: { alpnProtocols: ["h2", "http/1.1"] },
      server: { alpnCallback: (offered) => (seen.push(offered), offered.includes("http/1.1") ? "http/1.1" : undefined) },
    });
    p.handshake();
    expect(seen).toEqual([["h2", "http/1.1"]]);
    expect(p.client.info.alpnProtocol).toBe("http/1.1");
    using refused = new Pair(ossl, { client: { alpnProtocols: ["h2"] }, server: { alpnCallback: () => undefined } });
    refused.client.handshake(); refused.toServer();
    expectResult(refused.server.handshake(), -1, "ssl", C.SSL_R_NO_APPLICATION_PROTOCOL);
  });
});

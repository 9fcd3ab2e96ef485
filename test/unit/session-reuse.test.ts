// TlsSocket clients resume by default: a reconnect with the same options to
// the same server name is an abbreviated handshake (issue 11, item 3); never
// across trust configurations or names, never after OpenSSL marked the
// session unusable, and not at all with reuseSessions: false.
import { beforeAll, describe, expect, it } from "vitest";
import {
  CertificateVerificationError, OpenSSL, TlsSocket, memoryPair, type TlsContext, type ProtocolVersion, type TlsSocketOptions,
} from "../../bindings/src/index.js";
import { SessionCache } from "../../bindings/src/session-cache.js";
import { Pair, SERVER_NAME, identity } from "../helpers/harness.js";
import { selfSigned } from "../helpers/pki.js";

const id = identity();
let ossl: OpenSSL;
beforeAll(async () => {
  ossl = await OpenSSL.instantiate(); // its own session cache
});

/** Connects to a server on `sctx`, reads nothing, closes cleanly both ways; resolves whether it resumed. */
async function visit(sctx: TlsContext, options: TlsSocketOptions = {}): Promise<boolean> {
  const [a, b] = memoryPair();
  const [client, server] = await Promise.all([
    TlsSocket.connect(a, { openssl: ossl, ca: id.certPem, servername: SERVER_NAME, ...options }),
    TlsSocket.accept(b, { context: sctx }),
  ]);
  const reused = client.info.sessionReused;
  const serverSide = (async () => {
    for await (const _ of server.readable);
    await server.shutdown({ mode: "unidirectional" });
  })();
  await new Promise((r) => setTimeout(r, 10)); // TLS 1.3: the tickets arrive after the handshake
  await client.shutdown({ mode: "bidirectional" });
  await serverSide;
  return reused;
}

function server(version?: ProtocolVersion): TlsContext {
  return ossl.createContext({ role: "server", cert: id.certPem, key: id.keyPem, ...(version ? { minVersion: version, maxVersion: version } : {}) });
}

describe("reconnects resume by default", () => {
  for (const version of ["TLSv1.3", "TLSv1.2"] as ProtocolVersion[]) {
    it(`${version}: the second and third connections with the same options resume`, async () => {
      await TlsSocket.clearSessionCache(ossl);
      const sctx = server(version);
      const options = { maxVersion: version };
      expect(await visit(sctx, options)).toBe(false);
      expect(await visit(sctx, options)).toBe(true);
      expect(await visit(sctx, options)).toBe(true);
      sctx.dispose();
    });
  }

  it("not with reuseSessions: false, another server name, other trust, or other options", async () => {
    await TlsSocket.clearSessionCache(ossl);
    const sctx = server();
    expect(await visit(sctx)).toBe(false);
    expect(await visit(sctx, { reuseSessions: false })).toBe(false);
    expect(await visit(sctx, { checkHost: SERVER_NAME, servername: "other.test" })).toBe(false); // (the same certificate checks out)
    expect(await visit(sctx, { ca: [id.certPem, selfSigned("unrelated.test").certPem] })).toBe(false);
    expect(await visit(sctx, { alpnProtocols: ["http/1.1"] })).toBe(false);
    expect(await visit(sctx)).toBe(true); // the first options' sessions are still there
    sctx.dispose();
  });

  it("never past an onVerify: a pin that refuses the certificate still refuses after a cached session exists", async () => {
    await TlsSocket.clearSessionCache(ossl);
    const sctx = server();
    expect(await visit(sctx)).toBe(false);
    expect(await visit(sctx)).toBe(true); // a session is cached for these options
    let calls = 0;
    const refusingPin = () => {
      calls++;
      return false;
    };
    await expect(visit(sctx, { onVerify: refusingPin })).rejects.toBeInstanceOf(CertificateVerificationError);
    expect(calls).toBeGreaterThan(0); // the full handshake ran the listener
    const acceptingPin = () => true;
    expect(await visit(sctx, { onVerify: acceptingPin })).toBe(false); // no resumption: the listener must run
    expect(await visit(sctx, { onVerify: acceptingPin, reuseSessions: true })).toBe(true); // explicitly asked for
    sctx.dispose();
  });

  it("TLS 1.2: after a truncated end OpenSSL will not resume that session, so the next connection is a full handshake", async () => {
    await TlsSocket.clearSessionCache(ossl);
    const sctx = server("TLSv1.2");
    expect(await visit(sctx, { maxVersion: "TLSv1.2" })).toBe(false);
    const [a, b] = memoryPair();
    const [client, srv] = await Promise.all([
      TlsSocket.connect(a, { openssl: ossl, ca: id.certPem, servername: SERVER_NAME, maxVersion: "TLSv1.2" }),
      TlsSocket.accept(b, { context: sctx }),
    ]);
    expect(client.info.sessionReused).toBe(true);
    await srv.destroy(); // no close_notify
    expect((await client.closed).ending).toBe("truncated");
    expect(await visit(sctx, { maxVersion: "TLSv1.2" })).toBe(false);
    sctx.dispose();
  });

  it("clearSessionCache() forgets them; an onSession listener still gets every session", async () => {
    const sctx = server();
    await visit(sctx);
    await TlsSocket.clearSessionCache(ossl);
    const heard: number[] = [];
    expect(await visit(sctx, { onSession: (s) => { heard.push(s.protocolVersion); s.dispose(); } })).toBe(false);
    expect(heard.length).toBeGreaterThan(0);
    expect(await visit(sctx)).toBe(true); // the cache kept its own references
    sctx.dispose();
  });
});

describe("the cache itself", () => {
  it("hands out the newest resumable session once, keeps at most 4 per server", () => {
    const cache = new SessionCache();
    const sessions = Array.from({ length: 6 }, () => {
      using p = new Pair(ossl, { version: "TLSv1.2" }); // (a TLS 1.2 session is resumable at once)
      p.handshake();
      p.closeCleanly(); // (freed unshut, OpenSSL would mark it not resumable)
      return p.client.getSession()!;
    });
    for (const s of sessions) cache.put("k", s);
    expect(cache.size).toBe(4); // the two oldest were disposed
    expect(() => sessions[0]!.resumable).toThrow(); // (disposed)
    const taken = cache.take("k")!;
    expect(taken).toBe(sessions[5]);
    expect(cache.size).toBe(3);
    expect(cache.take("other")).toBeUndefined();
    taken.dispose();
    cache.clear();
    expect(cache.size).toBe(0);
  });
});

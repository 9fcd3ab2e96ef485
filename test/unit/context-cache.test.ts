// Issue 11, item 3: TlsSocket clients made without a `context` share one per
// set of equal plain-data options (bindings/src/context-cache.ts), so a new
// connection does not pay for a new SSL_CTX; options with a private key or
// behaviour are never shared; unused shared contexts are kept (a few) for the
// next connection and disposed beyond that.
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { OpenSSL, TlsSocket, memoryPair, type TlsContext } from "../../bindings/src/index.js";
import { IDLE_CONTEXTS_KEPT, contextCacheOf, shareKey } from "../../bindings/src/context-cache.js";
import { SERVER_NAME, identity } from "../helpers/harness.js";
import { selfSigned } from "../helpers/pki.js";

let ossl: OpenSSL;
let sctx: TlsContext;
const id = identity();
const client = selfSigned("client.test");
beforeAll(async () => {
  ossl = await OpenSSL.instantiate();
  sctx = ossl.createContext({ role: "server", cert: id.certPem, key: id.keyPem, clientCertificate: "request", ca: client.certPem });
});
afterEach(async () => {
  await TlsSocket.clearContextCache(ossl);
});

/** A client connected through memoryPair to a server on `sctx`: [client, server]. */
async function pair(options: Record<string, unknown>): Promise<[TlsSocket, TlsSocket]> {
  const [a, b] = memoryPair();
  const [c, s] = await Promise.all([
    TlsSocket.connect(a, { openssl: ossl, servername: SERVER_NAME, ca: id.certPem, reuseSessions: false, ...options }),
    TlsSocket.accept(b, { context: sctx }),
  ]);
  return [c, s];
}
const end = (p: TlsSocket[]) => Promise.all(p.map((s) => s.destroy()));

describe("shared client contexts", () => {
  it("sockets with equal options share one context; different options get another", async () => {
    const cache = contextCacheOf(ossl);
    const one = await pair({ alpnProtocols: ["h2"] });
    const two = await pair({ alpnProtocols: ["h2"] });
    expect(cache.stats).toEqual({ contexts: 1, inUse: 1 });
    const three = await pair({ alpnProtocols: ["http/1.1"] });
    expect(cache.stats).toEqual({ contexts: 2, inUse: 2 });
    for (const p of [one, two, three]) expect(p[0].info.verification).toMatch(/^verified/);
    await end([...one, ...two, ...three]);
    expect(cache.stats).toEqual({ contexts: 2, inUse: 0 }); // kept for the next connection
    const heapBefore = ossl.heapInUse();
    const four = await pair({ alpnProtocols: ["h2"] });
    expect(cache.stats.contexts).toBe(2); // reused, not made again
    await end(four);
    expect(ossl.heapInUse()).toBeLessThanOrEqual(heapBefore + 1024);
  });

  it("a client certificate with its key makes the socket's own context", async () => {
    const cache = contextCacheOf(ossl);
    const withKey = await pair({ cert: client.certPem, key: client.keyPem });
    expect(withKey[1].info.peerCertificate?.subject).toBe("/CN=client.test");
    expect(cache.stats.contexts).toBe(0);
    await end(withKey);
    expect(cache.stats.contexts).toBe(0);
  });

  it(`keeps at most ${IDLE_CONTEXTS_KEPT} unused contexts, the most recently used`, async () => {
    const cache = contextCacheOf(ossl);
    for (let i = 0; i < IDLE_CONTEXTS_KEPT + 4; i++) await end(await pair({ alpnProtocols: [`p${i}`] }));
    expect(cache.stats).toEqual({ contexts: IDLE_CONTEXTS_KEPT, inUse: 0 });
    expect(await TlsSocket.clearContextCache(ossl)).toBe(0);
    expect(cache.stats.contexts).toBe(0);
  });

  it("a context in use is never disposed by the cache, and a failed handshake gives its context back", async () => {
    const cache = contextCacheOf(ossl);
    const live = await pair({ alpnProtocols: ["keep"] });
    for (let i = 0; i < IDLE_CONTEXTS_KEPT + 2; i++) await end(await pair({ alpnProtocols: [`q${i}`] }));
    expect(await TlsSocket.clearContextCache(ossl)).toBe(1); // the live one stays
    const w = live[0].writable.getWriter();
    await w.write(new TextEncoder().encode("still works"));
    w.releaseLock();
    const r = live[1].readable.getReader();
    expect(new TextDecoder().decode((await r.read()).value)).toBe("still works");
    r.releaseLock();
    await end(live);
    // a wrong host name fails verification: the context is released all the same
    await expect(pair({ servername: "wrong.test", alpnProtocols: ["bad"] })).rejects.toThrow(/certificate verification failed: hostname mismatch/);
    expect(cache.stats.inUse).toBe(0);
  });

  it("the share key: equal for equal plain data, none for keys and functions", () => {
    expect(shareKey({ alpnProtocols: ["h2"], ca: "x", verify: undefined })).toBe(shareKey({ ca: "x", alpnProtocols: ["h2"] }));
    expect(shareKey({ ca: new Uint8Array([1, 2]) })).not.toBe(shareKey({ ca: new Uint8Array([1, 3]) }));
    expect(shareKey({ options: 4n })).toBe("options=4n");
    expect(shareKey({ key: "-----BEGIN PRIVATE KEY-----" })).toBeUndefined();
    expect(shareKey({ passphrase: "x" })).toBeUndefined();
    expect(shareKey({ onWhatever: () => 1 })).toBeUndefined();
    expect(shareKey({ nested: { a: 1 } })).toBeUndefined();
  });
});

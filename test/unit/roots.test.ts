// The default root store (Mozilla's roots from Debian's ca-certificates),
// with no network: every root parses, a root verifies against the store, a
// certificate from a test CA does not, and TlsSocket clients use it by default.
import { beforeAll, describe, expect, it } from "vitest";
import { constants as C, OpenSSL, TlsSocket, memoryPair, type RootStoreInfo } from "../../bindings/src/index.js";
import { splitDer } from "../../bindings/src/engine/roots.js";
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { Pair, SERVER_NAME, expectResult, identity } from "../helpers/harness.js";

const root = resolve(import.meta.dirname, "../..");
let ossl: OpenSSL;
let info: RootStoreInfo;
beforeAll(async () => {
  ossl = await OpenSSL.load();
  info = await OpenSSL.loadDefaultRoots();
});

describe("the default root store", () => {
  it("says where it came from", () => {
    expect(OpenSSL.rootStoreInfo()).toEqual(info);
    expect(info.package).toMatch(/^ca-certificates \d{8}/);
    expect(info.date).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(info.count).toBeGreaterThan(100);
  });

  it("every root parses; roots verify against the store (those past their date are refused as expired)", () => {
    const ders = splitDer(readFileSync(`${root}/wasm/dist/roots.der`));
    expect(ders).toHaveLength(info.count);
    const verdicts = ders.map((der) => ossl.verifyCertificate(der, { ca: "default" }));
    const ok = verdicts.filter((v) => v.ok).length;
    expect(ok).toBeGreaterThan(info.count * 0.9);
    // what fails, fails for a reason OpenSSL names: mostly roots that expired since the package was made
    for (const v of verdicts.filter((v) => !v.ok)) expect(v.verifyResult).not.toBe(C.X509_V_OK);
    const isrg = ders.find((der) => new X509Certificate(der).subject.includes("CN=ISRG Root X1"));
    expect(isrg).toBeDefined();
    expect(ossl.verifyCertificate(isrg!, { ca: "default" })).toMatchObject({ ok: true, verifyResult: C.X509_V_OK });
  });

  it("a certificate from a test CA is not trusted by it", () => {
    const r = ossl.verifyCertificate(identity().certPem, { ca: "default" });
    expect(r.ok).toBe(false);
    expect(r.verifyResult).toBe(C.X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT);
  });

  it("is what a client context trusts by default once loaded, and a test server is refused", () => {
    using p = new Pair(ossl, { clientContext: ossl.createContext({ role: "client" }) });
    p.client.handshake(); p.toServer(); p.server.handshake(); p.toClient();
    expectResult(p.client.handshake(), -1, "ssl", C.SSL_R_CERTIFICATE_VERIFY_FAILED);
    p.cctx.dispose();
  });

  it("is parsed once per instance: contexts trusting only it share one store, and a new one costs well under 64 KiB", async () => {
    const fresh = await OpenSSL.instantiate();
    const first = fresh.createContext({ role: "client" }); // parses the roots (~600 KiB, once)
    const before = fresh.heapInUse();
    const second = fresh.createContext({ role: "client", ca: "default" });
    expect(fresh.heapInUse() - before).toBeLessThan(64 * 1024);
    expect(fresh.ffi.SSL_CTX_get_cert_store(second.ptr)).toBe(fresh.ffi.SSL_CTX_get_cert_store(first.ptr));
    // a context that mixes in another CA gets its own store, with the roots as new references
    const mixed = fresh.createContext({ role: "client", ca: ["default", identity().certPem] });
    expect(fresh.ffi.SSL_CTX_get_cert_store(mixed.ptr)).not.toBe(fresh.ffi.SSL_CTX_get_cert_store(first.ptr));
    for (const c of [first, second, mixed]) c.dispose();
    // the shared store outlives its contexts: a later one still verifies with it
    using again = fresh.createContext({ role: "client" });
    void again;
    const isrg = splitDer(readFileSync(`${root}/wasm/dist/roots.der`)).find((d) => new X509Certificate(d).subject.includes("ISRG Root X1"))!;
    expect(fresh.verifyCertificate(isrg).ok).toBe(true);
  });

  it("TlsSocket clients with no `ca` use it (and so refuse a test server)", async () => {
    const [a, b] = memoryPair();
    const id = identity();
    const [client] = await Promise.allSettled([
      TlsSocket.connect(a, { openssl: ossl, servername: SERVER_NAME }),
      TlsSocket.accept(b, { openssl: ossl, cert: id.certPem, key: id.keyPem }),
    ]);
    expect(client.status).toBe("rejected");
    expect(String((client as PromiseRejectedResult).reason)).toMatch(/self-signed certificate/);
  });

  it('"system" is Node\'s tls.rootCertificates, and entries mix', () => {
    const id = identity();
    expect(() => ossl.createContext({ role: "client", ca: ["system", id.certPem] }).dispose()).not.toThrow();
    expect(ossl.verifyCertificate(id.certPem, { ca: ["system", id.certPem] }).ok).toBe(true);
    expect(ossl.verifyCertificate(id.certPem, { ca: "system" }).ok).toBe(false); // the mix is what made it verify
  });

  it("rejects a malformed store", () => {
    expect(() => splitDer(new Uint8Array([0x30, 0x82, 0xff]))).toThrow(/truncated|bad DER/);
    expect(() => splitDer(new Uint8Array([0x02, 0x01, 0x00]))).toThrow(/not a DER SEQUENCE/);
  });
});

// What the handshake negotiates: X25519MLKEM768 by default, each classic
// group on request, ECDSA / RSA-2048 / Ed25519 certificates (made in the
// test by Debian's openssl), ALPN, SNI, and certificate verification.
import { beforeAll, describe, expect, it } from "vitest";
import { constants as C, type OpenSSL, type ProtocolVersion } from "../../bindings/src/index.js";
import { Pair, SERVER_NAME, expectHeapRestoredAfterEach, expectResult, identity, load, str, text, warmUp } from "../helpers/harness.js";
import { selfSigned, type KeyType } from "../helpers/pki.js";

let ossl: OpenSSL;
beforeAll(async () => {
  ossl = await load();
  warmUp(ossl);
});
// Every test frees what it made: the heap comes back (harness.ts).
expectHeapRestoredAfterEach(() => ossl);

describe("key exchange", () => {
  it("negotiates X25519MLKEM768 by default (TLS 1.3), both sides agreeing", () => {
    using p = new Pair(ossl);
    p.handshake();
    expect(p.client.info.group).toBe("X25519MLKEM768");
    expect(p.server.info.group).toBe("X25519MLKEM768");
    expect(p.client.info.protocol).toBe("TLSv1.3");
  });

  for (const [group, name] of [["X25519", "x25519"], ["P-256", "secp256r1"], ["P-384", "secp384r1"]]) {
    for (const version of ["TLSv1.2", "TLSv1.3"] as ProtocolVersion[]) {
      it(`negotiates ${group} over ${version} when the client asks for it`, () => {
        // TLS 1.2 needs the ECDSA certificate's curve among the client's
        // groups (RFC 8422), so it uses an RSA certificate here.
        const keyType = version === "TLSv1.2" ? "rsa-2048" : "ec-p256";
        using p = new Pair(ossl, { version, keyType, client: { groups: [group!] } });
        p.handshake();
        expect(p.client.info.group).toBe(name);
        expect(p.client.info.protocol).toBe(version);
      });
    }
  }

  it("rejects an unknown group name with an OpenSSLError", () => {
    expect(() => ossl.createContext({ role: "client", groups: "NOT-A-GROUP" })).toThrow(/invalid groups/);
  });
});

describe("certificates", () => {
  const cases: [KeyType, string][] = [["ec-p256", "ECDSA P-256"], ["rsa-2048", "RSA-2048"], ["ed25519", "Ed25519"]];
  for (const [type, label] of cases) {
    for (const version of ["TLSv1.2", "TLSv1.3"] as ProtocolVersion[]) {
      it(`${label} server certificate over ${version}: verified against the CA and the host name, data both ways`, () => {
        using p = new Pair(ossl, { version, keyType: type });
        p.handshake();
        const info = p.client.info;
        expect(info.verifyResult).toBe(C.X509_V_OK);
        expect(info.peerCertificate?.subject).toBe(`/CN=${SERVER_NAME}`);
        expect(info.servername).toBe(SERVER_NAME);
        expect(p.server.info.servername).toBe(SERVER_NAME);
        expectResult(p.client.write(text("ping")), 4, "none");
        p.toServer();
        expect(str(p.server.read().data)).toBe("ping");
        expectResult(p.server.write(text("pong")), 4, "none");
        p.toClient();
        expect(str(p.client.read().data)).toBe("pong");
      });
    }
  }

  it("fails verification against the wrong CA: SSL_ERROR_SSL 'certificate verify failed', verify result and failing depth recorded", () => {
    const stranger = selfSigned("other.test");
    using p = new Pair(ossl, { client: { ca: stranger.certPem } });
    let r = p.client.handshake();
    p.toServer();
    p.server.handshake();
    p.toClient();
    r = p.client.handshake();
    expectResult(r, -1, "ssl", C.SSL_R_CERTIFICATE_VERIFY_FAILED);
    expect(p.client.info.verifyResult).toBe(C.X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT);
    expect(p.client.verifyFailure).toMatchObject({ depth: 0, subject: `/CN=${SERVER_NAME}`, verifyResult: C.X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT });
  });

  it("fails verification for the wrong host name (X509_V_ERR_HOSTNAME_MISMATCH)", () => {
    using p = new Pair(ossl, { clientConnection: { servername: "wrong.test" } });
    p.client.handshake(); p.toServer(); p.server.handshake(); p.toClient();
    expectResult(p.client.handshake(), -1, "ssl", C.SSL_R_CERTIFICATE_VERIFY_FAILED);
    expect(p.client.info.verifyResult).toBe(C.X509_V_ERR_HOSTNAME_MISMATCH);
  });

  it("lets an onVerify hook overrule OpenSSL's verdict", () => {
    const stranger = selfSigned("other.test");
    const seen: number[] = [];
    using p = new Pair(ossl, {
      client: { ca: stranger.certPem },
      clientConnection: { servername: SERVER_NAME, onVerify: (ok, d) => (seen.push(d.verifyResult), true) },
    });
    p.handshake();
    expect(seen).toContain(C.X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT);
  });

  it("rejects a key that does not match the certificate, and garbage PEM, with OpenSSLError", () => {
    const a = identity("ec-p256");
    const b = selfSigned("b.test");
    expect(() => ossl.createContext({ role: "server", cert: a.certPem, key: b.keyPem })).toThrow(/key values mismatch/);
    expect(() => ossl.createContext({ role: "server", cert: "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n", key: a.keyPem }))
      .toThrow(/no valid PEM certificate/);
    expect(() => ossl.createContext({ role: "client", ca: new Uint8Array([0x30, 0x03, 1, 2, 3]) })).toThrow(/not a DER X.509 certificate/);
  });

  it("accepts DER certificates and keys", () => {
    const id = identity("ec-p256");
    const der = (pem: string) => Uint8Array.from(Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ""), "base64"));
    using sctx = ossl.createContext({ role: "server", cert: der(id.certPem), key: der(id.keyPem) });
    using cctx = ossl.createContext({ role: "client", ca: der(id.certPem) });
    using p = new Pair(ossl, { clientContext: cctx, serverContext: sctx });
    p.handshake();
    expect(p.client.info.verifyResult).toBe(C.X509_V_OK);
  });
});

describe("signature algorithms and IP addresses", () => {
  it("sigalgs are configurable: an ECDSA certificate needs an ECDSA one on offer", () => {
    {
      using p = new Pair(ossl, { client: { sigalgs: "ECDSA+SHA256" } });
      p.handshake();
    }
    using p = new Pair(ossl, { client: { sigalgs: "rsa_pss_rsae_sha256" } });
    p.client.handshake(); p.toServer();
    expectResult(p.server.handshake(), -1, "ssl");
  });

  it("an IP address as the name: checked against the certificate's IP SAN, and not sent as SNI", async () => {
    const { makeDemoPki } = await import("../../web-demo/pki.mjs");
    const pki = makeDemoPki(); // its leaves carry IP:127.0.0.1
    using sctx = ossl.createContext({ role: "server", cert: pki.certs.ecdsa!.certPem, key: pki.certs.ecdsa!.keyPem });
    using cctx = ossl.createContext({ role: "client", ca: pki.caPem });
    {
      using p = new Pair(ossl, { clientContext: cctx, serverContext: sctx, clientConnection: { servername: "127.0.0.1" } });
      p.handshake();
      expect(p.client.info.verification).toBe("verified");
      expect(p.server.info.servername).toBeNull();
    }
    using p = new Pair(ossl, { clientConnection: { servername: "127.0.0.2" } });
    p.client.handshake(); p.toServer(); p.server.handshake(); p.toClient();
    expectResult(p.client.handshake(), -1, "ssl", C.SSL_R_CERTIFICATE_VERIFY_FAILED);
    expect(p.client.info.verifyResult).toBe(C.X509_V_ERR_IP_ADDRESS_MISMATCH);
  });
});

describe("ALPN", () => {
  it("the server picks its most preferred protocol the client offered", () => {
    using p = new Pair(ossl, { client: { alpnProtocols: ["http/1.1", "h2"] }, server: { alpnProtocols: ["h2", "http/1.1"] } });
    p.handshake();
    expect(p.client.info.alpnProtocol).toBe("h2");
    expect(p.server.info.alpnProtocol).toBe("h2");
  });

  it("no common protocol: the handshake fails with no_application_protocol", () => {
    using p = new Pair(ossl, { client: { alpnProtocols: ["h2"] }, server: { alpnProtocols: ["imap"] } });
    p.client.handshake(); p.toServer();
    expectResult(p.server.handshake(), -1, "ssl", C.SSL_R_NO_APPLICATION_PROTOCOL);
    p.toClient();
    expectResult(p.client.handshake(), -1, "ssl", C.SSL_R_TLSV1_ALERT_NO_APPLICATION_PROTOCOL);
  });
});

describe("protocol messages", () => {
  it("reports handshake messages and the close_notify alert to onMessage", () => {
    const seen: string[] = [];
    using p = new Pair(ossl, {
      clientConnection: {
        servername: SERVER_NAME,
        onMessage: (m) => {
          if (m.alert) seen.push(`${m.direction} alert ${m.alert.name}`);
          else if (m.contentType === C.SSL3_RT_HANDSHAKE) seen.push(`${m.direction} handshake ${m.handshakeType}`);
        },
      },
    });
    p.handshake();
    p.closeCleanly();
    expect(seen[0]).toBe(`sent handshake ${C.SSL3_MT_CLIENT_HELLO}`);
    expect(seen).toContain(`received handshake ${C.SSL3_MT_SERVER_HELLO}`);
    expect(seen.filter((m) => m.includes("alert"))).toEqual(["sent alert close notify", "received alert close notify"]);
  });
});

// Issue 11, item 3: ChaCha20-Poly1305 is the fastest constant-time suite in
// WebAssembly, so it comes first unless the caller chooses, and a server with
// the default order picks it whenever the client offers it.
describe("cipher defaults", () => {
  const AES_FIRST = "TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256";

  it("TLS 1.3: ChaCha20-Poly1305 by default, both ends", () => {
    using p = new Pair(ossl);
    p.handshake();
    expect(p.client.info.cipher).toBe("TLS_CHACHA20_POLY1305_SHA256");
    expect(p.server.info.cipher).toBe("TLS_CHACHA20_POLY1305_SHA256");
  });

  it("TLS 1.2: ECDHE ChaCha20-Poly1305 by default (ECDSA and RSA certificates)", () => {
    for (const [keyType, cipher] of [["ec-p256", "ECDHE-ECDSA-CHACHA20-POLY1305"], ["rsa-2048", "ECDHE-RSA-CHACHA20-POLY1305"]] as const) {
      using p = new Pair(ossl, { version: "TLSv1.2", keyType });
      p.handshake();
      expect(p.client.info.cipher).toBe(cipher);
    }
  });

  it("a default server picks ChaCha20-Poly1305 even from a client that prefers AES-GCM (server preference)", () => {
    using p = new Pair(ossl, { client: { ciphersuites: AES_FIRST } });
    p.handshake();
    expect(p.client.info.cipher).toBe("TLS_CHACHA20_POLY1305_SHA256");
  });

  it("a server given its own ciphersuites follows the client's order, as OpenSSL does", () => {
    using p = new Pair(ossl, { client: { ciphersuites: AES_FIRST }, server: { ciphersuites: "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384" } });
    p.handshake();
    expect(p.client.info.cipher).toBe("TLS_AES_256_GCM_SHA384");
  });

  it("the caller's ciphersuites and ciphers are used as given; invalid ones are refused", () => {
    using p = new Pair(ossl, { client: { ciphersuites: "TLS_AES_128_GCM_SHA256" } });
    p.handshake();
    expect(p.client.info.cipher).toBe("TLS_AES_128_GCM_SHA256");
    expect(() => ossl.createContext({ role: "client", ciphersuites: "TLS_NOPE" })).toThrow(/invalid ciphersuites/);
    expect(() => ossl.createContext({ role: "client", ciphers: "NOPE-NOPE" })).toThrow(/invalid ciphers/);
  });
});

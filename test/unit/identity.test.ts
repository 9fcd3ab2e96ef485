// Trust and identity: verification only off when asked twice, client
// certificates (mutual TLS) in both directions and every key type, encrypted
// keys, certificates chosen by SNI; against ourselves and Node's tls.
import { execFileSync } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tls from "node:tls";
import { beforeAll, describe, expect, it } from "vitest";
import {
  constants as C, OpenSSL, OpenSSLError, TlsSocket,
} from "../../bindings/src/index.js";
import { connectTcp, fromNodeSocket } from "../../bindings/src/node.js";
import { Pair, SERVER_NAME, expectResult, identity } from "../helpers/harness.js";
import { selfSigned, type KeyType } from "../helpers/pki.js";

let ossl: OpenSSL;
beforeAll(async () => {
  ossl = await OpenSSL.load();
});

describe("verification is on unless switched off twice", () => {
  it("verify: false alone is refused; with ca: \"none\" it is off, and info says so", () => {
    expect(() => ossl.createContext({ role: "client", verify: false })).toThrow(/ca: "none"/);
    using p = new Pair(ossl, { client: { verify: false, ca: "none" } });
    p.handshake();
    expect(p.client.info.verification).toBe("disabled");
  });

  it("ca: \"none\" alone verifies against an empty store: the handshake fails", () => {
    using p = new Pair(ossl, { client: { ca: "none" } });
    p.client.handshake(); p.toServer(); p.server.handshake(); p.toClient();
    expectResult(p.client.handshake(), -1, "ssl", C.SSL_R_CERTIFICATE_VERIFY_FAILED);
  });

  it("the default: verified against the CA and the host name", () => {
    using p = new Pair(ossl);
    p.handshake();
    expect(p.client.info.verification).toBe("verified");
  });
});

describe("client certificates (mutual TLS)", () => {
  for (const type of ["ec-p256", "rsa-2048", "ed25519"] as KeyType[]) {
    it(`a server that requires one gets the client's ${type} certificate, verified`, () => {
      const client = selfSigned("client.test", type);
      using p = new Pair(ossl, {
        client: { cert: client.certPem, key: client.keyPem },
        server: { clientCertificate: "require", ca: client.certPem },
      });
      p.handshake();
      const info = p.server.info;
      expect(info.verification).toBe("verified");
      expect(info.peerCertificate?.subject).toBe("/CN=client.test");
    });
  }

  it("a client without one is refused by \"require\" and let in by \"request\"", () => {
    const client = selfSigned("client.test");
    {
      using p = new Pair(ossl, { version: "TLSv1.2", server: { clientCertificate: "require", ca: client.certPem } });
      p.client.handshake(); p.toServer(); p.server.handshake(); p.toClient(); p.client.handshake(); p.toServer();
      expectResult(p.server.handshake(), -1, "ssl", C.SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE);
    }
    {
      using p = new Pair(ossl, { server: { clientCertificate: "request", ca: client.certPem } });
      p.handshake();
      expect(p.server.info.verification).toBe("no certificate");
    }
  });

  it("reads an encrypted PEM key with its passphrase, and refuses a wrong one", () => {
    const dir = mkdtempSync(join(tmpdir(), "openssl-wasm-key-"));
    execFileSync("openssl", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-aes256",
      "-pass", "pass:correct horse", "-out", join(dir, "key.pem")]);
    execFileSync("openssl", ["req", "-x509", "-key", join(dir, "key.pem"), "-passin", "pass:correct horse", "-days", "1",
      "-subj", "/CN=client.test", "-out", join(dir, "cert.pem")]);
    const certPem = readFileSync(join(dir, "cert.pem"), "utf8");
    const keyPem = readFileSync(join(dir, "key.pem"), "utf8");
    expect(keyPem).toContain("ENCRYPTED PRIVATE KEY");
    expect(() => ossl.createContext({ role: "client", cert: certPem, key: keyPem, passphrase: "correct horse" }).dispose()).not.toThrow();
    expect(() => ossl.createContext({ role: "client", cert: certPem, key: keyPem, passphrase: "wrong" })).toThrow(OpenSSLError);
    expect(() => ossl.createContext({ role: "client", cert: certPem, key: keyPem })).toThrow(/wrong passphrase/);
  });

  it("against Node's tls: our client presents its certificate to a Node server that requires one", async () => {
    const client = selfSigned("client.test");
    const server = identity();
    let seen = "";
    const node = tls.createServer({ cert: server.certPem, key: server.keyPem, requestCert: true, rejectUnauthorized: true, ca: client.certPem },
      (s) => {
        seen = String((s.getPeerCertificate() as tls.PeerCertificate).subject.CN);
        s.end("hello client.test");
      });
    node.listen(0, "127.0.0.1");
    await once(node, "listening");
    const socket = await TlsSocket.connect(await connectTcp("127.0.0.1", (node.address() as net.AddressInfo).port), {
      openssl: ossl, ca: server.certPem, servername: SERVER_NAME, cert: client.certPem, key: client.keyPem,
    });
    const reader = socket.readable.getReader();
    await reader.read().catch(() => undefined);
    expect(seen).toBe("client.test");
    await socket.destroy();
    node.close();
  });

  it("against Node's tls: our server requires and verifies a Node client's certificate", async () => {
    const client = selfSigned("client.test");
    const server = identity();
    let peer: string | undefined;
    const listener = net.createServer({ allowHalfOpen: true }, async (raw) => {
      const s = await TlsSocket.accept(fromNodeSocket(raw), {
        openssl: ossl, cert: server.certPem, key: server.keyPem, clientCertificate: "require", ca: client.certPem,
      });
      peer = s.info.peerCertificate?.subject;
      await s.shutdown({ mode: "unidirectional" });
    });
    listener.listen(0, "127.0.0.1");
    await once(listener, "listening");
    const c = tls.connect({ host: "127.0.0.1", port: (listener.address() as net.AddressInfo).port, ca: server.certPem,
      servername: SERVER_NAME, cert: client.certPem, key: client.keyPem });
    c.resume();
    await once(c, "end");
    expect(peer).toBe("/CN=client.test");
    listener.close();
  });
});

describe("certificates chosen by SNI", () => {
  it("serves each name its own certificate, and the default for other names", () => {
    const main = identity();
    const other = selfSigned("other.test");
    using sctx = ossl.createContext({ role: "server", cert: main.certPem, key: main.keyPem,
      sni: { "other.test": { cert: other.certPem, key: other.keyPem } } });
    using cctx = ossl.createContext({ role: "client", ca: [main.certPem, other.certPem] });
    for (const [name, subject] of [["other.test", "/CN=other.test"], [SERVER_NAME, `/CN=${SERVER_NAME}`]]) {
      using p = new Pair(ossl, { clientContext: cctx, serverContext: sctx, clientConnection: { servername: name } });
      p.handshake();
      expect(p.client.info.peerCertificate?.subject).toBe(subject);
      expect(p.client.info.verification).toBe("verified");
      expect(p.server.info.servername).toBe(name);
    }
  });
});

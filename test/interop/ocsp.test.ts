// OCSP stapling with a generated PKI and real OCSP responses (made by
// Debian's `openssl ocsp` from the CA's index): servers staple, clients can
// require a response that says "good". Against s_server, gnutls-serv, our
// own server, and Node's tls client; every result of the client's check
// (wasm/ocsp.c): good, revoked, unknown, none, invalid.
import { execFileSync } from "node:child_process";
import { once } from "node:events";
import { readFileSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import { join } from "node:path";
import * as tls from "node:tls";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  CertificateVerificationError, constants as C, OpenSSL, TlsSocket, memoryPair,
} from "../../bindings/src/index.js";
import { connectTcp, fromNodeSocket } from "../../bindings/src/node.js";
import { freePort, killAllPeers, startPeer } from "../helpers/peers.js";
import { makeDemoPki } from "../../web-demo/pki.mjs";

const HOST = "server.test";
const pki = makeDemoPki({ intermediate: true, host: HOST });
const dir = pki.dir;
const run = (args: string[], cwd = dir) => execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
// a second leaf for the same name, then revoked
run(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", `/CN=${HOST}`,
  "-addext", `subjectAltName=DNS:${HOST}`, "-keyout", "revoked.key", "-out", "revoked.csr"]);
run(["ca", "-batch", "-config", "int.cnf", "-in", "revoked.csr", "-out", "revoked.pem", "-notext", "-days", "30"]);
run(["ca", "-config", "int.cnf", "-revoke", "revoked.pem"]);
// a third leaf the intermediate signed outside `openssl ca`: not in the index, so "unknown" to the responder
run(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", `/CN=${HOST}`,
  "-keyout", "unknown.key", "-out", "unknown.csr"]);
writeFileSync(join(dir, "unknown.ext"), `subjectAltName=DNS:${HOST}\n`);
run(["x509", "-req", "-in", "unknown.csr", "-CA", "int.pem", "-CAkey", "int.key", "-set_serial", "0x7777",
  "-days", "30", "-extfile", "unknown.ext", "-out", "unknown.pem"]);
// a responder nobody delegated to
run(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "30",
  "-subj", "/CN=stranger", "-keyout", "stranger.key", "-out", "stranger.pem"]);
/** A fresh OCSP response for a certificate, signed by its issuer (the intermediate), or by `signer`. */
function ocspResponse(certFile: string, out: string, signer = "int"): string {
  run(["ocsp", "-issuer", "int.pem", "-cert", certFile, "-no_nonce", "-reqout", `${out}.req`]);
  run(["ocsp", "-index", "index.txt", "-rsigner", `${signer}.pem`, "-rkey", `${signer}.key`, "-CA", "int.pem",
    "-reqin", `${out}.req`, "-respout", `${out}.der`, "-ndays", "1"]);
  return join(dir, `${out}.der`);
}
const goodResp = ocspResponse("ecdsa.pem", "good");
const revokedResp = ocspResponse("revoked.pem", "revoked");
const unknownResp = ocspResponse("unknown.pem", "unknown");
const strangerResp = ocspResponse("ecdsa.pem", "stranger", "stranger");
const leaf = { cert: join(dir, "ecdsa.pem"), key: join(dir, "ecdsa.key") };
const revoked = { cert: join(dir, "revoked.pem"), key: join(dir, "revoked.key") };
const unknown = { cert: join(dir, "unknown.pem"), key: join(dir, "unknown.key") };

let ossl: OpenSSL;
beforeAll(async () => {
  ossl = await OpenSSL.load();
});
afterEach(() => killAllPeers());

async function sServer(id: { cert: string; key: string }, staple?: string): Promise<number> {
  const port = await freePort();
  await startPeer("openssl", ["s_server", "-accept", `127.0.0.1:${port}`, "-cert", id.cert, "-key", id.key,
    "-cert_chain", join(dir, "int.pem"), "-naccept", "1", "-rev", ...(staple ? ["-status_file", staple] : [])], /ACCEPT/);
  return port;
}
const connect = async (port: number, ocsp: "request" | "require") =>
  TlsSocket.connect(await connectTcp("127.0.0.1", port), { openssl: ossl, ca: pki.caPem, servername: HOST, ocsp });

describe("openssl s_server stapling", () => {
  it("a stapled \"good\" response satisfies ocsp: \"require\"", async () => {
    const socket = await connect(await sServer(leaf, goodResp), "require");
    expect(socket.info.ocsp).toBe("good");
    await socket.destroy();
  });

  it("a stapled \"revoked\" response fails the handshake: CertificateVerificationError, certificate revoked", async () => {
    const e = await connect(await sServer(revoked, revokedResp), "require").then(() => null, (err: unknown) => err);
    expect(e).toBeInstanceOf(CertificateVerificationError);
    expect((e as CertificateVerificationError).verifyResult).toBe(C.X509_V_ERR_CERT_REVOKED);
    expect((e as Error).message).toMatch(/revoked/);
  });

  it("nothing stapled: \"require\" refuses, \"request\" connects and says none", async () => {
    const e = await connect(await sServer(leaf), "require").then(() => null, (err: unknown) => err);
    expect((e as Error).message).toMatch(/no valid OCSP response stapled \(none\)/);
    const socket = await connect(await sServer(leaf), "request");
    expect(socket.info.ocsp).toBe("none");
    await socket.destroy();
  });

  it("a response for another certificate is not accepted as good: invalid", async () => {
    const e = await connect(await sServer(leaf, revokedResp), "require").then(() => null, (err: unknown) => err);
    expect(e).toBeInstanceOf(CertificateVerificationError);
    expect((e as CertificateVerificationError).verifyResult).toBe(C.X509_V_ERR_OCSP_VERIFY_FAILED);
    expect((e as Error).message).toMatch(/no valid OCSP response stapled \(invalid\)/);
  });

  it("a certificate the responder does not know: \"require\" refuses, \"request\" connects and says unknown", async () => {
    const e = await connect(await sServer(unknown, unknownResp), "require").then(() => null, (err: unknown) => err);
    expect(e).toBeInstanceOf(CertificateVerificationError);
    expect((e as Error).message).toMatch(/no valid OCSP response stapled \(unknown\)/);
    const socket = await connect(await sServer(unknown, unknownResp), "request");
    expect(socket.info.ocsp).toBe("unknown");
    await socket.destroy();
  });
});

describe("gnutls-serv stapling", () => {
  it("a stapled \"good\" response satisfies ocsp: \"require\"", async () => {
    const port = await freePort();
    const full = join(dir, "ecdsa-full-ocsp.pem");
    execFileSync("sh", ["-c", `cat ecdsa.pem int.pem > ${full}`], { cwd: dir });
    await startPeer("gnutls-serv", ["--echo", "-p", String(port), "--x509certfile", full, "--x509keyfile", leaf.key,
      "--ocsp-response", goodResp, "--ignore-ocsp-response-errors"], /listening/);
    const socket = await connect(port, "require");
    expect(socket.info.ocsp).toBe("good");
    await socket.destroy();
  });
});

describe("our client's verdict on what our server staples (ocsp: \"request\")", () => {
  const pem = (id: { cert: string; key: string }) => ({
    cert: readFileSync(id.cert, "utf8") + pki.chainPem, key: readFileSync(id.key, "utf8"),
  });
  const der = (file: string) => new Uint8Array(readFileSync(file));
  async function verdict(id: { cert: string; key: string }, response?: Uint8Array, ca = pki.caPem) {
    const [a, b] = memoryPair();
    const [client, server] = await Promise.all([
      TlsSocket.connect(a, { openssl: ossl, ca, servername: HOST, ocsp: "request" }),
      TlsSocket.accept(b, { openssl: ossl, ...pem(id), ...(response ? { ocspResponse: response } : {}) }),
    ]);
    const status = client.info.ocsp;
    await Promise.all([client.destroy(), server.destroy()]);
    return status;
  }

  it("good, revoked, unknown: what the issuer's response says", async () => {
    expect(await verdict(leaf, der(goodResp))).toBe("good");
    expect(await verdict(revoked, der(revokedResp))).toBe("revoked");
    expect(await verdict(unknown, der(unknownResp))).toBe("unknown");
  });

  it("none: nothing stapled", async () => {
    expect(await verdict(leaf)).toBe("none");
  });

  it("invalid: another certificate's response, a stranger's signature, bytes that are not DER", async () => {
    expect(await verdict(leaf, der(revokedResp))).toBe("invalid");
    expect(await verdict(leaf, der(strangerResp))).toBe("invalid");
    expect(await verdict(leaf, new Uint8Array([0x30, 0x03, 0x0a, 0x01, 0x00]))).toBe("invalid"); // OCSPResponse, status only
    expect(await verdict(leaf, new Uint8Array(64).fill(0x5a))).toBe("invalid");
  });

  it("good for a leaf issued by a trusted root and sent alone: the issuer comes from the trust store", async () => {
    const flat = makeDemoPki({ host: HOST }); // no intermediate: the root signs the leaf and the response
    run(["ocsp", "-issuer", "ca.pem", "-cert", "ecdsa.pem", "-no_nonce", "-reqout", "root.req"], flat.dir);
    run(["ocsp", "-index", "index.txt", "-rsigner", "ca.pem", "-rkey", "ca.key", "-CA", "ca.pem",
      "-reqin", "root.req", "-respout", "root.der", "-ndays", "1"], flat.dir);
    const [a, b] = memoryPair();
    const [client, server] = await Promise.all([
      TlsSocket.connect(a, { openssl: ossl, ca: flat.caPem, servername: HOST, ocsp: "require" }),
      TlsSocket.accept(b, { openssl: ossl, cert: flat.certs.ecdsa.certPem, key: flat.certs.ecdsa.keyPem,
        ocspResponse: der(join(flat.dir, "root.der")) }),
    ]);
    expect(client.info.ocsp).toBe("good");
    await Promise.all([client.destroy(), server.destroy()]);
  });
});

describe("our server staples", () => {
  const certPem = readFileSync(leaf.cert, "utf8") + pki.chainPem;
  const keyPem = readFileSync(leaf.key, "utf8");
  const response = new Uint8Array(readFileSync(goodResp));

  it("to our client, which requires it", async () => {
    const [a, b] = memoryPair();
    const [client, server] = await Promise.all([
      TlsSocket.connect(a, { openssl: ossl, ca: pki.caPem, servername: HOST, ocsp: "require" }),
      TlsSocket.accept(b, { openssl: ossl, cert: certPem, key: keyPem, ocspResponse: response }),
    ]);
    expect(client.info.ocsp).toBe("good");
    await Promise.all([client.destroy(), server.destroy()]);
  });

  it("to Node's tls client (requestOCSP): the same bytes arrive", async () => {
    const listener = net.createServer({ allowHalfOpen: true }, (raw) => {
      // (the client goes away once it has the response: our side may not finish)
      TlsSocket.accept(fromNodeSocket(raw), { openssl: ossl, cert: certPem, key: keyPem, ocspResponse: response })
        .then((s) => s.shutdown({ mode: "unidirectional" })).catch(() => {});
    });
    listener.listen(0, "127.0.0.1");
    await once(listener, "listening");
    const c = tls.connect({ host: "127.0.0.1", port: (listener.address() as net.AddressInfo).port, ca: pki.caPem,
      servername: HOST, requestOCSP: true } as tls.ConnectionOptions);
    const [stapled] = await once(c, "OCSPResponse") as [Buffer];
    expect(Buffer.compare(stapled, Buffer.from(response))).toBe(0);
    c.destroy();
    listener.close();
  });
});

// OCSP stapling with a generated PKI and real OCSP responses (made by
// Debian's `openssl ocsp` from the CA's index): servers staple, clients can
// require a response that says "good". Against s_server, gnutls-serv, our
// own server, and Node's tls client.
import { execFileSync } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
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
const run = (args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
// a second leaf for the same name, then revoked
run(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", `/CN=${HOST}`,
  "-addext", `subjectAltName=DNS:${HOST}`, "-keyout", "revoked.key", "-out", "revoked.csr"]);
run(["ca", "-batch", "-config", "int.cnf", "-in", "revoked.csr", "-out", "revoked.pem", "-notext", "-days", "30"]);
run(["ca", "-config", "int.cnf", "-revoke", "revoked.pem"]);
/** A fresh OCSP response for a certificate, signed by its issuer (the intermediate). */
function ocspResponse(certFile: string, out: string): string {
  run(["ocsp", "-issuer", "int.pem", "-cert", certFile, "-no_nonce", "-reqout", `${out}.req`]);
  run(["ocsp", "-index", "index.txt", "-rsigner", "int.pem", "-rkey", "int.key", "-CA", "int.pem",
    "-reqin", `${out}.req`, "-respout", `${out}.der`, "-ndays", "1"]);
  return join(dir, `${out}.der`);
}
const goodResp = ocspResponse("ecdsa.pem", "good");
const revokedResp = ocspResponse("revoked.pem", "revoked");
const leaf = { cert: join(dir, "ecdsa.pem"), key: join(dir, "ecdsa.key") };
const revoked = { cert: join(dir, "revoked.pem"), key: join(dir, "revoked.key") };

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

  it("a response for another certificate is not accepted as good", async () => {
    const e = await connect(await sServer(leaf, revokedResp), "require").then(() => null, (err: unknown) => err);
    expect(e).toBeInstanceOf(CertificateVerificationError);
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

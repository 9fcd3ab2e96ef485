// Verification and identity against real servers with a generated PKI
// (root -> intermediate -> leaves, made by Debian's openssl): each outcome
// and its error, the chain as sent, client certificates, ALPN, resumption.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  CertificateVerificationError, constants as C, OpenSSL, TlsSocket, type TlsSocketOptions,
} from "../../bindings/src/index.js";
import { connectTcp } from "../../bindings/src/node.js";
import { freePort, killAllPeers, startPeer } from "../helpers/peers.js";
import { makeDemoPki } from "../../web-demo/pki.mjs";

const HOST = "server.test";
const pki = makeDemoPki({ intermediate: true, host: HOST, extraLeaves: ["client.test"] });
const intFile = join(pki.dir, "int.pem");
const rootFile = join(pki.dir, "ca.pem");
/** leaf + intermediate in one file, for gnutls-serv */
const fullChain = (leaf: string) => {
  const f = join(pki.dir, `${leaf}-full.pem`);
  writeFileSync(f, pki.certs[leaf]!.certPem + pki.chainPem);
  return f;
};

let ossl: OpenSSL;
beforeAll(async () => {
  ossl = await OpenSSL.load();
});
afterEach(() => killAllPeers());

type Peer = "s_server" | "gnutls-serv";
async function server(peer: Peer, leaf: string, opts: { chain?: boolean; extra?: string[] } = {}): Promise<number> {
  const port = await freePort();
  const { cert, key } = pki.certs[leaf]!;
  if (peer === "s_server") {
    await startPeer("openssl", ["s_server", "-accept", `127.0.0.1:${port}`, "-cert", cert, "-key", key,
      ...(opts.chain === false ? [] : ["-cert_chain", intFile]), "-naccept", "2", "-rev", ...(opts.extra ?? [])], /ACCEPT/);
  } else {
    await startPeer("gnutls-serv", ["--echo", "-p", String(port), "--x509certfile", opts.chain === false ? cert : fullChain(leaf),
      "--x509keyfile", key, ...(opts.extra ?? [])], /listening/);
  }
  return port;
}

const connect = async (port: number, o: TlsSocketOptions = {}) =>
  TlsSocket.connect(await connectTcp("127.0.0.1", port), { openssl: ossl, ca: pki.caPem, servername: HOST, ...o });

async function refusal(port: number): Promise<CertificateVerificationError> {
  const e = await connect(port).then(() => null, (err: unknown) => err);
  expect(e).toBeInstanceOf(CertificateVerificationError);
  return e as CertificateVerificationError;
}

for (const peer of ["s_server", "gnutls-serv"] as Peer[]) {
  describe(`${peer} with a root -> intermediate -> leaf PKI`, () => {
    it("verifies the chain it sends (leaf and intermediate) against the root alone", async () => {
      const socket = await connect(await server(peer, "ecdsa"));
      expect(socket.info.verification).toBe("verified");
      expect(socket.peerChain.map((c) => c.subject)).toEqual([`/CN=${HOST}`, "/CN=openssl-wasm test intermediate CA"]);
      expect(socket.peerChain[0]!.issuer).toBe("/CN=openssl-wasm test intermediate CA");
      await socket.destroy();
    });

    it("refuses an expired leaf: certificate has expired, depth 0", async () => {
      const e = await refusal(await server(peer, "expired"));
      expect(e.verifyResult).toBe(C.X509_V_ERR_CERT_HAS_EXPIRED);
      expect(e.depth).toBe(0);
      expect(e.subject).toBe(`/CN=${HOST}`);
    });

    it("refuses a certificate for another host name", async () => {
      const e = await refusal(await server(peer, "wronghost"));
      expect(e.verifyResult).toBe(C.X509_V_ERR_HOSTNAME_MISMATCH);
    });

    it("refuses a leaf sent without its intermediate: unable to get local issuer certificate", async () => {
      const e = await refusal(await server(peer, "ecdsa", { chain: false }));
      expect(e.verifyResult).toBe(C.X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
      expect(e.depth).toBe(0);
    });

    it("negotiates ALPN", async () => {
      const port = await server(peer, "ecdsa", { extra: peer === "s_server" ? ["-alpn", "h2,http/1.1"] : ["--alpn", "h2"] });
      const socket = await connect(port, { alpnProtocols: ["http/1.0", "h2"] });
      expect(socket.info.alpnProtocol).toBe("h2");
      await socket.destroy();
    });
  });
}

describe("openssl s_server: client certificates and resumption", () => {
  it("requires a client certificate: ours (issued by the intermediate, sent with it) is accepted", async () => {
    const port = await server("s_server", "ecdsa", { extra: ["-Verify", "2", "-CAfile", rootFile] });
    const client = pki.certs["client.test"]!;
    const socket = await connect(port, { cert: client.certPem + pki.chainPem, key: client.keyPem });
    const w = socket.writable.getWriter();
    await w.write(new TextEncoder().encode("mutual\n"));
    w.releaseLock();
    const { value } = await socket.readable.getReader().read();
    expect(new TextDecoder().decode(value)).toBe("lautum\n");
  });

  it("without one, TLS 1.3's server refuses after the handshake: certificate required", async () => {
    const port = await server("s_server", "ecdsa", { extra: ["-Verify", "2", "-CAfile", rootFile] });
    const socket = await connect(port, { minVersion: "TLSv1.3" });
    const e = await socket.readable.getReader().read().then(() => null, (err: unknown) => err as Error);
    expect(String(e?.message)).toMatch(/certificate required/);
  });

  it("resumes after a clean close", async () => {
    const port = await server("s_server", "ecdsa");
    const first = await connect(port, { keepSession: true });
    expect((await first.shutdown({ mode: "bidirectional" })).ending).toBe("clean");
    const { session } = await first.closed;
    expect(session?.resumable).toBe(true);
    const second = await connect(port, { session });
    expect(second.info.sessionReused).toBe(true);
    session!.dispose();
    await second.destroy();
  });
});

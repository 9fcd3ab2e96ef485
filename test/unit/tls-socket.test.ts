// TlsSocket over in-memory and TCP transports, against itself and against
// Node's own tls (native OpenSSL) as the peer.
import { once } from "node:events";
import * as net from "node:net";
import * as tls from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CertificateVerificationError, OpenSSL, TlsSocket, TlsTruncationError, memoryPair,
} from "../../bindings/src/index.js";
import { connectTcp, fromNodeSocket, toNodeDuplex } from "../../bindings/src/node.js";
import { SERVER_NAME, identity, str, text } from "../helpers/harness.js";
import { selfSigned } from "../helpers/pki.js";

let ossl: OpenSSL;
beforeAll(async () => {
  ossl = await OpenSSL.load();
});

async function readAll(readable: ReadableStream<Uint8Array>): Promise<string> {
  let out = "";
  for await (const chunk of readable) out += str(chunk);
  return out;
}

function pairOfSockets(serverOptions = {}, clientOptions = {}) {
  const [a, b] = memoryPair();
  const id = identity();
  const server = TlsSocket.accept(b, { openssl: ossl, cert: id.certPem, key: id.keyPem, ...serverOptions });
  const client = TlsSocket.connect(a, { openssl: ossl, ca: id.certPem, servername: SERVER_NAME, ...clientOptions });
  return Promise.all([client, server]);
}

describe("TlsSocket in memory", () => {
  it("handshakes, exchanges data, and closes both ways: 0, the peer's close_notify, 1", async () => {
    const [client, server] = await pairOfSockets();
    expect(client.info.group).toBe("X25519MLKEM768");
    const w = client.writable.getWriter();
    await w.write(text("hello"));
    const sr = server.readable.getReader();
    expect(str((await sr.read()).value!)).toBe("hello");
    // the server echoes, then ends its side when the client's close_notify arrives
    const serverDone = (async () => {
      const sw = server.writable.getWriter();
      await sw.write(text("world"));
      expect((await sr.read()).done).toBe(true);
      await sw.close(); // our close_notify in reply
    })();
    w.releaseLock();
    const reader = client.readable.getReader();
    expect(str((await reader.read()).value!)).toBe("world");
    reader.releaseLock();
    const report = await client.shutdown({ mode: "bidirectional" });
    await serverDone;
    expect(report.steps.map((s) => `${s.call} ${s.ret} ${s.sslError}`)).toEqual([
      "SSL_shutdown 0 syscall", "SSL_read 0 zero_return", "SSL_shutdown 1 none",
    ]);
    expect(report.ret).toBe(1);
    expect(report.ending).toBe("clean");
    expect((await client.closed).ending).toBe("clean");
    expect((await server.closed).ending).toBe("clean");
  });

  it("unidirectional: resolves with 0 once close_notify is written, then closes the transport (one-way)", async () => {
    const [client, server] = await pairOfSockets();
    const report = await client.shutdown({ mode: "unidirectional" });
    expect(report).toMatchObject({ ret: 0, ending: "one-way" });
    expect(report.steps).toHaveLength(1);
    expect(await readAll(server.readable)).toBe(""); // server saw close_notify: a clean end of its readable
    expect((await client.closed).state).toEqual({ sent: true, received: false });
  });

  it("quiet: nothing is sent; the peer sees truncation", async () => {
    const [client, server] = await pairOfSockets();
    const report = await client.shutdown({ mode: "quiet" });
    expect(report).toMatchObject({ ret: 1 });
    await expect(readAll(server.readable)).rejects.toBeInstanceOf(TlsTruncationError);
    expect((await server.closed).ending).toBe("truncated");
  });

  it("a transport that ends without close_notify errors the readable with TlsTruncationError", async () => {
    const [client, server] = await pairOfSockets();
    await server.writable.getWriter().write(text("partial"));
    await server.destroy(); // aborts the transport: no close_notify
    const reader = client.readable.getReader();
    expect(str((await reader.read()).value!)).toBe("partial");
    await expect(reader.read()).rejects.toBeInstanceOf(TlsTruncationError);
    const info = await client.closed;
    expect(info.ending).toBe("truncated");
  });

  it("with ignoreUnexpectedEof the same EOF ends the readable normally; the socket answers and ends 'truncated', not 'clean'", async () => {
    const [client, server] = await pairOfSockets({}, { ignoreUnexpectedEof: true });
    await server.destroy();
    expect(await readAll(client.readable)).toBe("");
    const closed = await client.closed;
    expect(closed.ending).toBe("truncated");
    expect(closed.state).toEqual({ sent: true, received: true }); // OpenSSL marks RECEIVED for the EOF it read as close_notify
  });

  it("reports a certificate verification failure as CertificateVerificationError; the server gets the alert", async () => {
    const [a, b] = memoryPair();
    const id = identity();
    const [client, server] = await Promise.allSettled([
      TlsSocket.connect(a, { openssl: ossl, ca: selfSigned("other.test").certPem, servername: SERVER_NAME }),
      TlsSocket.accept(b, { openssl: ossl, cert: id.certPem, key: id.keyPem }),
    ]);
    expect(client.status).toBe("rejected");
    const e = (client as PromiseRejectedResult).reason as CertificateVerificationError;
    expect(e, String(e) + " cause: " + String((e as Error).cause)).toBeInstanceOf(CertificateVerificationError);
    expect(e.verifyResultString).toBe("self-signed certificate");
    expect(e.depth).toBe(0);
    expect(e.subject).toBe(`/CN=${SERVER_NAME}`);
    expect(server.status).toBe("rejected");
    expect(String((server as PromiseRejectedResult).reason.message)).toMatch(/alert/);
  });

  it("backpressure: a reader that does not read stops the transport being read; the writer stalls instead of memory growing", async () => {
    const [client, server] = await pairOfSockets();
    const w = server.writable.getWriter();
    let written = 0;
    const chunk = new Uint8Array(16384);
    const writing = (async () => {
      for (let i = 0; i < 256; i++) { // 4 MiB
        await w.write(chunk);
        written += chunk.length;
      }
      await w.close();
    })();
    await new Promise((r) => setTimeout(r, 300));
    const stalledAt = written;
    expect(stalledAt).toBeLessThan(1 << 20); // far less than the 4 MiB offered
    expect(client.connection.pendingInput).toBeLessThan(256 * 1024); // nor did it pile up inside OpenSSL
    let got = 0;
    for await (const c of client.readable) got += c.length;
    await writing;
    expect(got).toBe(4 << 20);
  });

  it("never sends a second close_notify (scenario 16): IGNORE_UNEXPECTED_EOF, our close_notify, then EOF", async () => {
    const [client, server] = await pairOfSockets({}, { ignoreUnexpectedEof: true });
    const shutdown = client.shutdown({ mode: "bidirectional" });
    await server.destroy(); // the peer goes away without answering
    const report = await shutdown;
    expect(report.steps.filter((st) => st.call === "SSL_shutdown")).toHaveLength(1);
    expect(client.connection.closeNotifySent).toBe(1);
    expect(client.connection.disposed).toBe(true);
    expect(report.ending).toBe("truncated");
  });

  it("traces the close step by step; reports the peer's chain; keeps the session for a resumption", async () => {
    const [a, b] = memoryPair();
    const id = identity();
    const events: string[] = [];
    const sctx = ossl.createContext({ role: "server", cert: id.certPem, key: id.keyPem });
    const accept = (t: typeof b) => TlsSocket.accept(t, { context: sctx });
    const [client, server] = await Promise.all([
      TlsSocket.connect(a, {
        openssl: ossl, ca: id.certPem, servername: SERVER_NAME, keepSession: true,
        onTrace: (e) => events.push(e.type === "call" ? `${e.call} ${e.ret} ${e.sslError} sent=${e.state.sent} received=${e.state.received}`
          : e.type === "alert" ? `${e.direction} ${e.level} ${e.name}` : e.type === "transport" ? `transport ${e.event}`
          : e.type === "closed" ? `closed ${e.ending}` : e.type),
      }),
      accept(b),
    ]);
    expect(client.peerChain).toEqual([expect.objectContaining({ subject: `/CN=${SERVER_NAME}`, keyType: "EC", keyBits: 256 })]);
    expect(client.peerChain[0]!.notAfter).toMatch(/GMT$/);
    const serverSide = (async () => {
      expect(await readAll(server.readable)).toBe("");
      await server.shutdown({ mode: "unidirectional" });
    })();
    await client.shutdown({ mode: "bidirectional" });
    await serverSide;
    const info = await client.closed;
    expect(events).toEqual([
      "handshake",
      "sent warning close notify", // inside the SSL_shutdown call, so before its result
      "SSL_shutdown 0 syscall sent=true received=false",
      "received warning close notify",
      "SSL_read 0 zero_return sent=true received=true",
      "SSL_shutdown 1 none sent=true received=true",
      "transport closed",
      "closed clean",
    ]);
    expect(info.session?.resumable).toBe(true);
    // and it resumes
    const [c2, d2] = memoryPair();
    const [again] = await Promise.all([
      TlsSocket.connect(c2, { openssl: ossl, ca: id.certPem, servername: SERVER_NAME, session: info.session }),
      accept(d2),
    ]);
    expect(again.info.sessionReused).toBe(true);
    info.session!.dispose();
    sctx.dispose();
  });

  it("nextSession(): the TLS 1.3 ticket, as it arrives, resumes the next connection", async () => {
    const id = identity();
    const sctx = ossl.createContext({ role: "server", cert: id.certPem, key: id.keyPem });
    const [a, b] = memoryPair();
    const [client] = await Promise.all([
      TlsSocket.connect(a, { openssl: ossl, ca: id.certPem, servername: SERVER_NAME }),
      TlsSocket.accept(b, { context: sctx }),
    ]);
    const session = await client.nextSession();
    expect(session.resumable).toBe(true);
    const [c, d] = memoryPair();
    const [again] = await Promise.all([
      TlsSocket.connect(c, { openssl: ossl, ca: id.certPem, servername: SERVER_NAME, session }),
      TlsSocket.accept(d, { context: sctx }),
    ]);
    expect(again.info.sessionReused).toBe(true);
    session.dispose();
    sctx.dispose();
  });

  it("an unclean end (truncation) leaves a session OpenSSL will not resume", async () => {
    const id = identity();
    const sctx = ossl.createContext({ role: "server", cert: id.certPem, key: id.keyPem });
    const [a, b] = memoryPair();
    const [client, server] = await Promise.all([
      TlsSocket.connect(a, { openssl: ossl, ca: id.certPem, servername: SERVER_NAME, keepSession: true }),
      TlsSocket.accept(b, { context: sctx }),
    ]);
    await server.destroy();
    await expect(readAll(client.readable)).rejects.toBeInstanceOf(TlsTruncationError);
    const { ending, session } = await client.closed;
    expect(ending).toBe("truncated");
    expect(session?.resumable).toBe(false);
    const [c, d] = memoryPair();
    const [again] = await Promise.all([
      TlsSocket.connect(c, { openssl: ossl, ca: id.certPem, servername: SERVER_NAME, session }),
      TlsSocket.accept(d, { context: sctx }),
    ]);
    expect(again.info.sessionReused).toBe(false);
    session!.dispose();
    sctx.dispose();
  });

  it("moves 1 MiB each way intact", async () => {
    const [client, server] = await pairOfSockets();
    const big = new Uint8Array(1 << 20).map((_, i) => (i * 31) & 0xff);
    const echo = (async () => {
      const w = server.writable.getWriter();
      for await (const chunk of server.readable) await w.write(chunk);
      await w.close();
    })();
    const sent = (async () => {
      const w = client.writable.getWriter();
      for (let at = 0; at < big.length; at += 40_000) await w.write(big.subarray(at, at + 40_000));
      await w.close();
    })();
    const got: Uint8Array[] = [];
    for await (const chunk of client.readable) got.push(chunk);
    await Promise.all([echo, sent]);
    expect(Buffer.concat(got).equals(Buffer.from(big))).toBe(true);
    expect((await client.closed).ending).toBe("clean");
  });
});

describe("TlsSocket against Node's tls over TCP (native OpenSSL as the peer)", () => {
  const id = identity();
  let server: tls.Server;
  let port = 0;
  const received: string[] = [];
  beforeAll(async () => {
    server = tls.createServer({ cert: id.certPem, key: id.keyPem }, (s) => {
      let data = "";
      s.on("data", (d) => (data += d));
      s.on("end", () => received.push(data));
      s.pipe(s); // echo; ends (close_notify + FIN) after the client's close_notify
      s.on("error", () => {});
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    port = (server.address() as net.AddressInfo).port;
  });
  afterAll(() => server.close());

  it("36: echo, then a bidirectional close that Node answers: SSL_shutdown 0 ... 1, clean", async () => {
    const socket = await TlsSocket.connect(await connectTcp("127.0.0.1", port), {
      openssl: ossl, ca: id.certPem, servername: SERVER_NAME,
    });
    expect(socket.info.protocol).toBe("TLSv1.3");
    const w = socket.writable.getWriter();
    await w.write(text("ping over tcp"));
    w.releaseLock();
    const r = socket.readable.getReader();
    expect(str((await r.read()).value!)).toBe("ping over tcp");
    r.releaseLock();
    const report = await socket.shutdown({ mode: "bidirectional" });
    expect(report.ret).toBe(1);
    expect(report.steps[0]).toMatchObject({ call: "SSL_shutdown", ret: 0 });
    expect(report.steps.at(-1)).toMatchObject({ call: "SSL_shutdown", ret: 1 });
    expect((await socket.closed).ending).toBe("clean");
    expect(received).toContain("ping over tcp"); // Node read it all, then our close_notify as its end
  });

  it("36: Node destroy() mid-stream is reported as truncation", async () => {
    const killer = tls.createServer({ cert: id.certPem, key: id.keyPem }, (s) => {
      s.write("bye", () => s.destroy());
    });
    killer.listen(0, "127.0.0.1");
    await once(killer, "listening");
    const socket = await TlsSocket.connect(await connectTcp("127.0.0.1", (killer.address() as net.AddressInfo).port), {
      openssl: ossl, ca: id.certPem, servername: SERVER_NAME,
    });
    const r = socket.readable.getReader();
    expect(str((await r.read()).value!)).toBe("bye");
    await expect(r.read()).rejects.toBeInstanceOf(TlsTruncationError);
    expect((await socket.closed).ending).toBe("truncated");
    killer.close();
  });

  it("36: Node end() reaches us as ZERO_RETURN (the readable ends cleanly); our close completes with 1", async () => {
    // (Node 20 sends close_notify on end() once it has read from the socket;
    // an end() straight from the secureConnection callback closes without one,
    // which we would rightly report as truncation.)
    const ender = tls.createServer({ cert: id.certPem, key: id.keyPem }, (s) => s.once("data", () => s.end("all of it")));
    ender.listen(0, "127.0.0.1");
    await once(ender, "listening");
    const socket = await TlsSocket.connect(await connectTcp("127.0.0.1", (ender.address() as net.AddressInfo).port), {
      openssl: ossl, ca: id.certPem, servername: SERVER_NAME,
    });
    const w = socket.writable.getWriter();
    await w.write(text("go"));
    w.releaseLock();
    expect(await readAll(socket.readable)).toBe("all of it");
    expect(socket.shutdownState).toEqual({ sent: false, received: true });
    const report = await socket.shutdown({ mode: "unidirectional" });
    expect(report).toMatchObject({ ret: 1, ending: "clean" });
    ender.close();
  });

  it("36: an allowHalfOpen Node server can still write after our close_notify; we read it, then its close_notify", async () => {
    const half = tls.createServer({ cert: id.certPem, key: id.keyPem, allowHalfOpen: true }, (s) => {
      s.on("data", () => {});
      s.on("end", () => s.end("written after your close_notify")); // our close_notify arrived: answer, then close
    });
    half.listen(0, "127.0.0.1");
    await once(half, "listening");
    const socket = await TlsSocket.connect(await connectTcp("127.0.0.1", (half.address() as net.AddressInfo).port), {
      openssl: ossl, ca: id.certPem, servername: SERVER_NAME,
    });
    const reading = readAll(socket.readable);
    const report = await socket.shutdown({ mode: "bidirectional" });
    expect(await reading).toBe("written after your close_notify");
    expect(report).toMatchObject({ ret: 1, ending: "clean" });
    half.close();
  });

  it("toNodeDuplex(socket) from openssl-tls-wasm/node: a Node Duplex that echoes and ends clean", async () => {
    const socket = await TlsSocket.connect(await connectTcp("127.0.0.1", port), {
      openssl: ossl, ca: id.certPem, servername: SERVER_NAME,
    });
    const duplex = toNodeDuplex(socket);
    duplex.end("via duplex");
    let got = "";
    for await (const chunk of duplex) got += chunk;
    expect(got).toBe("via duplex");
    expect((await socket.closed).ending).toBe("clean");
  });

  it("accepts a connection from Node's tls client (server role)", async () => {
    const listener = net.createServer({ allowHalfOpen: true }, async (raw) => {
      const s = await TlsSocket.accept(fromNodeSocket(raw), { openssl: ossl, cert: id.certPem, key: id.keyPem });
      const w = s.writable.getWriter();
      for await (const chunk of s.readable) await w.write(chunk);
      await w.close();
    });
    listener.listen(0, "127.0.0.1");
    await once(listener, "listening");
    const client = tls.connect({ host: "127.0.0.1", port: (listener.address() as net.AddressInfo).port, ca: id.certPem, servername: SERVER_NAME });
    await once(client, "secureConnect");
    client.end("from node");
    let got = "";
    for await (const chunk of client) got += chunk;
    expect(got).toBe("from node");
    listener.close();
  });
});

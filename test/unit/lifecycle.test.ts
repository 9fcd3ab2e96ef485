// TlsSocket's life cannot hang and ends as the options say (API 1.0):
// allowHalfOpen (default false: the peer's close_notify is answered),
// shutdown's timeout and signal, close(), what stays readable after the end,
// and a listener's exception as the cause of the error it caused.
import { beforeAll, describe, expect, it } from "vitest";
import {
  CertificateVerificationError, OpenSSL, TlsCallbackError, TlsClosedError, TlsSocket, TlsTimeoutError, memoryPair,
  type TlsSocketOptions,
} from "../../bindings/src/index.js";
import { SERVER_NAME, identity, str, text } from "../helpers/harness.js";
import { heapGrowth } from "../helpers/heap.js";
import { selfSigned } from "../helpers/pki.js";

let ossl: OpenSSL;
beforeAll(async () => {
  ossl = await OpenSSL.load();
});

const id = identity();

function pair(server: TlsSocketOptions = {}, client: TlsSocketOptions = {}) {
  const [a, b] = memoryPair();
  return Promise.all([
    TlsSocket.connect(a, { openssl: ossl, ca: id.certPem, servername: SERVER_NAME, ...client }),
    TlsSocket.accept(b, { openssl: ossl, cert: id.certPem, key: id.keyPem, ...server }),
  ]);
}

async function readAll(readable: ReadableStream<Uint8Array>): Promise<string> {
  let out = "";
  for await (const chunk of readable) out += str(chunk);
  return out;
}

/** A server that sends its answer and closes first, as `s_server -www` and HTTP/1.0 servers do. */
async function serverClosesFirst(server: TlsSocket, body: string): Promise<void> {
  const w = server.writable.getWriter();
  await w.write(text(body));
  await w.close(); // close_notify, transport kept (half-close)
}

describe("allowHalfOpen", () => {
  it("default false: the peer's close_notify is answered; `closed` settles 'clean' with no shutdown() call", async () => {
    const [client, server] = await pair();
    const [got] = await Promise.all([readAll(client.readable), serverClosesFirst(server, "HTTP/1.0 200 OK\r\n\r\nbye")]);
    expect(got).toBe("HTTP/1.0 200 OK\r\n\r\nbye");
    const closed = await client.closed;
    expect(closed.ending).toBe("clean");
    expect(closed.state).toEqual({ sent: true, received: true });
    expect((await server.closed).ending).toBe("clean"); // the server read our answer
    await expect(client.writable.getWriter().write(text("late"))).rejects.toBeInstanceOf(TlsClosedError);
  });

  it("true: a half-close: readable ends, writing goes on, the end waits for our shutdown()", async () => {
    const [client, server] = await pair({ allowHalfOpen: true }, { allowHalfOpen: true });
    const [got] = await Promise.all([readAll(client.readable), serverClosesFirst(server, "first")]);
    expect(got).toBe("first");
    const settled = await Promise.race([client.closed.then(() => "closed"), new Promise((r) => setTimeout(() => r("open"), 100))]);
    expect(settled).toBe("open");
    const w = client.writable.getWriter();
    await w.write(text("after your close_notify"));
    const sr = server.readable.getReader();
    expect(str((await sr.read()).value!)).toBe("after your close_notify");
    sr.releaseLock();
    w.releaseLock();
    const report = await client.shutdown({ mode: "unidirectional" });
    expect(report).toMatchObject({ ret: 1, ending: "clean" });
    expect((await server.closed).ending).toBe("clean");
  });

  it("false waits for a write in progress before answering", async () => {
    const [client, server] = await pair();
    const cw = client.writable.getWriter();
    const big = new Uint8Array(200_000).fill(7);
    const writing = cw.write(big); // in progress while the server's close_notify arrives
    const serverGot = (async () => {
      let got = 0;
      for await (const chunk of server.readable) got += chunk.length;
      return got;
    })();
    const [clientGot] = await Promise.all([readAll(client.readable), serverClosesFirst(server, "done")]);
    await writing;
    expect(clientGot).toBe("done");
    expect(await serverGot).toBe(big.length); // all of it arrived before our close_notify
    expect((await client.closed).ending).toBe("clean");
  });
});

describe("shutdown cannot hang", () => {
  it("bidirectional against a peer that never answers: TlsTimeoutError (phase shutdown) after `timeout` ms, ending error", async () => {
    const [client] = await pair({ allowHalfOpen: true }); // the server never reads, so never answers
    const started = Date.now();
    const error = await client.shutdown({ mode: "bidirectional", timeout: 150 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TlsTimeoutError);
    expect((error as TlsTimeoutError).phase).toBe("shutdown");
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect((await client.closed).ending).toBe("error");
  });

  it("the socket's shutdownTimeout is the default for each call", async () => {
    const [client] = await pair({ allowHalfOpen: true }, { shutdownTimeout: 120 });
    await expect(client.shutdown()).rejects.toMatchObject({ name: "TlsTimeoutError", timeoutMs: 120 });
  });

  it("an aborted signal ends it with the signal's reason; an aborted one up front changes nothing", async () => {
    const [client] = await pair({ allowHalfOpen: true });
    await expect(client.shutdown({ signal: AbortSignal.abort(new Error("not now")) })).rejects.toThrow("not now");
    expect(client.shutdownState).toEqual({ sent: false, received: false }); // nothing was sent
    const controller = new AbortController();
    const running = client.shutdown({ signal: controller.signal, timeout: 0 });
    setTimeout(() => controller.abort(new Error("user gave up")), 50);
    await expect(running).rejects.toThrow("user gave up");
    expect((await client.closed).ending).toBe("error");
  });

  it("refuses bad options with a TypeError or RangeError", async () => {
    const [client] = await pair();
    await expect(client.shutdown({ timeout: -1 })).rejects.toBeInstanceOf(RangeError);
    await expect(client.shutdown({ timeout: 1.5 })).rejects.toBeInstanceOf(RangeError);
    await expect(client.shutdown({ signal: "x" as never })).rejects.toBeInstanceOf(TypeError);
    await expect(client.shutdown({ mode: "both" as never })).rejects.toBeInstanceOf(TypeError);
    await expect(TlsSocket.connect(memoryPair()[0], { shutdownTimeout: -5 })).rejects.toBeInstanceOf(RangeError);
    await client.close();
  });
});

describe("close()", () => {
  it("sends close_notify and closes without waiting for the peer: 'one-way'; again: the same answer", async () => {
    const [client, server] = await pair({ allowHalfOpen: true });
    const info = await client.close();
    expect(info.ending).toBe("one-way");
    expect(info.state.sent).toBe(true);
    expect(await client.close()).toBe(info);
    expect(await readAll(server.readable)).toBe(""); // the server saw our close_notify
  });

  it("ends a bidirectional shutdown still waiting for the peer: that shutdown rejects with TlsClosedError", async () => {
    const [client] = await pair({ allowHalfOpen: true });
    const waiting = client.shutdown({ mode: "bidirectional", timeout: 0 });
    await new Promise((r) => setTimeout(r, 30));
    expect((await client.close()).ending).toBe("one-way");
    await expect(waiting).rejects.toBeInstanceOf(TlsClosedError);
  });

  it("after the peer's close_notify (allowHalfOpen) it answers: 'clean'", async () => {
    const [client, server] = await pair({ allowHalfOpen: true }, { allowHalfOpen: true });
    const [got] = await Promise.all([readAll(client.readable), serverClosesFirst(server, "x")]);
    expect(got).toBe("x");
    expect((await client.close()).ending).toBe("clean");
  });
});

describe("after the end", () => {
  it("info and peerChain stay readable; getSession() is null; keepSession hands over the session", async () => {
    const [client, server] = await pair({}, { keepSession: true });
    await Promise.all([readAll(client.readable), serverClosesFirst(server, "x")]);
    const closed = await client.closed;
    expect(client.connection.disposed).toBe(true);
    expect(client.info.protocol).toBe("TLSv1.3");
    expect(client.info.peerCertificate?.subject).toBe(`/CN=${SERVER_NAME}`);
    expect(client.peerChain.map((c) => c.subject)).toEqual([`/CN=${SERVER_NAME}`]);
    expect(client.getSession()).toBeNull();
    expect(closed.session?.resumable).toBe(true);
    closed.session!.dispose();
  });
});

describe("a listener's exception", () => {
  it("thrown by onVerify: the handshake fails with CertificateVerificationError whose cause is that exception", async () => {
    const boom = new Error("policy check blew up");
    const [a, b] = memoryPair();
    const [client] = await Promise.allSettled([
      TlsSocket.connect(a, { openssl: ossl, ca: id.certPem, servername: SERVER_NAME, onVerify: () => { throw boom; } }),
      TlsSocket.accept(b, { openssl: ossl, cert: id.certPem, key: id.keyPem }),
    ]);
    const e = (client as PromiseRejectedResult).reason;
    expect(e).toBeInstanceOf(CertificateVerificationError);
    expect((e as Error).cause).toBe(boom);
  });

  it("thrown by onSession: the socket fails with TlsCallbackError whose cause is that exception", async () => {
    const boom = new Error("cannot store the ticket");
    const [client, server] = await pair({}, { onSession: () => { throw boom; } });
    const reading = readAll(client.readable).catch((e: unknown) => e); // reading delivers the TLS 1.3 tickets
    void serverClosesFirst(server, "x").catch(() => {});
    const e = await reading;
    expect(e).toBeInstanceOf(TlsCallbackError);
    expect((e as TlsCallbackError).callback).toBe("onSession");
    expect((e as Error).cause).toBe(boom);
    expect((await client.closed).ending).toBe("error");
  });

  it("without a listener's exception, a verification failure's cause is OpenSSL's error queue", async () => {
    const [a, b] = memoryPair();
    const [client] = await Promise.allSettled([
      TlsSocket.connect(a, { openssl: ossl, ca: selfSigned("other.test").certPem, servername: SERVER_NAME }),
      TlsSocket.accept(b, { openssl: ossl, cert: id.certPem, key: id.keyPem }),
    ]);
    const e = (client as PromiseRejectedResult).reason as CertificateVerificationError;
    expect((e.cause as Error).name).toBe("OpenSSLError");
  });
});

describe("a long-lived socket", () => {
  it("holds no more memory after 20,000 more exchanges than after the first 2,000 (each read and write once left ~2.5 KB behind)", async () => {
    const [client, server] = await pair();
    const cw = client.writable.getWriter(), cr = client.readable.getReader();
    const sw = server.writable.getWriter(), sr = server.readable.getReader();
    const message = new Uint8Array(100);
    const exchanges = async (n: number) => {
      for (let i = 0; i < n; i++) {
        await cw.write(message);
        for (let got = 0; got < 100;) got += (await sr.read()).value!.length;
        await sw.write(message);
        for (let got = 0; got < 100;) got += (await cr.read()).value!.length;
      }
    };
    const growth = await heapGrowth(exchanges, 2_000, 20_000, () => ossl.heapInUse());
    // With the leak this was ~50 MB; without it, noise of well under 1 MB.
    expect(growth.js).toBeLessThan(4 << 20);
    expect(growth.wasm).toBeLessThan(64 << 10); // the wasm heap: nothing either
    cw.releaseLock();
    sw.releaseLock();
    cr.releaseLock();
    sr.releaseLock();
    await Promise.all([client.close(), server.close()]);
  }, 60_000);
});

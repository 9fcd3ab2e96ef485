// createFetch over TlsSocket against Node's https server (and its http
// server for http:), through tcpConnector and the package's tunnel:
// keep-alive reuse, chunked and gzip bodies, request bodies, redirects,
// truncation mid-body, oversized headers, framing errors, abort, a client
// certificate.
import { once } from "node:events";
import * as http from "node:http";
import * as https from "node:https";
import * as net from "node:net";
import * as tls from "node:tls";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import WebSocket from "ws";
import { HttpParseError, OpenSSL, TlsTruncationError, createFetch, memoryPair, tlsInfo, tunnelConnector, type Fetch } from "../../bindings/src/index.js";
import { createTunnel, tcpConnector } from "../../bindings/src/node.js";
import { heapGrowth } from "../helpers/heap.js";
import { selfSigned } from "../helpers/pki.js";

const id = selfSigned("localhost");
let server: https.Server;
let plain: http.Server;
let raw: net.Server;
let base: string;
let plainBase: string;
let rawBase: string;
let tlsConnections = 0;
/** What the raw TCP server answers, by the request's path. */
const rawAnswers = new Map<string, string>();

function handler(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url!, "http://x");
  if (url.pathname === "/early") {
    req.resume();
    res.setHeader("content-length", 5);
    res.end("early");
    return;
  }
  const body: Buffer[] = [];
  req.on("data", (b: Buffer) => body.push(b));
  req.on("end", () => {
    switch (url.pathname) {
      case "/hello":
        res.setHeader("content-length", 5);
        res.end("hello");
        break;
      case "/chunked":
        res.write("one ");
        setTimeout(() => { res.write("two "); res.end("three"); }, 20);
        break;
      case "/gzip":
        res.setHeader("content-encoding", "gzip");
        res.end(gzipSync(Buffer.from("compressed ".repeat(1000))));
        break;
      case "/echo":
        res.setHeader("x-method", req.method!);
        res.setHeader("x-framing", req.headers["transfer-encoding"] ?? `length ${req.headers["content-length"]}`);
        res.end(Buffer.concat(body));
        break;
      case "/redirect": {
        const n = Number(url.searchParams.get("n"));
        res.statusCode = n % 2 ? 302 : 307;
        res.setHeader("location", n > 1 ? `/redirect?n=${n - 1}` : "/hello");
        res.end("moved");
        break;
      }
      case "/truncate":
        res.setHeader("content-length", 100000);
        res.write("x".repeat(1000));
        setTimeout(() => req.socket.destroy(), 50); // no close_notify, no end of the body
        break;
      case "/big-headers":
        res.setHeader("x-big", "a".repeat(20000));
        res.end("never read");
        break;
      case "/slow":
        res.write("first");
        break;
      default:
        res.statusCode = 404;
        res.end();
    }
  });
}

beforeAll(async () => {
  server = https.createServer({ cert: id.certPem, key: id.keyPem }, handler);
  server.on("secureConnection", () => tlsConnections++);
  server.listen(0, "127.0.0.1");
  plain = http.createServer(handler);
  plain.listen(0, "127.0.0.1");
  raw = net.createServer((s) => {
    s.on("error", () => {});
    s.once("data", (b) => {
      const path = b.toString("latin1").split(" ")[1]!;
      s.end(rawAnswers.get(path) ?? "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    });
  });
  raw.listen(0, "127.0.0.1");
  await Promise.all([once(server, "listening"), once(plain, "listening"), once(raw, "listening")]);
  base = `https://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  plainBase = `http://127.0.0.1:${(plain.address() as net.AddressInfo).port}`;
  rawBase = `http://127.0.0.1:${(raw.address() as net.AddressInfo).port}`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
  plain.closeAllConnections();
  plain.close();
  raw.close();
});

const tlsOptions = { ca: [id.certPem], checkHost: "localhost" };

describe("createFetch over tcpConnector", () => {
  let fetch: Fetch;
  beforeAll(() => {
    fetch = createFetch({ connector: tcpConnector(), tls: tlsOptions });
  });
  afterAll(() => fetch.close());

  it("GETs, reuses the kept-alive connection, and says what happened underneath", async () => {
    const before = tlsConnections;
    const a = await fetch(`${base}/hello`);
    expect(a.status).toBe(200);
    expect(a.headers.get("content-length")).toBe("5");
    expect(a.url).toBe(`${base}/hello`);
    expect(await a.text()).toBe("hello");
    const b = await fetch(`${base}/hello`);
    expect(await b.text()).toBe("hello");
    expect(tlsConnections - before).toBe(1);
    const ia = tlsInfo(a)!, ib = tlsInfo(b)!;
    expect(ia).toMatchObject({ protocol: "TLSv1.3", alpnProtocol: "http/1.1", verification: "verified", connectionReused: false });
    expect(ib.connectionReused).toBe(true);
    expect(ia.peerChain[0]?.subject).toContain("localhost");
  });

  it("streams a chunked body, and decodes gzip", async () => {
    const c = await fetch(`${base}/chunked`);
    expect(await c.text()).toBe("one two three");
    const g = await fetch(`${base}/gzip`);
    expect(g.headers.get("content-encoding")).toBe("gzip");
    expect(await g.text()).toBe("compressed ".repeat(1000));
  });

  it("sends bodies: bytes and strings with Content-Length, a stream chunked", async () => {
    const s = await fetch(`${base}/echo`, { method: "POST", body: "text body" });
    expect(s.headers.get("x-framing")).toBe("length 9");
    expect(await s.text()).toBe("text body");
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode("streamed "));
        c.enqueue(new TextEncoder().encode("body"));
        c.close();
      },
    });
    const t = await fetch(`${base}/echo`, { method: "PUT", body: stream });
    expect(t.headers.get("x-framing")).toBe("chunked");
    expect(t.headers.get("x-method")).toBe("PUT");
    expect(await t.text()).toBe("streamed body");
    const h = await fetch(`${base}/hello`, { method: "HEAD" });
    expect(h.body).toBeNull();
    expect(await (await fetch(`${base}/hello`)).text()).toBe("hello"); // the HEAD left the connection usable
  });

  it("follows a redirect chain (302 and 307), or refuses it, or hands it over", async () => {
    const r = await fetch(`${base}/redirect?n=4`, { method: "POST", body: "x" });
    expect(r.status).toBe(200);
    expect(r.redirected).toBe(true);
    expect(r.url).toBe(`${base}/hello`);
    expect(await r.text()).toBe("hello");
    await expect(fetch(`${base}/redirect?n=1`, { redirect: "error" })).rejects.toThrow(TypeError);
    const m = await fetch(`${base}/redirect?n=1`, { redirect: "manual" });
    expect(m.status).toBe(302);
    expect(m.headers.get("location")).toBe("/hello");
    await m.body?.cancel();
    await expect(createFetch({ connector: tcpConnector(), tls: tlsOptions, maxRedirects: 2 })(`${base}/redirect?n=4`)).rejects.toThrow("redirects");
  });

  it("errors a body the connection truncated mid-way, never ends it as complete", async () => {
    const r = await fetch(`${base}/truncate`);
    expect(r.status).toBe(200);
    const err = await r.arrayBuffer().then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(TlsTruncationError);
    await expect(tlsInfo(r)!.closed).resolves.toMatchObject({ ending: "truncated" });
  });

  it("a body delimited by the connection's end: complete after close_notify, TlsTruncationError without it", async () => {
    const raw = tls.createServer({ cert: id.certPem, key: id.keyPem }, (s) => {
      s.on("error", () => {});
      s.once("data", (b: Buffer) => {
        s.write("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it");
        if (b.toString().startsWith("GET /clean")) s.end(); // close_notify
        else setTimeout(() => s.destroy(), 20); // the transport only
      });
    });
    raw.listen(0, "127.0.0.1");
    await once(raw, "listening");
    onTestFinished(() => { raw.close(); });
    const rawTls = `https://127.0.0.1:${(raw.address() as net.AddressInfo).port}`;
    const clean = await fetch(`${rawTls}/clean`);
    expect(await clean.text()).toBe("all of it");
    await expect(tlsInfo(clean)!.closed).resolves.toMatchObject({ ending: "clean" });
    const cut = await fetch(`${rawTls}/cut`);
    await expect(cut.text()).rejects.toBeInstanceOf(TlsTruncationError);
    await expect(tlsInfo(cut)!.closed).resolves.toMatchObject({ ending: "truncated" });
  });

  it("refuses oversized headers with an HttpParseError", async () => {
    const err = await fetch(`${base}/big-headers`).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(HttpParseError);
    expect((err as HttpParseError).code).toBe("HEADERS_TOO_LARGE");
    expect(await (await fetch(`${base}/hello`)).text()).toBe("hello");
  });

  // The pin case runs after other tests resumed sessions to this server: a resumed
  // session would skip onVerify, so createFetch does not resume where there is one.
  it("verifies as TlsSocket does: an unknown CA, a wrong name and a refused pin reject with CertificateVerificationError", async () => {
    const other = selfSigned("localhost", "ec-p384"); // another key (selfSigned("localhost") is the server's own)
    for (const options of [{ ca: [other.certPem], checkHost: "localhost" }, { ca: [id.certPem], checkHost: "elsewhere.test" },
      { ...tlsOptions, onVerify: (ok: boolean, d: { depth: number }) => ok && d.depth !== 0 }]) {
      const f = createFetch({ connector: tcpConnector(), tls: options });
      await expect(f(`${base}/hello`), JSON.stringify(Object.keys(options))).rejects.toMatchObject({ name: "CertificateVerificationError" });
      await f.close();
    }
  });

  it("aborts: before the response, and in the middle of its body", async () => {
    await expect(fetch(`${base}/hello`, { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: "AbortError" });
    const ac = new AbortController();
    const r = await fetch(`${base}/slow`, { signal: ac.signal });
    const reader = r.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe("first");
    ac.abort();
    await expect(reader.read()).rejects.toMatchObject({ name: "AbortError" });
    // a timeout signal: in the body (or before the head, on a slow machine)
    await expect(fetch(`${base}/slow`, { signal: AbortSignal.timeout(200) }).then((t) => t.text())).rejects.toMatchObject({ name: "TimeoutError" });
  });

  it("a signal aborted after its response was read leaves the kept-alive connection it opened alone", async () => {
    const own = createFetch({ connector: tcpConnector(), tls: tlsOptions });
    onTestFinished(() => own.close());
    const ac = new AbortController();
    const first = await own(`${base}/hello`, { signal: ac.signal });
    expect(await first.text()).toBe("hello");
    ac.abort(); // e.g. an AbortSignal.timeout() that fires later
    const second = await own(`${base}/hello`);
    expect(await second.text()).toBe("hello");
    expect(tlsInfo(second)!.connectionReused).toBe(true);
    expect(await Promise.race([tlsInfo(first)!.closed.then(() => "closed"), new Promise((r) => setTimeout(() => r("open"), 50))])).toBe("open");
  });
});

describe("createFetch: long-lived", () => {
  it("holds no more memory, JS or wasm, after 1,700 more GETs on one connection than after the first 300", async () => {
    const ossl = await OpenSSL.load();
    const fetch = createFetch({ connector: tcpConnector(), tls: tlsOptions });
    const connectionsBefore = tlsConnections;
    const gets = async (n: number) => {
      for (let i = 0; i < n; i++) expect(await (await fetch(`${base}/hello`)).text()).toBe("hello");
    };
    const growth = await heapGrowth(gets, 300, 1_700, () => ossl.heapInUse());
    expect(growth.js).toBeLessThan(2 << 20); // measured ~0.2-0.8 MB (warm-up); a leak of 1 KB a GET would pass 2 MiB
    expect(growth.wasm).toBeLessThan(64 << 10);
    expect(tlsConnections - connectionsBefore).toBe(1);
    await fetch.close();
  }, 60_000);

  it("holds no more memory after 5,000 more origins reached than after the first 1,000 (it kept a pool for every origin ever reached)", async () => {
    // In memory, each connection answered at once and closed: the pool of its origin is left empty.
    const answer = new TextEncoder().encode("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
    const fetch = createFetch({
      connector: async () => {
        const [client, server] = memoryPair();
        void (async () => {
          const r = server.readable.getReader(), w = server.writable.getWriter();
          await r.read();
          await w.write(answer);
          await w.close();
        })().catch(() => {}); // fetch drops the connection once it has the response: whatever the server still awaits fails
        return client;
      },
    });
    let n = 0;
    const gets = async (count: number) => {
      for (let i = 0; i < count; i++) expect(await (await fetch(`http://host-${n++}.test/`)).text()).toBe("hello");
    };
    const growth = await heapGrowth(gets, 1_000, 5_000);
    expect(growth.js).toBeLessThan(1.5 * (1 << 20)); // measured: 2.8 MB before (~550 B an origin), 0.4-0.7 MB after
    await fetch.close();
  }, 60_000);
});

describe("createFetch over http: and bad responses", () => {
  const fetch = createFetch({ connector: tcpConnector() });
  afterAll(() => fetch.close());

  it("speaks plain HTTP (no TLS details)", async () => {
    const r = await fetch(`${plainBase}/chunked`);
    expect(await r.text()).toBe("one two three");
    expect(tlsInfo(r)).toBeNull();
  });

  it.each([
    ["/cl-te", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "AMBIGUOUS_FRAMING"],
    ["/te-gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc", "UNSUPPORTED_TRANSFER_ENCODING"],
    ["/status", "HTTP/1.1 20 OK\r\n\r\n", "INVALID_STATUS_LINE"],
    ["/header", "HTTP/1.1 200 OK\r\nBad Header: x\r\nContent-Length: 0\r\n\r\n", "INVALID_HEADER"],
    ["/bare-lf", "HTTP/1.1 200 OK\nContent-Length: 0\n\n", "INVALID_HEADER"],
    ["/cl", "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", "INVALID_CONTENT_LENGTH"],
    ["/cl-twice", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", "AMBIGUOUS_FRAMING"],
  ])("refuses %s before the response", async (path, answer, code) => {
    rawAnswers.set(path, answer);
    await expect(fetch(`${rawBase}${path}`)).rejects.toMatchObject({ name: "HttpParseError", code });
  });

  it.each([
    ["/short", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "INCOMPLETE_MESSAGE"],
    ["/long", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef", "EXCESS_DATA"],
    ["/chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n", "INVALID_CHUNK"],
  ])("errors %s: the response, or its body when the error comes after the head", async (path, answer, code) => {
    rawAnswers.set(path, answer);
    const err = await fetch(`${rawBase}${path}`).then((r) => r.text()).then(() => null, (e: unknown) => e);
    expect(err).toMatchObject({ name: "HttpParseError", code });
  });
});

describe("the pool", () => {
  it("retries once on a new connection when the kept-alive one is closed as it is reused, before any response byte", async () => {
    // a server that answers the first request on each connection and drops the connection at the second
    let connections = 0;
    const flaky = net.createServer((s) => {
      connections++;
      let requests = 0;
      s.on("error", () => {});
      s.on("data", () => {
        if (++requests === 1) s.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        else s.destroy();
      });
    });
    flaky.listen(0, "127.0.0.1");
    await once(flaky, "listening");
    onTestFinished(() => { flaky.close(); });
    const url = `http://127.0.0.1:${(flaky.address() as net.AddressInfo).port}/`;
    const fetch = createFetch({ connector: tcpConnector() });
    expect(await (await fetch(url)).text()).toBe("ok");
    expect(await (await fetch(url)).text()).toBe("ok"); // the reused connection dropped, the retry answered
    expect(connections).toBe(2);
    // a streamed body is not replayed: the error comes through
    expect(await (await fetch(url, { method: "POST", body: "x" })).text()).toBe("ok");
    const stream = new ReadableStream({ start(c) { c.enqueue(new Uint8Array([1])); c.close(); } });
    await expect(fetch(url, { method: "POST", body: stream })).rejects.toThrow();
    await fetch.close();
  });

  it("gives the response a server sent before it read a streamed request body, and stops sending that body", async () => {
    const fetch = createFetch({ connector: tcpConnector(), tls: tlsOptions });
    let cancelled = false;
    const endless = new ReadableStream<Uint8Array>({
      pull: (c) => new Promise((r) => setTimeout(() => { if (!cancelled) c.enqueue(new Uint8Array(1024)); r(); }, 5)),
      cancel: () => { cancelled = true; },
    });
    const r = await fetch(`${base}/early`, { method: "POST", body: endless });
    expect(await r.text()).toBe("early");
    await expect.poll(() => cancelled).toBe(true);
    expect(tlsInfo(r)!.closed).toBeInstanceOf(Promise);
    await fetch.close();
  });

  it("frees what bad responses, truncations and aborts used: the heap is back where it was", async () => {
    const ossl = await OpenSSL.load();
    const round = async () => {
      const fetch = createFetch({ connector: tcpConnector(), tls: tlsOptions });
      rawAnswers.set("/leak", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc");
      await fetch(`${rawBase}/leak`).catch(() => {});
      await (await fetch(`${base}/truncate`)).text().catch(() => {});
      await fetch(`${base}/big-headers`).catch(() => {});
      // aborted in the body, or (a slow handshake) before the head
      await fetch(`${base}/slow`, { signal: AbortSignal.timeout(50) }).then((r) => r.text()).catch(() => {});
      await (await fetch(`${base}/hello`)).text();
      await fetch.close();
    };
    await round(); // warm up: the shared context, the I/O buffer
    // the closes in flight (close_notify, the transport) end on their own time
    await new Promise((resolve) => setTimeout(resolve, 200));
    const before = ossl.heapInUse();
    for (let i = 0; i < 3; i++) await round();
    // no growth (it can end lower: the baseline may hold a session or a close still in flight)
    await expect.poll(() => ossl.heapInUse(), { timeout: 10_000, interval: 100 }).toBeLessThanOrEqual(before);
  });

  it("keeps at most maxConnectionsPerOrigin, and closes idle ones with close_notify after idleTimeout", async () => {
    // a server of its own, so no other test's connections are counted
    const own = https.createServer({ cert: id.certPem, key: id.keyPem }, handler);
    let connections = 0;
    own.on("secureConnection", () => connections++);
    own.listen(0, "127.0.0.1");
    await once(own, "listening");
    onTestFinished(() => { own.closeAllConnections(); own.close(); });
    const ownBase = `https://127.0.0.1:${(own.address() as net.AddressInfo).port}`;
    const fetch = createFetch({ connector: tcpConnector(), tls: tlsOptions, maxConnectionsPerOrigin: 1, idleTimeout: 100 });
    const rs = await Promise.all([1, 2, 3].map(() => fetch(`${ownBase}/chunked`).then(async (r) => [r, await r.text()] as const)));
    expect(rs.map(([, t]) => t)).toEqual(["one two three", "one two three", "one two three"]);
    expect(connections, "TLS connections the server saw").toBe(1);
    expect(rs.map(([r]) => tlsInfo(r)!.connectionReused)).toEqual([false, true, true]);
    await expect(tlsInfo(rs[0]![0])!.closed).resolves.toMatchObject({ ending: "clean" });
    // a new connection after the idle one closed resumes its TLS session
    const again = await fetch(`${ownBase}/hello`);
    await again.text();
    expect(tlsInfo(again)).toMatchObject({ connectionReused: false, sessionReused: true });
    await fetch.close();
  });
});

describe("createFetch through the tunnel", () => {
  it("GETs over TLS through createTunnel, with the connection kept alive", async () => {
    const port = Number(new URL(base).port);
    const tunnel = await createTunnel({ port: 0, allow: [`127.0.0.1:${port}`] });
    const fetch = createFetch({ connector: tunnelConnector(tunnel.url, { WebSocket: WebSocket as never }), tls: tlsOptions });
    try {
      expect(await (await fetch(`${base}/chunked`)).text()).toBe("one two three");
      const g = await fetch(`${base}/gzip`);
      expect(await g.text()).toBe("compressed ".repeat(1000));
      expect(tlsInfo(g)!.connectionReused).toBe(true);
    } finally {
      await fetch.close();
      await tunnel.close();
    }
  });
});

describe("createFetch with a client certificate", () => {
  it("sends the certificate the server asks for (tls.cert/key); without one the server refuses the handshake", async () => {
    const client = selfSigned("client.test");
    const own = https.createServer({ cert: id.certPem, key: id.keyPem, requestCert: true, rejectUnauthorized: true, ca: [client.certPem] }, (req, res) => {
      const peer = (req.socket as tls.TLSSocket).getPeerCertificate();
      res.end(`hello ${peer.subject?.CN}`);
    });
    own.listen(0, "127.0.0.1");
    await once(own, "listening");
    onTestFinished(() => { own.closeAllConnections(); own.close(); });
    const ownBase = `https://127.0.0.1:${(own.address() as net.AddressInfo).port}`;
    const withCert = createFetch({ connector: tcpConnector(), tls: { ...tlsOptions, cert: client.certPem, key: client.keyPem } });
    const without = createFetch({ connector: tcpConnector(), tls: tlsOptions });
    onTestFinished(async () => { await withCert.close(); await without.close(); });
    const r = await withCert(`${ownBase}/`);
    expect(await r.text()).toBe("hello client.test");
    expect(tlsInfo(r)).toMatchObject({ protocol: "TLSv1.3", verification: "verified" });
    // TLS 1.3: the server's alert for the missing certificate comes after the client's Finished,
    // so the request fails on its first read, never with a response.
    const err = await without(`${ownBase}/`).then(() => null, (e: unknown) => e);
    expect(err).toMatchObject({ name: "OpenSSLError", message: expect.stringMatching(/alert certificate required \(SSL alert number 116\)/) });
  });
});

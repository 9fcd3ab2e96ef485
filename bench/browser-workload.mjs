// The workloads of `make bench`'s browser table (bench/browser.mjs), as one
// module that runs unchanged in a browser page (served from the repository
// root: bench/browser.html) and in Node (the reference row):
//
//   inPage(figure)   both ends in one page, memory BIOs (bench/engine.mjs's
//                    workload): full TLS 1.3 handshakes/s, ChaCha20-Poly1305
//                    and AES-128-GCM MB/s, client to server, 16 KiB writes
//   connections()    TlsSocket through the WebSocket tunnel to a local Node
//                    `tls` server: sequential connections/s, one shared
//                    context (connect, verify, close one-way)
//   bulk()           the same path, MB/s from the server to the reader of
//                    `tls.readable`, with the default cipher suites
//   upload()         the same path the other way: MB/s from 16 KiB writes
//                    on `tls.writable` to the server's count of them
//   httpGets()       createFetch through the tunnel to a local Node `https`
//                    server: 100 sequential GETs of a 300-byte body on one
//                    kept-alive connection, requests/s (issue 13)
//   httpDownload()   64 MiB through createFetch (GET, `res.body` read with a
//                    reader) and, in the same call, 64 MiB on a raw TlsSocket
//                    as bulk() does: MB/s of each (issue 13)
//
// After warmUp(), each figure is one short warm-up and one timed run of
// about `seconds` (the HTTP ones: of a fixed count or size).
import * as lib from "../bindings/dist/index.js";
import { createBench, timed } from "./engine.mjs";
import { HOST } from "./host.mjs";

const now = () => performance.now();

let bench;
/** Sets the engine workload up (a fresh module instance, contexts for X25519MLKEM768). */
export async function setup({ certPem, keyPem }) {
  bench?.dispose();
  bench = await createBench({ certPem, keyPem });
  return { group: bench.group };
}

/**
 * Untimed work before the figures: full handshakes for most of `seconds`,
 * then both bulk suites. An engine's optimizing compiler takes OpenSSL's
 * hot functions over only after they ran for a while (WebKit: several
 * seconds on a busy 2-core machine, handshakes first at a fifth of their
 * later rate), and the table is of the code as it then runs.
 */
export function warmUp(seconds) {
  bench.full(seconds * 0.6);
  bench.bulk("TLS_CHACHA20_POLY1305_SHA256", seconds * 0.2);
  bench.bulk("TLS_AES_128_GCM_SHA256", seconds * 0.2);
}

/** One in-page figure: "full" (handshakes/s), "chacha20" or "aes128gcm" (MB/s). */
export function inPage(figure, seconds) {
  if (figure === "full") return timed(bench.full, seconds);
  const suite = { chacha20: "TLS_CHACHA20_POLY1305_SHA256", aes128gcm: "TLS_AES_128_GCM_SHA256" }[figure];
  if (!suite) throw new TypeError(`unknown figure ${figure}`);
  return timed((s) => bench.bulk(suite, s), seconds) / 1e6;
}

/**
 * A transport to `url` through the tunnel: the page's WebSocket, or in Node
 * the `ws` package's (given as `WebSocket`), which must send the page's
 * Origin since the tunnel allows only that.
 */
async function transport(url, o) {
  if (!o.WebSocket) return lib.connectWebSocket(url);
  return lib.fromWebSocket(new o.WebSocket(url, { origin: o.origin, maxPayload: 1 << 20 }));
}

/**
 * Sequential TlsSocket connections through the tunnel, for about `seconds`
 * after a warm-up: connect (the handshake, with verification), then close
 * one-way. Returns connections/s and the median time to open one, in ms.
 */
export async function connections({ url, caPem, seconds, WebSocket, origin }) {
  const ossl = await lib.OpenSSL.load();
  const context = ossl.createContext({ role: "client", ca: caPem });
  const one = async () => {
    const t0 = now();
    const tls = await lib.TlsSocket.connect(await transport(url, { WebSocket, origin }), { context, servername: HOST });
    const opened = now() - t0;
    if (tls.info.verifyResult !== 0) throw new Error("not verified");
    await tls.shutdown({ mode: "unidirectional" });
    return opened;
  };
  try {
    for (const t0 = now(); now() - t0 < 300;) await one();
    const times = [];
    const t0 = now();
    do times.push(await one());
    while (now() - t0 < seconds * 1000);
    const elapsed = (now() - t0) / 1000;
    times.sort((a, b) => a - b);
    return { perSecond: times.length / elapsed, medianMs: times[times.length >> 1] };
  } finally {
    context.dispose();
  }
}

/**
 * One download of `bytes` on a new TlsSocket from `context`: the client
 * asks for them (a decimal line), the server sends them and closes
 * (close_notify), the client reads `tls.readable` with `for await` to the
 * end. MB/s from the request to the last byte (the handshake before it is
 * not counted), and the cipher suite.
 */
async function tlsDownload({ url, context, bytes, WebSocket, origin }) {
  const tls = await lib.TlsSocket.connect(await transport(url, { WebSocket, origin }), { context, servername: HOST });
  const cipher = tls.info.cipher;
  const t0 = now();
  const w = tls.writable.getWriter();
  await w.write(new TextEncoder().encode(`${bytes}\n`));
  w.releaseLock();
  let got = 0;
  for await (const chunk of tls.readable) got += chunk.byteLength;
  const s = (now() - t0) / 1000;
  await tls.shutdown({ mode: "unidirectional" });
  if (got !== bytes) throw new Error(`received ${got} of ${bytes} bytes`);
  return { MBps: bytes / 1e6 / s, cipher };
}

/**
 * Bulk from the server to the page (tlsDownload), with the default cipher
 * suites; a first run of 4 MiB sizes the timed one to about `seconds`.
 */
export async function bulk({ url, caPem, seconds, WebSocket, origin }) {
  const ossl = await lib.OpenSSL.load();
  const context = ossl.createContext({ role: "client", ca: caPem });
  try {
    const warm = await tlsDownload({ url, context, bytes: 4 << 20, WebSocket, origin });
    const bytes = Math.max(4 << 20, Math.min(512 << 20, Math.round(warm.MBps * 1e6 * seconds)));
    const r = await tlsDownload({ url, context, bytes, WebSocket, origin });
    return { ...r, bytes };
  } finally {
    context.dispose();
  }
}

/**
 * Bulk from the page to the server: the client announces `up <bytes>`,
 * writes them in 16 KiB chunks on `tls.writable`, and waits for the
 * server's "ok" once it has received them all. MB/s from the first write
 * to the "ok"; a first run of 4 MiB sizes the timed one to about `seconds`.
 */
export async function upload({ url, caPem, seconds, WebSocket, origin }) {
  const ossl = await lib.OpenSSL.load();
  const context = ossl.createContext({ role: "client", ca: caPem });
  const chunk = new Uint8Array(16384).fill(0x5a);
  const once = async (bytes) => {
    const tls = await lib.TlsSocket.connect(await transport(url, { WebSocket, origin }), { context, servername: HOST });
    const cipher = tls.info.cipher;
    const t0 = now();
    const w = tls.writable.getWriter();
    await w.write(new TextEncoder().encode(`up ${bytes}\n`));
    for (let left = bytes; left > 0; left -= chunk.length) await w.write(left >= chunk.length ? chunk : chunk.subarray(0, left));
    w.releaseLock();
    let reply = "";
    for await (const c of tls.readable) reply += new TextDecoder().decode(c);
    const s = (now() - t0) / 1000;
    await tls.shutdown({ mode: "unidirectional" });
    if (reply !== "ok\n") throw new Error(`the server answered ${JSON.stringify(reply)}`);
    return { MBps: bytes / 1e6 / s, cipher };
  };
  try {
    const probe = await once(4 << 20);
    const bytes = Math.max(4 << 20, Math.min(256 << 20, Math.round(probe.MBps * 1e6 * seconds)));
    return await once(bytes);
  } finally {
    context.dispose();
  }
}

// ---- HTTP: createFetch through the tunnel (issue 13) -----------------------
//
// Both against bench/http-server.mjs's Node `https` server, by its name
// ("localhost", the certificate's), through tunnelConnector: one WebSocket
// to the tunnel per connection, as a page would use it.

/** GET /small's body length (bench/http-server.mjs: SMALL_BYTES). */
const SMALL_BYTES = 300;
/** The size of httpDownload's transfers: 64 MiB. */
export const DOWNLOAD_BYTES = 64 << 20;

/**
 * A createFetch() through the tunnel at `tunnelUrl`, default TLS options
 * but the bench's CA. In the page: tunnelConnector with the page's
 * WebSocket; in Node: tunnelConnector with the `ws` package's, sending the
 * page's Origin (the tunnel allows only that one).
 */
function tunnelFetch({ tunnelUrl, caPem, WebSocket, origin }) {
  const WithOrigin = WebSocket && class extends WebSocket {
    constructor(url, protocols, options) { super(url, protocols, { ...options, origin }); }
  };
  const connector = lib.tunnelConnector(tunnelUrl, WithOrigin ? { WebSocket: WithOrigin } : {});
  return lib.createFetch({ connector, tls: { ca: caPem } });
}

/**
 * One GET of `path` on `fetch`, its body read whole with arrayBuffer();
 * checks the status, and that it went on `connection` (the `closed`
 * promise of tlsInfo(), one per connection) when one is given. Returns the
 * response's tlsInfo().
 */
async function get(fetch, url, { bytes, connection }) {
  const res = await fetch(url);
  const body = await res.arrayBuffer();
  if (res.status !== 200 || body.byteLength !== bytes) throw new Error(`GET ${url}: ${res.status}, ${body.byteLength} bytes`);
  const info = lib.tlsInfo(res);
  if (connection && !(info.connectionReused && info.closed === connection)) {
    throw new Error(`GET ${url} was not on the kept-alive connection (reused: ${info.connectionReused}): the pool opened another`);
  }
  return info;
}

/**
 * Sequential HTTPS GETs on one kept-alive connection: `count` GET /small
 * through createFetch, each awaited to the end of its body
 * (res.arrayBuffer()). A first GET opens the connection (the WebSocket,
 * the tunnel's TCP connection, the TLS handshake: not timed), `count - 1`
 * more warm up, then `count` are timed. The timed loop includes, per
 * request: fetch()'s Request and header handling, the request written
 * through TlsSocket and the WebSocket, the tunnel and the server, the
 * response parsed by llhttp, the Response and its body stream read to
 * the end, and the connection's return to the pool. Every request after
 * the first must reuse that connection (tlsInfo(): connectionReused, the
 * same connection), else this throws. Returns requests/s and the median
 * request in ms; and, measured after it in the same call, `rawPerSecond`:
 * the same exchanges on a bare TlsSocket (rawGets), the floor of this path.
 */
export async function httpGets({ tunnelUrl, httpOrigin, plainHost, caPem, count = 100, WebSocket, origin }) {
  const fetch = tunnelFetch({ tunnelUrl, caPem, WebSocket, origin });
  const url = `${httpOrigin}/small`;
  let result;
  try {
    const { closed: connection } = await get(fetch, url, { bytes: SMALL_BYTES });
    for (let i = 1; i < count; i++) await get(fetch, url, { bytes: SMALL_BYTES, connection });
    const times = [];
    const t0 = now();
    for (let i = 0; i < count; i++) {
      const t = now();
      await get(fetch, url, { bytes: SMALL_BYTES, connection });
      times.push(now() - t);
    }
    const elapsed = (now() - t0) / 1000;
    times.sort((a, b) => a - b);
    result = { perSecond: count / elapsed, medianMs: times[times.length >> 1] };
  } finally {
    await fetch.close();
  }
  return {
    ...result,
    rawPerSecond: await rawGets({ tunnelUrl, httpOrigin, caPem, count, WebSocket, origin }),
    clearPerSecond: await rawGets({ tunnelUrl, httpOrigin, plainHost, count, WebSocket, origin }),
  };
}

/**
 * The GETs without fetch: one TlsSocket through the tunnel to the same
 * server (a context of its own, default options), a request like the one
 * createFetch writes, the response read until its head and 300-byte body
 * are in. No Request, Response, pool or HTTP parser: what is left is
 * TLS, the WebSocket, the tunnel and the server. With `plainHost`, the
 * same in the clear on the bare WebSocket to the server's plain-http twin:
 * the WebSocket, the tunnel and the server alone, the floor of the path.
 * Same counts as httpGets (`count - 1` warm-ups after the first, then
 * `count` timed); requests/s.
 */
async function rawGets({ tunnelUrl, httpOrigin, plainHost, caPem, count, WebSocket, origin }) {
  const host = plainHost ?? new URL(httpOrigin).host;
  const ws = await transport(`${tunnelUrl}/${host}`, { WebSocket, origin });
  const tls = plainHost ? ws : await lib.TlsSocket.connect(ws, { ca: caPem, servername: HOST });
  const w = tls.writable.getWriter(), r = tls.readable.getReader();
  const request = new TextEncoder().encode(`GET /small HTTP/1.1\r\nHost: ${host}\r\naccept: */*\r\naccept-encoding: gzip, deflate\r\n\r\n`);
  const decoder = new TextDecoder("latin1");
  const one = async () => {
    await w.write(request);
    let got = "", end = -1;
    while (end < 0 || got.length < end + 4 + SMALL_BYTES) {
      const { done, value } = await r.read();
      if (done) throw new Error("the server closed the connection");
      got += decoder.decode(value);
      if (end < 0) end = got.indexOf("\r\n\r\n");
    }
    if (!got.startsWith("HTTP/1.1 200 ") || got.length !== end + 4 + SMALL_BYTES) throw new Error(`TlsSocket GET /small: ${got.slice(0, 40)}`);
  };
  try {
    for (let i = 0; i < count; i++) await one();
    const t0 = now();
    for (let i = 0; i < count; i++) await one();
    return count / ((now() - t0) / 1000);
  } finally {
    if (plainHost) {
      w.releaseLock();
      r.releaseLock();
      await ws.writable.close().catch(() => {});
    } else {
      await tls.close();
    }
  }
}

/**
 * One download of `bytes` through createFetch on its kept-alive connection
 * (opened before): GET /bytes/<n>, `res.body` read with a reader, the bytes
 * counted. MB/s from the fetch() call to the last byte, and the cipher.
 */
async function fetchDownload(fetch, httpOrigin, bytes, connection) {
  const t0 = now();
  const res = await fetch(`${httpOrigin}/bytes/${bytes}`);
  const info = lib.tlsInfo(res);
  if (res.status !== 200) throw new Error(`GET /bytes/${bytes}: ${res.status}`);
  if (!(info.connectionReused && info.closed === connection)) throw new Error("the download did not go on the kept-alive connection");
  const reader = res.body.getReader();
  let got = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    got += value.byteLength;
  }
  const s = (now() - t0) / 1000;
  if (got !== bytes) throw new Error(`fetch received ${got} of ${bytes} bytes`);
  return { MBps: bytes / 1e6 / s, cipher: info.cipher };
}

/**
 * A 64 MiB download through createFetch against the raw TlsSocket rate of
 * the same size, through the same tunnel, in the same call: the raw one is
 * tlsDownload() to the bulk TLS server (`url`), the fetch one GET
 * /bytes/67108864 from the HTTPS server (`httpOrigin`) on a kept-alive
 * connection. Both with the default cipher suites against a Node server
 * with its defaults (checked: the same suite), neither counting its
 * handshake. Each has an untimed 4 MiB run first; `fetchFirst` picks which
 * goes first in the timed pair (the caller alternates it). MB/s of each.
 */
export async function httpDownload({ url, tunnelUrl, httpOrigin, caPem, bytes = DOWNLOAD_BYTES, fetchFirst = false, WebSocket, origin }) {
  const ossl = await lib.OpenSSL.load();
  const context = ossl.createContext({ role: "client", ca: caPem });
  const fetch = tunnelFetch({ tunnelUrl, caPem, WebSocket, origin });
  try {
    // the connection, then the warm-ups
    const { closed: connection } = await get(fetch, `${httpOrigin}/small`, { bytes: SMALL_BYTES });
    await fetchDownload(fetch, httpOrigin, 4 << 20, connection);
    await tlsDownload({ url, context, bytes: 4 << 20, WebSocket, origin });
    const raw = () => tlsDownload({ url, context, bytes, WebSocket, origin });
    const viaFetch = () => fetchDownload(fetch, httpOrigin, bytes, connection);
    const [first, second] = fetchFirst ? [await viaFetch(), await raw()] : [await raw(), await viaFetch()];
    const [f, r] = fetchFirst ? [first, second] : [second, first];
    if (f.cipher !== r.cipher) throw new Error(`fetch ran ${f.cipher}, the raw TlsSocket ${r.cipher}: not comparable`);
    return { fetchMBps: f.MBps, rawMBps: r.MBps, cipher: f.cipher, bytes };
  } finally {
    context.dispose();
    await fetch.close();
  }
}

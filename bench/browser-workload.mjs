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
//
// After warmUp(), each figure is one short warm-up and one timed run of
// about `seconds`.
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
 * Bulk from the server to the page: the client asks for `bytes` (a decimal
 * line), the server sends them and closes (close_notify), the client reads
 * `tls.readable` with `for await` to the end. MB/s from the request to the
 * last byte; a first run of 4 MiB sizes the timed one to about `seconds`.
 */
export async function bulk({ url, caPem, seconds, WebSocket, origin }) {
  const ossl = await lib.OpenSSL.load();
  const context = ossl.createContext({ role: "client", ca: caPem });
  const once = async (bytes) => {
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
  };
  try {
    const warm = await once(4 << 20);
    const bytes = Math.max(4 << 20, Math.min(512 << 20, Math.round(warm.MBps * 1e6 * seconds)));
    const r = await once(bytes);
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

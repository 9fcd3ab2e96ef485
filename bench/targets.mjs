// The targets of issue 11, checked against the figures `make bench` measured
// in the same run (bench/run.mjs), plus the two it measures here: the wasm
// heap an idle established connection holds (1,000 of them) and the
// module's brotli size; and issue 13's, against the browser run's HTTP
// figures (bench/browser.mjs). Prints one line per target: the figure, the
// target, met or missed by how much. It judges nothing else: the figures
// above it are the measurement.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { brotliCompressSync, constants as zlib } from "node:zlib";

const root = fileURLToPath(new URL("..", import.meta.url));

/**
 * 1,000 TLS 1.3 connections (X25519MLKEM768, ECDSA P-256), clients in one
 * OpenSSL instance and servers in another, each handshaken and then idle
 * after one record each way: the heap each side's instance holds per
 * connection (OpenSSL.heapInUse(), the wasm heap in use; what JavaScript
 * holds is not counted).
 */
export async function idleHeap({ certPem, keyPem }, n = 1000, clientOptions = {}) {
  const { OpenSSL } = await import(join(root, "bindings/dist/index.js"));
  const a = await OpenSSL.instantiate(), b = await OpenSSL.instantiate();
  const cctx = a.createContext({ role: "client", ca: certPem, ...clientOptions });
  const sctx = b.createContext({ role: "server", cert: certPem, key: keyPem });
  const pump = (from, to) => { const x = from.drain(); if (x.length) to.feed(x); };
  const one = new Uint8Array([1]);
  const conns = [];
  // one connection first, so that both instances' one-time allocations are made
  const open = () => {
    const c = cctx.createConnection({ servername: "localhost" }), s = sctx.createConnection();
    c.handshake();
    for (let i = 0; i < 10 && !(c.handshakeDone && s.handshakeDone); i++) { pump(c, s); s.handshake(); pump(s, c); c.handshake(); }
    pump(c, s); s.handshake();
    c.write(one); pump(c, s); s.read(16); s.write(one); pump(s, c); c.read(16);
    if (!c.handshakeDone || !s.handshakeDone) throw new Error("idle heap: a handshake did not finish");
    return [c, s];
  };
  conns.push(open());
  const a0 = a.heapInUse(), b0 = b.heapInUse();
  for (let i = 0; i < n; i++) conns.push(open());
  const client = (a.heapInUse() - a0) / n, server = (b.heapInUse() - b0) / n;
  for (const [c, s] of conns) { c.dispose(); s.dispose(); }
  cctx.dispose(); sctx.dispose();
  return { n, client, server };
}

/** The shipped module's size, brotli at quality 11 as `make size` measures it. */
export function brotliSize() {
  const wasm = readFileSync(join(root, "wasm/dist/openssl.wasm"));
  return brotliCompressSync(wasm, { params: { [zlib.BROTLI_PARAM_QUALITY]: 11, [zlib.BROTLI_PARAM_SIZE_HINT]: wasm.length } }).length;
}

const ratio = (a, b) => (Number.isFinite(a) && b ? a / b : NaN);

/** Rows of a targets table, and how to add one: `met` NaN for a figure not measured. */
function targetRows() {
  const rows = [];
  const add = (what, figure, target, met, shortBy) =>
    rows.push([what, figure, target, Number.isNaN(met) ? "not measured" : met ? "met" : `missed${shortBy ? ` (${shortBy})` : ""}`]);
  return { rows, add };
}

function printRows(title, rows) {
  console.log(`\n${title}`);
  const w = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) console.log(`  ${r[0].padEnd(w[0])}  ${r[1].padStart(w[1])}  ${r[2].padEnd(w[2])}  ${r[3]}`);
}

/** The lines of the targets table. `browsers` may be null (BENCH_BROWSERS=none). */
export function printTargets({ native, engine, browsers, idle, size }) {
  const { rows, add } = targetRows();
  const vsNative = (what, key, min) => {
    const r = ratio(engine[key], native[key]);
    add(what, `${r.toFixed(2)}x (${engine[key]?.toFixed(1)} vs ${native[key]?.toFixed(1)})`, `>= ${min}x native`,
      Number.isNaN(r) ? NaN : r >= min, `${((1 - r / min) * 100).toFixed(0)}% short`);
  };
  vsNative("AES-128-GCM, engine / native Node tls", "aes128gcm_MBps", 0.5);
  vsNative("ChaCha20-Poly1305, engine / native Node tls", "chacha20_MBps", 0.7);
  vsNative(`full handshakes, engine (${engine.group}) / native (${native.group})`, "full_hs_per_s", 0.7);
  vsNative("resumed handshakes, engine / native", "resumed_hs_per_s", 1);
  const chromium = browsers?.rows.find((r) => r.engine === "chromium" && !r.error);
  const node = browsers?.rows.find((r) => r.engine === "node" && !r.error);
  if (chromium) {
    add("Chromium through the tunnel: sequential connections/s", chromium.conns.toFixed(0), ">= 150", chromium.conns >= 150,
      `${((1 - chromium.conns / 150) * 100).toFixed(0)}% short`);
    add("Chromium through the tunnel: bulk MB/s", chromium.bulk.toFixed(1), ">= 100", chromium.bulk >= 100,
      `${((1 - chromium.bulk / 100) * 100).toFixed(0)}% short`);
    if (node) {
      // Node's row runs the same TlsSocket code through the same tunnel (not direct TCP)
      for (const [k, t] of [["conns", "connections/s"], ["bulk", "bulk MB/s"]]) {
        const r = ratio(chromium[k], node[k]);
        add(`Chromium / Node through the same tunnel: ${t}`, `${r.toFixed(2)}x`, ">= 0.8x", r >= 0.8, `${((1 - r / 0.8) * 100).toFixed(0)}% short`);
      }
    }
  } else {
    add("Chromium through the tunnel", "-", ">= 150 conn/s, >= 100 MB/s", NaN);
  }
  const kib = (x) => (x / 1024).toFixed(1);
  add(`heap per idle established connection (${idle.n}, client / server)`, `${kib(idle.client)} / ${kib(idle.server)} KiB`, "<= 24 KiB",
    Math.max(idle.client, idle.server) <= 24 * 1024, `${kib(Math.max(idle.client, idle.server) - 24 * 1024)} KiB over`);
  add("make size, brotli", `${(size / 1000).toFixed(0)} KB`, "<= 450 KB", size <= 450_000, `${((size - 450_000) / 1000).toFixed(0)} KB over`);

  printRows("Issue 11's targets, from the figures above (same run):", rows);
}

/**
 * Issue 13's targets, from the HTTP figures of the browser run: Chromium's
 * GETs through createFetch and the tunnel against native Node `https` to
 * the same server (>= 0.5x), and its 64 MiB fetch download against the raw
 * TlsSocket download of the same size in the same calls (>= 0.8x). Each
 * figure is the best of its rounds; the fetch/TlsSocket ratios of the
 * single calls are in the HTTP table. `browsers` may be null.
 */
export function printHttpTargets(browsers) {
  const { rows, add } = targetRows();
  const find = (engine) => browsers?.rows.find((r) => r.engine === engine && !r.error);
  const chromium = find("chromium"), native = find("native");
  const short = (r, min) => `${((1 - r / min) * 100).toFixed(0)}% short`;
  const gets = ratio(chromium?.gets, native?.gets);
  add("Chromium: sequential fetch GETs on one kept-alive connection / native Node https", Number.isNaN(gets) ? "-"
    : `${gets.toFixed(2)}x (${chromium.gets.toFixed(0)} vs ${native.gets.toFixed(0)}/s)`, ">= 0.5x", Number.isNaN(gets) ? NaN : gets >= 0.5, short(gets, 0.5));
  const dl = ratio(chromium?.fetch64, chromium?.raw64);
  add("Chromium: 64 MiB through fetch / raw TlsSocket, same tunnel", Number.isNaN(dl) ? "-"
    : `${dl.toFixed(2)}x (${chromium.fetch64.toFixed(1)} vs ${chromium.raw64.toFixed(1)} MB/s)`, ">= 0.8x", Number.isNaN(dl) ? NaN : dl >= 0.8, short(dl, 0.8));
  printRows("Issue 13's targets, from the HTTP figures above (same run):", rows);
  // Not a target: what the path allows, measured in the same calls. No TLS or HTTP stack in the page can beat it.
  const floor = ratio(chromium?.clearGets, native?.gets);
  if (!Number.isNaN(floor)) {
    console.log(`  (the GETs' floor: the same exchanges in the clear on a bare WebSocket through the same tunnel reach ` +
      `${floor.toFixed(2)}x native (${chromium.clearGets.toFixed(0)}/s); fetch reaches ${(chromium.gets / chromium.clearGets).toFixed(2)}x of that floor)`);
  }
}

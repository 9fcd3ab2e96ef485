// `make bench`: TLS 1.3 handshake rates and bulk throughput, in one run, for
//   - native Node tls          (bench/native-node.mjs: Node's own OpenSSL, TCP on 127.0.0.1)
//   - C program, wasm OpenSSL  (bench/c/bench.c on this project's wasm OpenSSL, memory BIOs)
//   - TypeScript engine        (bench/engine.mjs: the same workload through bindings/dist)
// then the ratios between them; each symmetric primitive alone, wasm beside
// native (bench/prims.mjs); the browser table; and issue 11's targets against
// these figures, with the idle heap of 1,000 connections and the module's
// brotli size (bench/targets.mjs). The C program is the ceiling for the engine:
// the same wasm OpenSSL and the same memory-BIO transport, without JavaScript
// in between. Then the browser table (bench/browser.mjs): the engine's
// workload and TlsSocket through the tunnel in Chromium, Firefox and WebKit,
// beside Node's figures for the same workloads; and the HTTP table, with
// issue 13's targets: createFetch through the tunnel, 100 sequential GETs
// on one kept-alive connection against native Node `https` to the same
// server, and a 64 MiB download against the raw TlsSocket rate.
//
// This machine's speed drifts by 25-40% between runs and within one, so the
// C program and the engine are measured together, in one child process,
// in short interleaved slices (bench/compare.mjs), and the engine/C ratio
// is the median of the per-pair ratios. Native Node tls cannot be sliced
// that way (it is asynchronous, over sockets); it is measured on its own
// afterwards, so the ratios against it still carry the drift.
//
//   node bench/run.mjs   BENCH_SECONDS=2 (default): seconds of measurement per side and figure
//                        BENCH_SLICE=0.25 (default): seconds per interleaved slice
//                        BENCH_ENGINE=path: the engine module (default bench/engine.mjs)
//                        BENCH_BROWSERS=chromium,firefox,webkit (default; "none": no browser table)
//                        BENCH_BROWSER_WARMUP=8: seconds of untimed work in each page first
//                        BENCH_BROWSER_ROUNDS=2: rounds of BENCH_SECONDS per browser figure (the best counts)
//                        BENCH_ONLY=http: only the HTTP table and issue 13's targets (no native, C,
//                          engine, primitives or TLS browser figures; ~25 s with BENCH_BROWSERS=chromium)
//
// Needs the cached OpenSSL build (wasm/build/openssl-prefix) and bindings/dist
// (both made by `make`). Builds bench/build/bench.{mjs,wasm} with emcc when
// missing or stale. Output: the table on stdout, and bench/build/results.json.
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { buildCModule } from "./c-module.mjs";
import { ENGINES } from "../test/helpers/browsers.mjs";
import { HTTP_COLUMNS, printBrowserTable, runBrowserBench } from "./browser.mjs";
import { makeCert } from "./cert.mjs";
import { pickGroup, run as runNative } from "./native-node.mjs";
import { brotliSize, idleHeap, printHttpTargets, printTargets } from "./targets.mjs";
import { printPrims, runPrims } from "./prims.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const at = (p) => join(root, p);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const SLICE = Number(process.env.BENCH_SLICE ?? 0.25);
const BUILD_DIR = at("bench/build");
const ENGINE = process.env.BENCH_ENGINE ? resolve(process.env.BENCH_ENGINE) : at("bench/engine.mjs");
const BROWSERS = (process.env.BENCH_BROWSERS ?? "chromium,firefox,webkit").split(",").filter((b) => b && b !== "none");
const BROWSER_WARMUP = Number(process.env.BENCH_BROWSER_WARMUP ?? 8);
const BROWSER_ROUNDS = Number(process.env.BENCH_BROWSER_ROUNDS ?? 2);
const ONLY = process.env.BENCH_ONLY ?? "";

const METRICS = [
  ["full_hs_per_s", "full hs/s"],
  ["resumed_hs_per_s", "resumed hs/s"],
  ["aes128gcm_MBps", "AES-128-GCM MB/s"],
  ["chacha20_MBps", "ChaCha20 MB/s"],
];

function fail(message) {
  console.error(`bench: ${message}`);
  process.exit(1);
}

// The C program and the engine, interleaved, in a fresh process: the same
// start-up state every run, and nothing left over from native's sockets.
function runCompare({ certPem, keyPem }, hsGroup) {
  const r = spawnSync(process.execPath, [at("bench/compare.mjs")], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"], // its progress lines go straight to our stderr
    env: {
      ...process.env, BENCH_CERT_PEM: certPem, BENCH_KEY_PEM: keyPem, BENCH_SECONDS: String(SECONDS),
      BENCH_SLICE: String(SLICE), BENCH_HS_GROUP: hsGroup, BENCH_ENGINE: ENGINE,
    },
    // warm-ups, 4 figures x 2 sides, the extra handshake row: ~11 x SECONDS + 8 s; room to spare
    timeout: (SECONDS * 25 + 60) * 1000,
  });
  if (r.error || r.status !== 0) fail(`bench/compare.mjs failed (${r.error?.message ?? `exit ${r.status}`})`);
  try {
    return JSON.parse(r.stdout.trim().split("\n").pop());
  } catch {
    fail(`bench/compare.mjs printed no JSON: ${r.stdout}`);
  }
}

// ---- the table ----------------------------------------------------------------

const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : null);
const fmt = (v) => (num(v) === null ? "-" : v >= 100 ? v.toFixed(0) : v.toFixed(1));
const ratio = (a, b) => (num(a) !== null && num(b) ? a / b : null);
const fmtRatio = (r) => (num(r) === null ? "-" : r.toFixed(2) + "x");

function table(rows) {
  const label = Math.max(...rows.map((r) => r[0].length));
  const widths = METRICS.map(([, title]) => Math.max(title.length, 9));
  const line = (name, cells) =>
    name.padEnd(label) + "  " + cells.map((c, i) => String(c).padStart(widths[i])).join("  ");
  console.log(line("", METRICS.map(([, title]) => title)));
  for (const [name, cells] of rows) console.log(cells ? line(name, cells) : ""); // null cells: a blank line
}

/** The q-quantile of `values`, interpolated. */
function quantile(values, q) {
  const v = [...values].sort((a, b) => a - b);
  const x = (v.length - 1) * q, i = Math.floor(x);
  return i + 1 < v.length ? v[i] + (v[i + 1] - v[i]) * (x - i) : v[i];
}

// ---- main -----------------------------------------------------------------------

if (!(SECONDS > 0 && SECONDS <= 30)) fail("BENCH_SECONDS must be in (0, 30]");
if (!(BROWSER_WARMUP >= 0 && BROWSER_WARMUP <= 60)) fail("BENCH_BROWSER_WARMUP must be in [0, 60]");
if (!(Number.isInteger(BROWSER_ROUNDS) && BROWSER_ROUNDS >= 1 && BROWSER_ROUNDS <= 10)) fail("BENCH_BROWSER_ROUNDS must be an integer in [1, 10]");
for (const b of BROWSERS) if (!ENGINES.includes(b)) fail(`BENCH_BROWSERS: unknown engine ${b} (${ENGINES.join(", ")}, or none)`);
if (!(SLICE >= 0.01 && SLICE <= SECONDS)) fail("BENCH_SLICE must be in [0.01, BENCH_SECONDS]");
if (ONLY && ONLY !== "http") fail(`BENCH_ONLY: unknown part ${ONLY} (http)`);

// BENCH_ONLY=http: the HTTP figures (bench/browser.mjs) and issue 13's targets, nothing else.
if (ONLY === "http") {
  const t0 = Date.now();
  const options = { seconds: SECONDS, warmup: BROWSER_WARMUP, rounds: BROWSER_ROUNDS };
  const browsers = await runBrowserBench({ cert: makeCert(), engines: BROWSERS, figures: HTTP_COLUMNS.map(([k]) => k), ...options });
  printBrowserTable(browsers, options);
  printHttpTargets(browsers);
  console.log(`total ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  mkdirSync(BUILD_DIR, { recursive: true });
  writeFileSync(join(BUILD_DIR, "results-http.json"), JSON.stringify({ node: process.version, browsers: browsers.rows }, null, 2) + "\n");
  if (browsers.failed) fail("a browser's figures could not be measured (its row says why)");
  process.exit(0);
}
try {
  buildCModule();
} catch (e) {
  fail(e.message);
}
const cert = makeCert();
const started = Date.now();

// Node 20's OpenSSL (3.0) has no X25519MLKEM768: the C program also times
// its handshakes with the group native uses, so that ratio is like for like.
const nativeGroup = pickGroup();
const cmp = runCompare(cert, nativeGroup);
const { c: wasmC, engine, cSameGroup: wasmCSameGroup, paired, drift } = cmp;
console.error("bench: native Node tls ...");
const native = await runNative({ ...cert, seconds: SECONDS });

const cells = (r) => METRICS.map(([k]) => fmt(r[k]));
const ratios = (a, b) => METRICS.map(([k]) => fmtRatio(ratio(a[k], b[k])));
const rows = [
  [`native Node tls (OpenSSL ${process.versions.openssl}, ${native.group})`, cells(native)],
  [`C program on wasm OpenSSL (${wasmC.group})`, cells(wasmC)],
];
if (wasmCSameGroup) rows.push([`C program on wasm OpenSSL (${wasmCSameGroup.group})`, cells(wasmCSameGroup)]);
rows.push([`TypeScript engine on wasm OpenSSL (${engine.group})`, cells(engine)]);
rows.push(["", null]);
rows.push(["ratio wasm-C / native", ratios(wasmC, native)]);
if (wasmCSameGroup) rows.push([`ratio wasm-C / native, both ${native.group}`, ratios(wasmCSameGroup, native)]);
rows.push(["ratio engine / native", ratios(engine, native)]);
rows.push([`ratio engine / C program, median of ${cmp.pairs} pairs`, METRICS.map(([k]) => fmtRatio(paired[k].median))]);
rows.push(["ratio engine / C program, totals", METRICS.map(([k]) => fmtRatio(paired[k].total))]);
// How far the pairs scatter, and how much the machine drifted meanwhile:
// wide drift with a narrow middle half is the interleaving doing its job.
rows.push(["  middle half of the pair ratios", METRICS.map(([k]) =>
  `${quantile(paired[k].ratios, 0.25).toFixed(2)}-${quantile(paired[k].ratios, 0.75).toFixed(2)}`)]);
rows.push(["  C program, fastest/slowest slice", METRICS.map(([k]) => fmtRatio(drift[k]))]);

console.log(`\nTLS 1.3, ECDSA P-256 certificate, MB = 10^6 bytes, 16 KiB writes client->server`);
console.log(`C program and engine: one process, ${cmp.pairs} interleaved pairs of ${SLICE} s slices per figure `
  + `(figures: total work / total time); native: on its own, ${SECONDS} s per figure`);
table(rows);
// "Within 15%": the engine reaches at least 85% of the C program (being
// faster than it also counts), judged on the median of the paired ratios.
const verdicts = METRICS.map(([k, title]) => {
  const r = num(paired[k].median);
  return `${title} ${r === null ? "n/a" : r >= 0.85 ? "yes" : "NO"} (${fmtRatio(r)})`;
});
console.log(`\nengine within 15% of the C program (engine/C >= 0.85, median of paired slices): ${verdicts.join(", ")}`);

const prims = await runPrims();
printPrims(prims);

// Browsers: after everything above, so nothing else runs meanwhile.
let browsers = null;
if (BROWSERS.length) {
  const options = { seconds: SECONDS, warmup: BROWSER_WARMUP, rounds: BROWSER_ROUNDS };
  browsers = await runBrowserBench({ cert, engines: BROWSERS, ...options });
  printBrowserTable(browsers, options);
}
console.error("bench: 1,000 idle connections ...");
const idle = await idleHeap(cert);
const size = brotliSize();
printTargets({ native, engine, browsers, idle, size });
if (browsers) printHttpTargets(browsers);
console.log(`total ${((Date.now() - started) / 1000).toFixed(1)} s`);

writeFileSync(join(BUILD_DIR, "results.json"), JSON.stringify({
  seconds: SECONDS, slice: SLICE, pairs: cmp.pairs, node: process.version, nodeOpenSSL: process.versions.openssl,
  native, wasmC, wasmCSameGroup, engine, paired, drift, slices: cmp.slices, browsers: browsers?.rows ?? null, idle, size, prims,
}, null, 2) + "\n");
if (browsers?.failed) fail("a browser's figures could not be measured (its row says why)");

// `make bench`, the engine against the C code: both in this one process,
// each on its own instance of the wasm OpenSSL (bench/c-module.mjs and
// bench/engine.mjs), measured in short alternating time slices.
//
// Why: this VM's speed drifts by 25-40% between runs and within one, so two
// figures measured at different moments (separate processes, best of
// rounds) gave engine/C ratios anywhere from 0.74x to 1.36x. Here each
// engine slice has a C slice right next to it, and the ratio is taken per
// such pair: drift slower than a slice hits both sides of a pair alike.
// The pairs run in ABBA order (C,E  E,C  C,E ...), so a steady drift within
// a pair also cancels over two pairs instead of always favouring one side.
// Each side times its slices with the same clock (performance.now() here);
// the slice functions only return the work they did.
//
// First an untimed warm-up of every metric on each side: V8 runs new wasm
// code unoptimized (Liftoff) and optimizes the hot functions in the
// background, which takes about 0.75 s of full handshakes here; the engine's
// JavaScript tiers up too. Then for each metric a short warm-up slice of each
// side and `pairs` pairs of slices of `slice` seconds, `pairs` = seconds /
// slice (so ~`seconds` of measurement per side).
// Reported per metric: the engine/C ratio as the median of the per-pair
// ratios and from the totals, and each side's absolute figure, total work /
// total time of its slices.
//
// When the native row uses another key-exchange group (Node 20's OpenSSL 3.0
// has no X25519MLKEM768), a second instance of the C code does the
// handshakes with that group too, as a third side in the same rounds of the
// handshake metrics: the like-for-like figure for the native comparison,
// under the same drift as the other two.
//
//   node bench/compare.mjs   BENCH_SECONDS=2  seconds per side and metric
//                            BENCH_SLICE=0.25 seconds per slice
//                            BENCH_HS_GROUP=X25519  the extra C handshake row's group (none if unset)
//                            BENCH_ENGINE=path  the engine module (default bench/engine.mjs)
//                            BENCH_CERT_PEM, BENCH_KEY_PEM  (else a new certificate)
// prints one JSON line (see compare() below); progress goes to stderr.
// Needs bench/build/bench.{mjs,wasm} (built here when stale) and bindings/dist.
import { performance } from "node:perf_hooks";
import { resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { buildCModule, loadCBench } from "./c-module.mjs";

export const GROUP = "X25519MLKEM768";
const STARTUP_WARMUP_SECONDS = 0.5; // per metric and side, once
const WARMUP_SECONDS = 0.2;         // per metric and side, before its pairs
const MAX_PAIRS = 200; // with the per-slice time and count limits, bounds every loop here

export const METRICS = [
  { key: "full_hs_per_s", run: (b, s) => b.full(s), unit: 1, handshakes: true },
  { key: "resumed_hs_per_s", run: (b, s) => b.resumed(s), unit: 1, handshakes: true },
  { key: "aes128gcm_MBps", run: (b, s) => b.bulk("TLS_AES_128_GCM_SHA256", s), unit: 1e6 },
  { key: "chacha20_MBps", run: (b, s) => b.bulk("TLS_CHACHA20_POLY1305_SHA256", s), unit: 1e6 },
];

/** One slice, timed here with one clock for both sides: [work, seconds]. */
function slice(bench, metric, seconds) {
  const t0 = performance.now();
  const work = metric.run(bench, seconds) / metric.unit;
  return [work, (performance.now() - t0) / 1000];
}

const rateOf = (slices) => slices.reduce((s, [w]) => s + w, 0) / slices.reduce((s, [, t]) => s + t, 0);

function median(values) {
  const v = [...values].sort((a, b) => a - b);
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/**
 * `pairs` rounds of one slice per side, after a warm-up slice of each. The
 * order is reversed every other round (C,E,X  X,E,C  C,E,X ...): the C code
 * and the engine stay next to each other, in ABBA order. Returns each side's
 * slices, and the engine/C ratio of each round.
 */
function interleave(sides, metric, pairs, sliceSeconds) {
  for (const b of sides) slice(b, metric, WARMUP_SECONDS);
  const slices = sides.map(() => []);
  const order = sides.map((_, i) => i);
  for (let i = 0; i < pairs; i++) {
    for (const j of i % 2 === 0 ? order : [...order].reverse()) slices[j].push(slice(sides[j], metric, sliceSeconds));
  }
  const [cs, es] = slices;
  const ratios = es.map(([w, t], i) => (w / t) / (cs[i][0] / cs[i][1]));
  return { slices, ratios };
}

/**
 * @returns {Promise<{ group: string, seconds: number, slice: number, pairs: number,
 *   c: object, engine: object, cSameGroup: object | null,
 *   paired: Record<string, { median: number, total: number, min: number, max: number, ratios: number[] }>,
 *   drift: Record<string, number>, slices: object }>}
 *   c, engine, cSameGroup: {group, full_hs_per_s, resumed_hs_per_s, aes128gcm_MBps, chacha20_MBps}
 *   (total work / total time; null where not measured); drift: fastest / slowest C slice.
 */
export async function compare({ certPem, keyPem, seconds = 2, slice: sliceSeconds = 0.25, hsGroup, enginePath,
  log = (m) => process.stderr.write(`${m}\n`) }) {
  const pairs = Math.min(MAX_PAIRS, Math.max(1, Math.round(seconds / sliceSeconds)));
  const { createBench } = await import(pathToFileURL(enginePath ?? fileURLToPath(new URL("./engine.mjs", import.meta.url))).href);
  const c = await loadCBench();
  c.setup({ certPem, keyPem, group: GROUP });
  const engine = await createBench({ certPem, keyPem, group: GROUP });
  // The extra handshake row's C code: its own instance, so it can take part
  // in the same interleaving (its figures then share the drift of the others).
  let cx = null;
  if (hsGroup && hsGroup.toLowerCase() !== GROUP.toLowerCase()) {
    cx = await loadCBench();
    cx.setup({ certPem, keyPem, group: hsGroup });
  }

  const out = {
    group: GROUP, seconds, slice: sliceSeconds, pairs,
    c: { group: GROUP }, engine: { group: GROUP }, cSameGroup: cx && { group: hsGroup }, paired: {}, drift: {}, slices: {},
  };
  try {
    const sidesOf = (m) => [c, engine, ...(cx && m.handshakes ? [cx] : [])];
    const warmups = METRICS.reduce((n, m) => n + sidesOf(m).length, 0);
    log(`bench: warming up the C code and the engine (${(warmups * STARTUP_WARMUP_SECONDS).toFixed(1)} s) ...`);
    for (const m of METRICS) {
      for (const b of sidesOf(m)) slice(b, m, STARTUP_WARMUP_SECONDS);
    }
    for (const m of METRICS) {
      const sides = sidesOf(m);
      log(`bench: ${m.key}: C code, engine${sides.length > 2 ? `, C code with ${hsGroup}` : ""}: `
        + `${pairs} interleaved rounds of ${sliceSeconds} s slices ...`);
      const r = interleave(sides, m, pairs, sliceSeconds);
      const [cSlices, eSlices, xSlices] = r.slices;
      const cRate = rateOf(cSlices), eRate = rateOf(eSlices);
      const cSliceRates = cSlices.map(([w, t]) => w / t);
      if (cx) out.cSameGroup[m.key] = xSlices ? rateOf(xSlices) : null;
      out.c[m.key] = cRate;
      out.engine[m.key] = eRate;
      out.paired[m.key] = {
        median: median(r.ratios), total: eRate / cRate,
        min: Math.min(...r.ratios), max: Math.max(...r.ratios), ratios: r.ratios,
      };
      out.drift[m.key] = Math.max(...cSliceRates) / Math.min(...cSliceRates);
      out.slices[m.key] = { c: cSlices, engine: eSlices, ...(xSlices ? { cSameGroup: xSlices } : {}) };
    }
  } finally {
    engine.dispose();
    c.dispose();
    cx?.dispose();
  }
  return out;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const seconds = Number(process.env.BENCH_SECONDS ?? 2);
  const sliceSeconds = Number(process.env.BENCH_SLICE ?? 0.25);
  if (!(seconds > 0 && seconds <= 30)) throw new Error("BENCH_SECONDS must be in (0, 30]");
  if (!(sliceSeconds >= 0.01 && sliceSeconds <= seconds)) throw new Error("BENCH_SLICE must be in [0.01, BENCH_SECONDS]");
  buildCModule();
  let cert;
  if (process.env.BENCH_CERT_PEM) {
    cert = { certPem: process.env.BENCH_CERT_PEM, keyPem: process.env.BENCH_KEY_PEM };
  } else {
    cert = (await import("./cert.mjs")).makeCert();
  }
  console.log(JSON.stringify(await compare({
    ...cert, seconds, slice: sliceSeconds, hsGroup: process.env.BENCH_HS_GROUP || undefined,
    enginePath: process.env.BENCH_ENGINE ? resolve(process.env.BENCH_ENGINE) : undefined,
  })));
}

// `make bench-ct`: a dudect-style statistical timing test ("Dude, is my code
// constant time?", Reparaz, Balasch and Verbauwhede, DATE 2017) of this
// project's wasm OpenSSL: the constant-time AES-GCM, ChaCha20-Poly1305 and
// single-block AES of wasm/crypto/, and three controls that leak by design,
// which show the test can see a leak on this machine.
//
// For every target, each run is given a class at random, "fixed" (one key
// and plaintext chosen at start) or "random" (a fresh random key and
// plaintext), its input is made beforehand, and only the operation is
// timed (bench/c/ct.c, in C, around emscripten_get_now(), process.hrtime in
// Node). Welch's t-test compares the two classes' durations, on all runs
// and on the runs below several percentiles (dudect's cropping, which
// discards the long tail that interrupts and the other processes on the
// machine add); |t| above 4.5 on any of them means the durations depend on
// the data: a leak. Below it, no leak was detected with this many runs,
// which is evidence, not proof (wasm/crypto/README.md has the review by
// construction).
//
//   node bench/ct.mjs   CT_RUNS=200000 (default): runs per target
//                       CT_TARGETS=0,1,...: only these targets (see TARGETS)
//
// Needs the cached OpenSSL build (wasm/build/openssl-prefix, made by `make`);
// builds bench/build/ct.{mjs,wasm} with emcc when missing or stale.
// Prints a table; exits 1 if a constant-time target shows a leak or the
// must-detect control does not.
import { randomBytes } from "node:crypto";
import { buildEmccModule, instantiateEmccModule } from "./c-module.mjs";

const RUNS = Number(process.env.CT_RUNS ?? 200_000);
const BATCH = 10_000;
const THRESHOLD = 4.5; // dudect's: |t| > 4.5 is a leak
// [id in bench/c/ct.c, name, expected: "ct" (must show no leak), "leak" (must show one), "either"]
const TARGETS = [
  [0, "AES-128-GCM seal (EVP: key setup, 13 B AAD, 512 B)", "ct"],
  [1, "AES-256-GCM seal (EVP: key setup, 13 B AAD, 512 B)", "ct"],
  [2, "ChaCha20-Poly1305 seal (EVP: key setup, 13 B AAD, 512 B)", "ct"],
  [3, "AES-128 key schedule + 16 single blocks (AES_encrypt)", "ct"],
  [4, "control: OpenSSL's T-table AES-128, the same (aes_core.c)", "either"],
  [5, "control: 16-byte compare, stops at the first difference", "leak"],
  [6, "control: 16 loads from a 16 MiB table at secret offsets", "leak"],
];

if (!(RUNS >= 1000)) {
  console.error("bench-ct: CT_RUNS must be at least 1000");
  process.exit(2);
}
const only = process.env.CT_TARGETS ? new Set(process.env.CT_TARGETS.split(",").map(Number)) : null;

/** Welch's t statistic of two samples given as [n, mean, M2] (Welford). */
function welch([n0, m0, s0], [n1, m1, s1]) {
  if (n0 < 2 || n1 < 2) return 0;
  const v0 = s0 / (n0 - 1), v1 = s1 / (n1 - 1);
  const den = Math.sqrt(v0 / n0 + v1 / n1);
  return den === 0 ? 0 : (m0 - m1) / den;
}
function accumulate(acc, x) { // Welford's update of [n, mean, M2]
  acc[0]++;
  const d = x - acc[1];
  acc[1] += d / acc[0];
  acc[2] += d * (x - acc[1]);
}

const M = await instantiateEmccModule(buildEmccModule({
  name: "ct", exportName: "createCtModule", exports: ["_ct_setup", "_ct_run", "_ct_input_size", "_malloc", "_free"],
}), "ct.wasm");
if (M._ct_setup() !== 0) {
  console.error("bench-ct: ct_setup failed");
  process.exit(1);
}
const INPUT = M._ct_input_size();
const inputs = M._malloc(INPUT * BATCH), times = M._malloc(8 * BATCH);
if (!inputs || !times) throw new Error("malloc failed");

const started = Date.now();
const crops = [50, 75, 90, 95, 99, 99.9, 100]; // percentiles kept (100: all runs)
const rows = [];
let failed = false;
for (const [id, name, expected] of TARGETS) {
  if (only && !only.has(id)) continue;
  // the fixed class: a random key, and a plaintext of 0x5a bytes (control 5 stops at the first other byte)
  const fixed = Buffer.concat([randomBytes(32), Buffer.alloc(INPUT - 32, 0x5a)]);
  const durations = [], classes = [];
  let batch = 0;
  for (let done = -BATCH; done < RUNS; done += BATCH, batch++) { // the first batch warms up and is not counted
    const cls = randomBytes(BATCH).map((b) => b & 1);
    const random = randomBytes(INPUT * BATCH);
    const heap = M.HEAPU8;
    for (let i = 0; i < BATCH; i++) heap.set(cls[i] ? random.subarray(INPUT * i, INPUT * (i + 1)) : fixed, inputs + INPUT * i);
    if (M._ct_run(id, BATCH, inputs, times) !== 0) throw new Error(`ct_run ${id} failed`);
    if (done < 0) continue;
    const t = new Float64Array(M.HEAPU8.buffer, times, BATCH);
    for (let i = 0; i < BATCH && done + i < RUNS; i++) {
      durations.push(t[i]);
      classes.push(cls[i]);
    }
  }
  const sorted = Float64Array.from(durations).sort();
  const at = (p) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
  let best = { t: 0, crop: 100 };
  const medians = [0, 1].map((c) => {
    const v = Float64Array.from(durations.filter((_, i) => classes[i] === c)).sort();
    return v[v.length >> 1];
  });
  for (const p of crops) {
    const limit = p === 100 ? Infinity : at(p);
    const acc = [[0, 0, 0], [0, 0, 0]];
    for (let i = 0; i < durations.length; i++) if (durations[i] < limit || p === 100) accumulate(acc[classes[i]], durations[i]);
    const t = welch(acc[0], acc[1]);
    if (Math.abs(t) > Math.abs(best.t)) best = { t, crop: p };
  }
  const leak = Math.abs(best.t) > THRESHOLD;
  const verdict = leak ? "LEAK" : "no leak detected";
  const ok = expected === "either" || (expected === "ct") === !leak;
  if (!ok) failed = true;
  rows.push([name, durations.length, medians[0], medians[1], Math.abs(best.t), best.crop, verdict + (ok ? "" : "  <- unexpected")]);
  console.error(`bench-ct: ${name}: |t| = ${Math.abs(best.t).toFixed(2)}`);
}

const header = ["target", "runs", "fixed ns", "random ns", "max |t|", "crop", "verdict"];
const cells = rows.map(([name, n, m0, m1, t, crop, v]) =>
  [name, String(n), m0.toFixed(0), m1.toFixed(0), t.toFixed(2), crop === 100 ? "all" : `<p${crop}`, v]);
const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
const line = (c) => c.map((x, i) => (i === 0 || i === c.length - 1 ? x.padEnd(widths[i]) : x.padStart(widths[i]))).join("  ");
console.log(`\ndudect-style timing test, Welch's t on fixed vs random key and plaintext; |t| > ${THRESHOLD}: leak`);
console.log(`(median durations per class; "crop": the runs kept, below that percentile of all durations, for the largest |t|)`);
console.log(line(header));
for (const c of cells) console.log(line(c));
console.log(`total ${((Date.now() - started) / 1000).toFixed(1)} s`);
process.exit(failed ? 1 : 0);

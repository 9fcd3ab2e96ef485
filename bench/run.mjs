// `make bench`, part one: TLS 1.3 handshake rates and bulk throughput, in one
// run, for
//   - native Node tls          (bench/native-node.mjs: Node's own OpenSSL, TCP on 127.0.0.1)
//   - C program, wasm OpenSSL  (bench/c/bench.c on this project's wasm OpenSSL, memory BIOs)
//   - TypeScript engine        (bench/engine.mjs, when it exists: the same shape of result)
// then the ratios between them. The C program is the ceiling for the engine:
// the same wasm OpenSSL and the same memory-BIO transport, without JavaScript
// in between.
//
//   node bench/run.mjs   BENCH_SECONDS=2 (default): seconds per measurement
//                        BENCH_ROUNDS=3 (default): rounds; each figure is the best of them
//                        BENCH_ENGINE=path: the engine module (default bench/engine.mjs)
//
// Needs the cached OpenSSL build (wasm/build/openssl-prefix, made by `make`).
// Builds bench/build/bench.cjs with emcc when it is missing or stale.
// Output: the table on stdout, and bench/build/results.json.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { makeCert } from "./cert.mjs";
import { run as runNative } from "./native-node.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const at = (p) => join(root, p);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const BUILD_DIR = at("bench/build");
const PROGRAM = join(BUILD_DIR, "bench.cjs");
const BUILD_STAMP = join(BUILD_DIR, "bench.cmd"); // the emcc command line of the current build
const ENGINE = process.env.BENCH_ENGINE ? resolve(process.env.BENCH_ENGINE) : at("bench/engine.mjs");

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

// ---- building the C program -------------------------------------------------

// wasm/link-flags.txt makes the shipped module a library (an ES-module
// factory with an export list). These of its flags do not fit a program with
// a main(); every other flag (optimization, memory, BigInt, no filesystem,
// the getentropy() library, ...) is used as is, so the C program runs the
// same OpenSSL code the same way.
const LIBRARY_ONLY = [
  /^-sMODULARIZE=/, /^-sEXPORT_ES6=/, /^-sEXPORT_NAME=/, /^-sENVIRONMENT=/, /^--no-entry$/,
  /^-sEXIT_RUNTIME=/, /^-sEXPORTED_FUNCTIONS=/, /^-sEXPORTED_RUNTIME_METHODS=/,
  /^--pre-js=/, // an ES-module fix; our output is CommonJS, which has __dirname
];
const PROGRAM_FLAGS = [
  "-sENVIRONMENT=node",
  "-sEXIT_RUNTIME=1", // main's return value becomes the exit code
  // the wasm inside the .js: Emscripten 3.1.6 would otherwise fetch() it
  // under Node 20 (fetch exists there), which cannot read a file path
  "-sSINGLE_FILE=1",
];

function linkFlags() {
  return readFileSync(at("wasm/link-flags.txt"), "utf8")
    .split("\n")
    .map((line) => line.replace(/#.*/, "").trim())
    .filter(Boolean)
    .flatMap((line) => line.split(/\s+/))
    .filter((flag) => !LIBRARY_ONLY.some((re) => re.test(flag)));
}

function buildProgram() {
  const prefixFile = at("wasm/build/openssl-prefix");
  if (!existsSync(prefixFile)) fail("no OpenSSL build yet (wasm/build/openssl-prefix): run `make` first");
  const prefix = readFileSync(prefixFile, "utf8").trim();
  const libs = [`${prefix}/lib/libssl.a`, `${prefix}/lib/libcrypto.a`];
  const out = join(BUILD_DIR, "bench.js");
  const args = [`-I${prefix}/include`, "bench/c/bench.c", ...libs, ...linkFlags(), ...PROGRAM_FLAGS, "-o", out];
  const command = JSON.stringify(args);

  const inputs = ["bench/c/bench.c", "wasm/library.js", "wasm/link-flags.txt"].map(at).concat(libs);
  const stale = !existsSync(PROGRAM)
    || !existsSync(BUILD_STAMP)
    || readFileSync(BUILD_STAMP, "utf8") !== command
    || inputs.some((f) => statSync(f).mtimeMs > statSync(PROGRAM).mtimeMs);
  if (!stale) return;

  console.error("bench: building bench/build/bench.cjs (emcc, about 15 s)");
  mkdirSync(BUILD_DIR, { recursive: true });
  const r = spawnSync("emcc", args, {
    cwd: root,
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...process.env, NODE_PATH: process.env.NODE_PATH || "/usr/share/nodejs" }, // emcc's JS optimizer needs Debian's acorn
  });
  if (r.error || r.status !== 0) fail(`emcc failed (${r.error?.message ?? `exit ${r.status}`})`);
  // package.json says "type": "module", so Node would load a .js here as an
  // ES module; Emscripten's Node output is CommonJS.
  renameSync(out, PROGRAM);
  writeFileSync(BUILD_STAMP, command);
}

function runProgram({ certPem, keyPem }, extra = []) {
  const r = spawnSync(process.execPath, [PROGRAM, certPem, keyPem, `--seconds=${SECONDS}`, ...extra], {
    encoding: "utf8",
    timeout: (SECONDS * 6 + 30) * 1000, // four measurements and warm-ups, with room to spare
  });
  if (r.error || r.status !== 0) {
    process.stderr.write(r.stderr ?? "");
    fail(`bench.cjs ${extra.join(" ")} failed (${r.error?.message ?? `exit ${r.status}`})`);
  }
  const line = r.stdout.trim().split("\n").pop();
  try {
    return JSON.parse(line);
  } catch {
    fail(`bench.cjs printed no JSON: ${r.stdout}`);
  }
}

// The engine in a child process, like the C program: same start-up state.
function runEngine({ certPem, keyPem }) {
  const r = spawnSync(process.execPath, [ENGINE], {
    encoding: "utf8",
    env: { ...process.env, BENCH_CERT_PEM: certPem, BENCH_KEY_PEM: keyPem, BENCH_SECONDS: String(SECONDS) },
    timeout: (SECONDS * 6 + 30) * 1000,
  });
  if (r.error || r.status !== 0) {
    process.stderr.write(r.stderr ?? "");
    fail(`${ENGINE} failed (${r.error?.message ?? `exit ${r.status}`})`);
  }
  return JSON.parse(r.stdout.trim().split("\n").pop());
}

// ---- the table ----------------------------------------------------------------

const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : null);
const fmt = (v) => (num(v) === null ? "-" : v >= 100 ? v.toFixed(0) : v.toFixed(1));
const ratio = (a, b) => (num(a) !== null && num(b) ? a / b : null);
const fmtRatio = (r) => (r === null ? "-" : r.toFixed(2) + "x");

function table(rows) {
  const label = Math.max(...rows.map((r) => r[0].length));
  const widths = METRICS.map(([, title]) => Math.max(title.length, 9));
  const line = (name, cells) =>
    name.padEnd(label) + "  " + cells.map((c, i) => String(c).padStart(widths[i])).join("  ");
  console.log(line("", METRICS.map(([, title]) => title)));
  for (const [name, cells] of rows) console.log(cells ? line(name, cells) : ""); // null cells: a blank line
}

// ---- main -----------------------------------------------------------------------

if (!(SECONDS > 0 && SECONDS <= 30)) fail("BENCH_SECONDS must be in (0, 30]");
buildProgram();
const cert = makeCert();
const started = Date.now();

// This machine's figures move by 25-40% from run to run (2 shared cores).
// So the C program and the engine each run in a fresh process, alternately,
// BENCH_ROUNDS times, and each figure is the best of its rounds: like for
// like, and the least disturbed measurement of each.
const best = (runs) => Object.fromEntries(Object.keys(runs[0]).map((k) =>
  [k, typeof runs[0][k] === "number" ? Math.max(...runs.map((r) => r[k] ?? -Infinity)) : runs[0][k]]));
const hasEngine = existsSync(ENGINE);
const cRuns = [], engineRuns = [], nativeRuns = [];
for (let round = 1; round <= ROUNDS; round++) {
  console.error(`bench: round ${round}/${ROUNDS}: C program on wasm OpenSSL ...`);
  cRuns.push(runProgram(cert));
  if (hasEngine) {
    console.error(`bench: round ${round}/${ROUNDS}: TypeScript engine on wasm OpenSSL ...`);
    engineRuns.push(runEngine(cert));
  }
  console.error(`bench: round ${round}/${ROUNDS}: native Node tls ...`);
  nativeRuns.push(await runNative({ ...cert, seconds: SECONDS }));
}
const wasmC = best(cRuns);
const native = best(nativeRuns);
const engine = hasEngine ? best(engineRuns) : null;
// Node 20's OpenSSL (3.0) has no X25519MLKEM768: also time the C program's
// handshakes with the group native used, so that ratio is like for like.
let wasmCSameGroup = null;
if (native.group !== wasmC.group) {
  console.error(`bench: C program on wasm OpenSSL, ${native.group} handshakes ...`);
  wasmCSameGroup = runProgram(cert, [`--group=${native.group}`, "--only=hs"]);
}

const cells = (r) => METRICS.map(([k]) => fmt(r[k]));
const ratios = (a, b) => METRICS.map(([k]) => fmtRatio(ratio(a[k], b[k])));
const rows = [
  [`native Node tls (OpenSSL ${process.versions.openssl}, ${native.group})`, cells(native)],
  [`C program on wasm OpenSSL (${wasmC.group})`, cells(wasmC)],
];
if (wasmCSameGroup) rows.push([`C program on wasm OpenSSL (${wasmCSameGroup.group})`, cells(wasmCSameGroup)]);
if (engine) rows.push([`TypeScript engine on wasm OpenSSL (${engine.group ?? "?"})`, cells(engine)]);
rows.push(["", null]);
rows.push(["ratio wasm-C / native", ratios(wasmC, native)]);
if (wasmCSameGroup) rows.push([`ratio wasm-C / native, both ${native.group}`, ratios(wasmCSameGroup, native)]);
if (engine) {
  rows.push(["ratio engine / native", ratios(engine, native)]);
  rows.push(["ratio engine / C program", ratios(engine, wasmC)]);
}

console.log(`\nTLS 1.3, ECDSA P-256 certificate, best of ${ROUNDS} rounds of ${SECONDS} s per figure, MB = 10^6 bytes, 16 KiB writes client->server`);
table(rows);
if (engine) {
  // "Within 15%": the engine reaches at least 85% of the C program (being
  // faster than it also counts).
  const verdicts = METRICS.map(([k, title]) => {
    const r = ratio(engine[k], wasmC[k]);
    return `${title} ${r === null ? "n/a" : r >= 0.85 ? "yes" : "NO"} (${fmtRatio(r)})`;
  });
  console.log(`\nengine within 15% of the C program (engine/C >= 0.85): ${verdicts.join(", ")}`);
} else {
  console.log("\n(no bench/engine.mjs yet: the TypeScript engine row is left out)");
}
console.log(`total ${((Date.now() - started) / 1000).toFixed(1)} s`);

writeFileSync(join(BUILD_DIR, "results.json"), JSON.stringify({
  seconds: SECONDS, rounds: ROUNDS, node: process.version, nodeOpenSSL: process.versions.openssl,
  native, wasmC, wasmCSameGroup, engine, runs: { native: nativeRuns, wasmC: cRuns, engine: engineRuns },
}, null, 2) + "\n");

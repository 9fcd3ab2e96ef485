#!/usr/bin/env node
// make fuzz: mutation fuzzing of the engine's input path (client and server),
// of the tunnel (its parsing, and a live tunnel), of the edge tunnel (in
// workerd and Deno: edge.mjs) and of the HTTP response parser (http: llhttp
// in the wasm, http.mjs), on loopback only,
// bounded by a number of inputs and a time budget, reproducible from --seed.
//
//   node test/fuzz/fuzz.mjs [--targets client,server,tunnel,edge,http] [--inputs 1000000]
//                           [--seconds 3600] [--seed 1] [--workers 2] [--live-share 0.04]
//                           [--tunnel-live 20000]
//
// Each engine target runs in --workers worker threads, each with its own
// OpenSSL instance; every input gets its own PRNG seed (seed, worker, index),
// so a failure names the seed that reproduces its mutation.
//
// The tunnel target (tunnel.mjs) runs --inputs parser inputs through the
// tunnel's own parsing functions (bindings/dist/tunnel) in at most half of
// --seconds, then --tunnel-live live inputs (hostile connections to a real
// tunnel in its own process, in front of a loopback echo server) in the
// time left. The edge target runs --tunnel-live of the same live inputs
// against each edge platform, each in half of --seconds.
//
// A failing input is written to test/fuzz/crashers/ (move it to
// test/fuzz/regressions/ once fixed: test/unit/fuzz.test.ts replays every
// file there). Exit status 1 if any input broke an invariant (engine.mjs,
// tunnel.mjs say which).
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";

const here = dirname(fileURLToPath(import.meta.url));

function parseArgs(argv) {
  const o = { targets: ["client", "server", "tunnel", "edge", "http"], inputs: 1_000_000, seconds: 3600, seed: 1, workers: 2, liveShare: 0.04, tunnelLive: 20_000 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const int = (name, v, min) => {
      const n = Number(v);
      if (!Number.isSafeInteger(n) || n < min) throw new Error(`${name} must be an integer >= ${min}, got ${v}`);
      return n;
    };
    if (a === "--targets") o.targets = value().split(",");
    else if (a === "--inputs") o.inputs = int(a, value(), 1);
    else if (a === "--seconds") o.seconds = int(a, value(), 1);
    else if (a === "--seed") o.seed = int(a, value(), 0);
    else if (a === "--workers") o.workers = int(a, value(), 1);
    else if (a === "--live-share") o.liveShare = Number(value());
    else if (a === "--tunnel-live") o.tunnelLive = int(a, value(), 0);
    else throw new Error(`unknown argument ${a}`);
  }
  for (const t of o.targets) if (!["client", "server", "tunnel", "http", "edge"].includes(t)) throw new Error(`unknown target ${t}`);
  return o;
}

/** Runs this worker's share of an engine target; posts progress, then a failure or the result. */
async function engineWorker({ target, seed, worker, count, deadline, liveShare, pki }) {
  const { OpenSSL } = await import("../../bindings/dist/index.js");
  const { EngineFuzzer, runInputs } = await import("./engine.mjs");
  const ossl = await OpenSSL.instantiate();
  const fuzzer = new EngineFuzzer(ossl, pki);
  const result = runInputs(fuzzer, { target, seed, worker, count, deadline, liveShare,
    onProgress: (done) => parentPort.postMessage({ type: "progress", done }) });
  parentPort.postMessage(result);
}

function runWorker(data) {
  return new Promise((resolve) => {
    const w = new Worker(fileURLToPath(import.meta.url), { workerData: data });
    let result = { type: "failure", message: "the worker exited without a result", detail: {} };
    w.on("message", (m) => {
      if (m.type === "progress") data.onProgress?.(m.done);
      else result = m;
    });
    w.on("error", (e) => (result = { type: "failure", message: `worker error: ${e.message}`, detail: { stack: e.stack } }));
    w.on("exit", () => resolve(result));
  });
}

/** One engine target over `workers` threads; returns its figures. */
async function engineTarget(target, o, pki) {
  const started = Date.now();
  const deadline = started + o.seconds * 1000;
  const per = Math.ceil(o.inputs / o.workers);
  const results = await Promise.all(Array.from({ length: o.workers }, (_, worker) =>
    runWorker({ kind: "engine", target, seed: o.seed, worker, count: Math.min(per, o.inputs - per * worker), deadline, liveShare: o.liveShare, pki })));
  const failures = results.filter((r) => r.type === "failure");
  const ok = results.filter((r) => r.type === "done");
  const reasons = new Set(ok.flatMap((r) => r.reasons));
  return {
    target,
    inputs: ok.reduce((n, r) => n + r.done, 0),
    fresh: ok.reduce((n, r) => n + r.modes.fresh, 0),
    live: ok.reduce((n, r) => n + r.modes.live, 0),
    seconds: (Date.now() - started) / 1000,
    reasons: reasons.size,
    heapDelta: ok.reduce((n, r) => n + r.heapDelta, 0),
    memoryGrowth: Math.max(0, ...ok.map((r) => r.memoryGrowth)),
    failures,
  };
}

function saveCrasher(f) {
  const dir = join(here, "crashers");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${f.detail.target ?? "run"}${f.detail.kind ? `-${f.detail.kind}` : ""}-${f.detail.seed ?? Date.now()}.json`);
  writeFileSync(file, `${JSON.stringify({ message: f.message, ...f.detail }, null, 2)}\n`);
  return file;
}

async function main() {
  let o;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`fuzz: ${e.message}`);
    process.exit(2);
  }
  const { makePki } = await import("./engine.mjs");
  const pki = o.targets.some((t) => t === "client" || t === "server") ? makePki() : null;
  console.log(`fuzz: seed ${o.seed}, up to ${o.inputs} inputs per target in ${o.seconds} s, ${o.workers} worker(s)` +
    `${o.targets.includes("tunnel") ? ` (tunnel: ${o.inputs} parser + ${o.tunnelLive} live)` : ""}; loopback only`);
  const rows = [];
  let failed = false;
  for (const target of o.targets) {
    const row = target === "tunnel" ? await (await import("./tunnel.mjs")).fuzzTunnel(o)
      : target === "edge" ? await (await import("./edge.mjs")).fuzzEdge(o)
      : target === "http" ? await (await import("./http.mjs")).fuzzHttp(o)
      : await engineTarget(target, o, pki);
    rows.push(row);
    for (const f of row.failures) {
      failed = true;
      console.log(`fuzz: ${target}: FAILED: ${f.message} (input seed ${f.detail?.seed}, #${f.detail?.index})`);
      if (f.detail?.input !== undefined) console.log(`fuzz:   input written to ${saveCrasher(f)}`);
    }
    console.log(`fuzz: ${target}: ${row.inputs} inputs in ${row.seconds.toFixed(0)} s (${(row.inputs / row.seconds).toFixed(0)}/s)` +
      (row.fresh !== undefined ? `, ${row.fresh} fresh + ${row.live} live, ${row.reasons} distinct OpenSSL failure reasons, ` +
        `heap in use ${row.heapDelta} bytes from its baseline, wasm memory grew by ${row.memoryGrowth} bytes after warm-up` : `, ${row.summary ?? ""}`));
  }
  console.log("\n| target | inputs | seconds | inputs/s | traps, untyped errors, heap growth |\n|---|---|---|---|---|");
  for (const r of rows) {
    console.log(`| ${r.target} | ${r.inputs} | ${r.seconds.toFixed(0)} | ${(r.inputs / r.seconds).toFixed(0)} | ${r.failures.length ? "FAILED" : "0"} |`);
  }
  process.exit(failed ? 1 : 0);
}

if (isMainThread) await main();
else if (workerData.kind === "engine") await engineWorker(workerData);

#!/usr/bin/env node
// make soak: TlsSocket clients (this package's wasm OpenSSL) through the
// tunnel (its CLI, in its own process) to Node's native tls echo server,
// all on loopback, bounded in count and time.
//
//   node test/soak/soak.mjs [--sequential 10000] [--concurrent 1000] [--bytes 1048576] [--seed 1] [--seconds 1800]
//
// 1. Sequential: one connection after another, each sending a payload of a
//    random size with random splits, reading its echo, closing both ways.
// 2. Concurrent: all at once, each moving --bytes both ways with random
//    splits and delays; a share of them is aborted at a random stage
//    (handshake, mid-transfer, during shutdown) by the server, by the client
//    or by the network (the WebSocket dropped).
//
// Checked: every completed transfer got back exactly what it sent (SHA-256;
// 0 bytes lost or duplicated) and ended "clean"; every aborted one ended
// "truncated" or "error" (never "clean") and what it did receive is a prefix
// of what it sent; afterwards the client's heap in use and the tunnel
// process's open file descriptors are back to their baselines. Exit status
// 1 if anything is off.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { once } from "node:events";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import * as tls from "node:tls";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";
import { OpenSSL, TlsSocket, fromWebSocket } from "../../bindings/dist/index.js";
import { makeCert, HOST } from "../../bench/cert.mjs";
import { Rng } from "../fuzz/mutate.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
const sha256 = (b) => createHash("sha256").update(b).digest("hex");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function parseArgs(argv) {
  const o = { sequential: 10_000, concurrent: 1000, bytes: 1 << 20, seed: 1, seconds: 1800 };
  for (let i = 0; i < argv.length; i += 2) {
    const key = { "--sequential": "sequential", "--concurrent": "concurrent", "--bytes": "bytes", "--seed": "seed", "--seconds": "seconds" }[argv[i]];
    const n = Number(argv[i + 1]);
    if (!key || !Number.isSafeInteger(n) || n < 0) throw new Error(`usage: soak.mjs [--sequential N] [--concurrent N] [--bytes N] [--seed N] [--seconds N] (at ${argv[i]})`);
    o[key] = n;
  }
  return o;
}

/**
 * Node's tls echo server (run in its own process: `soak.mjs --echo-server`,
 * the identity in the environment). A connection's first 8 bytes are its plan: the
 * server destroys the socket (no close_notify) after echoing `abortAt`
 * bytes, or, with `abortAt` = 0xffffffff - 1, instead of answering the
 * client's close_notify.
 */
const ON_CLOSE_NOTIFY = 0xfffffffe;
const CONCURRENT_HANDSHAKE_TIMEOUT = 300_000;
async function echoServer(id) {
  const server = tls.createServer({ cert: id.certPem, key: id.keyPem, allowHalfOpen: true }, (s) => {
    let header = Buffer.alloc(0);
    let abortAt = -1;
    let echoed = 0;
    s.on("error", () => {});
    s.on("data", (d) => {
      if (abortAt < 0) {
        header = Buffer.concat([header, d]);
        if (header.length < 8) return;
        abortAt = header.readUInt32BE(4);
        d = header.subarray(8);
      }
      if (abortAt !== ON_CLOSE_NOTIFY && echoed + d.length >= abortAt) {
        s.write(d.subarray(0, abortAt - echoed));
        s.destroy();
        return;
      }
      echoed += d.length;
      s.write(d);
    });
    s.on("end", () => (abortAt === ON_CLOSE_NOTIFY ? s.destroy() : s.end()));
  });
  server.on("tlsClientError", () => {});
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return server;
}

/** Starts the echo server in a child process (the other core); resolves with its port and process. */
async function startEchoServer(id) {
  const proc = spawn(process.execPath, [fileURLToPath(import.meta.url), "--echo-server"], {
    stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, SOAK_CERT: id.certPem, SOAK_KEY: id.keyPem },
  });
  let out = "";
  proc.stdout.on("data", (d) => (out += d));
  for (let i = 0; i < 500 && !/ECHO (\d+)/.test(out); i++) await sleep(20);
  const m = /ECHO (\d+)/.exec(out);
  if (!m) throw new Error("the echo server did not start");
  return { proc, port: Number(m[1]) };
}

/** The tunnel CLI in its own process (so its file descriptors can be counted). */
async function startTunnel(serverPort) {
  const proc = spawn(process.execPath, [join(root, "bindings/dist/tunnel/cli.js"), "--listen", "127.0.0.1:0",
    "--allow", `127.0.0.1:${serverPort}`, "--max-connections", "4000", "--max-connections-per-client", "4000",
    "--max-pending", "4000", "--max-pending-per-client", "4000", "--log", "none"], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  proc.stdout.on("data", (d) => (out += d));
  proc.stderr.on("data", (d) => (out += d));
  for (let i = 0; i < 500 && !/listening on ws:\/\/[^/]+:(\d+)/.test(out); i++) await sleep(20);
  const m = /listening on ws:\/\/[^/]+:(\d+)/.exec(out);
  if (!m) throw new Error(`the tunnel did not start: ${out}`);
  return { proc, url: `ws://127.0.0.1:${m[1]}/127.0.0.1:${serverPort}`, output: () => out };
}

const openFds = (pid) => readdirSync(`/proc/${pid}/fd`).length;

/** A deterministic payload for connection `n`. */
function payload(n, size) {
  const b = Buffer.alloc(size);
  let x = (n * 2654435761) >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

/**
 * One client connection. `plan.abort`: none | server-mid | server-shutdown |
 * client-mid | client-handshake | network-mid | network-handshake.
 */
async function connection(ctx, url, n, size, plan, rng, handshakeTimeout = 30_000) {
  const ws = new WebSocket(url, { maxPayload: 1 << 20 });
  ws.on("error", () => {});
  const controller = new AbortController();
  const result = { n, plan: plan.abort, sent: 0, received: 0, ending: "", intact: false, prefixOk: true, error: "" };
  const data = payload(n, size);
  const got = [];
  try {
    const transport = await fromWebSocket(ws);
    if (plan.abort === "client-handshake") setTimeout(() => controller.abort(), rng.below(3));
    if (plan.abort === "network-handshake") setTimeout(() => ws.terminate(), rng.below(3));
    const socket = await TlsSocket.connect(transport, { context: ctx, servername: HOST, signal: controller.signal, handshakeTimeout });
    const header = Buffer.alloc(8);
    header.writeUInt32BE(n, 0);
    header.writeUInt32BE(plan.abort === "server-mid" ? plan.at : plan.abort === "server-shutdown" ? ON_CLOSE_NOTIFY : 0xffffffff, 4);
    const writer = socket.writable.getWriter();
    // Read the echo: all of it (then close), or until the connection ends.
    const reading = (async () => {
      const reader = socket.readable.getReader();
      while (result.received < data.length) {
        const { value, done } = await reader.read();
        if (done) break;
        got.push(value);
        result.received += value.length;
        if (rng.chance(0.01)) await sleep(rng.below(5));
      }
      reader.releaseLock();
    })().catch((e) => (result.error ||= e?.name ?? String(e))); // handled now: a failed write may skip the await below
    await writer.write(header);
    for (let at = 0; at < data.length;) {
      const piece = Math.min(data.length - at, 1 + rng.below(rng.chance(0.5) ? 100 : 40000));
      if ((plan.abort === "client-mid" || plan.abort === "network-mid") && at + piece >= plan.at) {
        if (plan.abort === "client-mid") await socket.destroy();
        else ws.terminate();
        break;
      }
      await writer.write(data.subarray(at, at + piece));
      at += piece;
      result.sent = at;
      if (rng.chance(0.02)) await sleep(rng.below(5));
    }
    writer.releaseLock();
    await reading;
    if (plan.abort === "none" || plan.abort === "server-shutdown") {
      await socket.shutdown({ mode: "bidirectional" }).catch((e) => (result.error ||= e?.name ?? String(e)));
    }
    result.ending = (await socket.closed).ending;
  } catch (e) {
    result.error ||= e?.name ?? String(e);
    result.ending = "error"; // the handshake failed: no socket
  }
  const back = Buffer.concat(got);
  result.intact = back.length === data.length && sha256(back) === sha256(data);
  result.prefixOk = data.subarray(0, back.length).equals(back);
  return result;
}

function judge(results) {
  const problems = [];
  let lost = 0;
  for (const r of results) {
    if (r.plan === "none") {
      if (r.ending !== "clean" || !r.intact) {
        problems.push(`#${r.n}: expected a clean, intact echo; got ${r.ending}, ${r.received}/${r.sent} bytes back ${r.error}`);
        lost += Math.abs(r.sent - r.received);
      }
    } else {
      if (r.ending === "clean") problems.push(`#${r.n} (${r.plan}): an aborted connection ended clean`);
      if (!r.prefixOk) problems.push(`#${r.n} (${r.plan}): received bytes that are not what was sent`);
    }
  }
  return { problems, lost };
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const deadline = Date.now() + o.seconds * 1000;
  const id = makeCert();
  const server = await startEchoServer(id);
  const tunnel = await startTunnel(server.port);
  const ossl = await OpenSSL.instantiate();
  const ctx = ossl.createContext({ role: "client", ca: id.certPem });
  const rng = new Rng(o.seed);
  let failed = false;
  try {
    // warm-up, then the baselines
    const warm = await connection(ctx, tunnel.url, 0, 1000, { abort: "none" }, rng);
    if (warm.ending !== "clean" || !warm.intact) throw new Error(`the warm-up connection failed: ${JSON.stringify(warm)}`);
    await sleep(200);
    ossl.randomBytes(256 * 1024); // grows the engine's shared I/O buffer to its largest: part of the baseline
    const heapBaseline = ossl.heapInUse();
    const fdBaseline = openFds(tunnel.proc.pid);
    console.log(`soak: tunnel pid ${tunnel.proc.pid}: ${fdBaseline} open fds; client heap in use ${heapBaseline} bytes`);

    let started = Date.now();
    const sequential = [];
    for (let n = 1; n <= o.sequential && Date.now() < deadline; n++) {
      sequential.push(await connection(ctx, tunnel.url, n, 1 + rng.below(64 * 1024), { abort: "none" }, rng));
    }
    const seqSeconds = (Date.now() - started) / 1000;
    const seq = judge(sequential);
    const seqBytes = sequential.reduce((a, r) => a + r.sent, 0);
    console.log(`soak: sequential: ${sequential.length} connections in ${seqSeconds.toFixed(0)} s (${(sequential.length / seqSeconds).toFixed(0)}/s), ` +
      `${seqBytes} bytes each way, ${seq.problems.length} problems, ${seq.lost} bytes lost or duplicated`);

    const kinds = ["none", "none", "none", "none", "none", "none", "server-mid", "server-shutdown", "client-mid",
      "client-handshake", "network-mid", "network-handshake"];
    const plans = Array.from({ length: o.concurrent }, () => ({ abort: rng.pick(kinds), at: rng.below(o.bytes) }));
    started = Date.now();
    const concurrent = await Promise.all(plans.map((plan, i) =>
      // 1,000 handshakes at once queue on one thread for tens of seconds: more than the default 30 s
      connection(ctx, tunnel.url, o.sequential + 1 + i, o.bytes, plan, new Rng(o.seed * 7919 + i), CONCURRENT_HANDSHAKE_TIMEOUT)));
    const conSeconds = (Date.now() - started) / 1000;
    const con = judge(concurrent);
    const byPlan = {};
    for (const r of concurrent) {
      const k = (byPlan[r.plan] ??= { count: 0, endings: {} });
      k.count++;
      k.endings[r.ending] = (k.endings[r.ending] ?? 0) + 1;
    }
    const conBytes = concurrent.filter((r) => r.plan === "none").reduce((a, r) => a + r.sent, 0);
    console.log(`soak: concurrent: ${concurrent.length} connections in ${conSeconds.toFixed(0)} s, ${conBytes} bytes each way on the completed ones, ` +
      `${con.problems.length} problems, ${con.lost} bytes lost or duplicated`);
    for (const [plan, k] of Object.entries(byPlan)) console.log(`soak:   ${plan}: ${k.count} -> ${JSON.stringify(k.endings)}`);

    for (let i = 0; i < 100 && (openFds(tunnel.proc.pid) > fdBaseline || ossl.heapInUse() !== heapBaseline); i++) await sleep(100);
    const fds = openFds(tunnel.proc.pid);
    const heap = ossl.heapInUse();
    console.log(`soak: afterwards: tunnel ${fds} open fds (baseline ${fdBaseline}); client heap in use ${heap} (baseline ${heapBaseline})`);
    const problems = [...seq.problems, ...con.problems];
    if (fds > fdBaseline) problems.push(`the tunnel holds ${fds - fdBaseline} more file descriptors than before`);
    if (heap !== heapBaseline) problems.push(`the client's heap in use is ${heap - heapBaseline} bytes off its baseline`);
    for (const p of problems.slice(0, 20)) console.log(`soak: PROBLEM: ${p}`);
    failed = problems.length > 0;
    console.log(`\n| run | connections | seconds | bytes each way (completed) | lost or duplicated | aborted, never clean | heap / tunnel fds back to baseline |\n|---|---|---|---|---|---|---|`);
    console.log(`| sequential | ${sequential.length} | ${seqSeconds.toFixed(0)} | ${seqBytes} | ${seq.lost} | - | ${heap === heapBaseline ? "yes" : "no"} / ${fds <= fdBaseline ? "yes" : "no"} |`);
    const aborted = concurrent.filter((r) => r.plan !== "none");
    console.log(`| concurrent | ${concurrent.length} | ${conSeconds.toFixed(0)} | ${conBytes} | ${con.lost} | ${aborted.filter((r) => r.ending !== "clean").length}/${aborted.length} | ${heap === heapBaseline ? "yes" : "no"} / ${fds <= fdBaseline ? "yes" : "no"} |`);
  } finally {
    ctx.dispose();
    tunnel.proc.kill("SIGTERM");
    server.proc.kill("SIGTERM");
  }
  process.exit(failed ? 1 : 0);
}

if (process.argv[2] === "--echo-server") {
  const server = await echoServer({ certPem: process.env.SOAK_CERT, keyPem: process.env.SOAK_KEY });
  console.log(`ECHO ${server.address().port}`);
} else {
  await main();
}

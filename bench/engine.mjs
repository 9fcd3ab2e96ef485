// The TypeScript engine row of `make bench`: the same workload as
// bench/c/bench.c (TLS 1.3, one key-exchange group, full and resumed
// handshakes on new connections, 16 KiB client-to-server bulk transfer),
// driven through bindings/dist (the compiled engine) instead of C, so the
// difference between the two rows is the cost of the bindings.
//
// createBench() sets the contexts up once; its slice functions can then be
// called again and again, which bench/compare.mjs does, alternating them
// with the C code's slices in one process. Like the C functions, each slice
// returns the work it did (handshakes, or plaintext bytes), stopping at the
// first whole unit past `seconds`; the caller does the timing.
//
// Standalone: node bench/engine.mjs  (BENCH_SECONDS, BENCH_CERT_PEM and
// BENCH_KEY_PEM from the environment) prints one JSON line of rates.
import { OpenSSL } from "../bindings/dist/index.js";
import { HOST } from "./host.mjs";

const CHUNK = 16384;
const BULK_LIMIT = 64 << 20;     // a bulk slice stops after 64 MiB ...
const MAX_HANDSHAKES = 1_000_000; // ... a handshake slice after this many (or the time)
const MAX_FLIGHTS = 16;
const WARMUP_SECONDS = 0.3;

const now = () => performance.now() / 1000;
function fail(what, r) {
  throw new Error(`engine bench: ${what}: ret ${r?.ret} ${r?.sslError} ${r?.failure?.message ?? ""}`);
}

/** Everything one side wrote, into the other side. */
function pump(from, to) {
  const b = from.drain();
  if (b.length) to.feed(b);
}

function step(conn) {
  const r = conn.handshake();
  if (r.ret === 1) return true;
  if (r.sslError !== "want_read") fail("handshake", r);
  return false;
}

function handshake(c, s) {
  let cdone = false, sdone = false;
  for (let i = 0; i < MAX_FLIGHTS && !(cdone && sdone); i++) {
    if (!cdone) cdone = step(c);
    pump(c, s);
    if (!sdone) sdone = step(s);
    pump(s, c);
  }
  if (!(cdone && sdone)) fail("handshake did not finish");
  // TLS 1.3 tickets arrive after the handshake: one read consumes them.
  const r = c.read(CHUNK);
  if (r.sslError !== "want_read") fail("reading the tickets", r);
}

function connection(cctx, sctx, resume, keep) {
  const c = cctx.createConnection({ servername: HOST, session: resume });
  const s = sctx.createConnection();
  handshake(c, s);
  if (resume && !c.sessionReused) fail("the session was not resumed");
  const out = keep ? c.getSession() : null;
  const r = c.shutdown();
  if (r.ret !== 0) fail("shutdown", r);
  c.dispose();
  s.dispose();
  return out;
}

/** Connections completed in about `seconds` (at least one), bounded by count. */
function connections(cctx, sctx, resume, seconds) {
  const t0 = now();
  let n = 0;
  do {
    connection(cctx, sctx, resume, false);
    n++;
  } while (now() - t0 < seconds && n < MAX_HANDSHAKES);
  return n;
}

/** One connection per suite, on contexts limited to that suite, kept from slice to slice. */
function bulkConnection(ossl, base, suite) {
  const cctx = ossl.createContext({ ...base.client, ciphersuites: suite });
  const sctx = ossl.createContext({ ...base.server, ciphersuites: suite });
  const c = cctx.createConnection({ servername: HOST });
  const s = sctx.createConnection();
  handshake(c, s);
  if (c.info.cipher !== suite) fail(`negotiated ${c.info.cipher}, not ${suite}`);
  return { c, s, dispose() { cctx.dispose(); sctx.dispose(); } };
}

const chunk = new Uint8Array(CHUNK).fill(0x5a);
// The server reads into one reused buffer, as the C program reads into rbuf.
const received = new Uint8Array(CHUNK);

/** Client-to-server plaintext bytes moved in about `seconds` (or 64 MiB). */
function transfer({ c, s }, seconds) {
  const t0 = now();
  let moved = 0;
  do {
    const w = c.write(chunk);
    if (w.ret !== CHUNK) fail("write", w);
    pump(c, s);
    for (;;) {
      const r = s.readInto(received);
      if (r.ret <= 0) {
        if (r.sslError !== "want_read") fail("read", r);
        break;
      }
      moved += r.ret;
    }
  } while (now() - t0 < seconds && moved < BULK_LIMIT);
  return moved;
}

/**
 * The engine's side of the workload, set up once: a fresh module instance,
 * client and server contexts for `group`, a checked first handshake and a
 * session to resume.
 * @returns {Promise<{ group: string, full(s: number): number, resumed(s: number): number,
 *   bulk(suite: string, s: number): number, dispose(): void }>}
 */
export async function createBench({ certPem, keyPem, group = "X25519MLKEM768" }) {
  const ossl = await OpenSSL.instantiate();
  const tls13 = { minVersion: "TLSv1.3", maxVersion: "TLSv1.3", groups: group };
  const base = {
    client: { role: "client", ca: certPem, ...tls13 },
    server: { role: "server", cert: certPem, key: keyPem, ...tls13 },
  };
  const cctx = ossl.createContext(base.client);
  const sctx = ossl.createContext(base.server);

  // check once that we measure what we say
  {
    const c = cctx.createConnection({ servername: HOST });
    const s = sctx.createConnection();
    handshake(c, s);
    const info = c.info;
    if (info.protocol !== "TLSv1.3" || info.group?.toLowerCase() !== group.toLowerCase() || info.verifyResult !== 0) {
      fail(`first handshake: ${JSON.stringify(info)}`);
    }
    c.dispose();
    s.dispose();
  }
  const session = connection(cctx, sctx, undefined, true);
  if (!session.resumable) fail("no resumable session");

  const bulks = new Map();
  return {
    group,
    full: (seconds) => connections(cctx, sctx, undefined, seconds),
    resumed: (seconds) => connections(cctx, sctx, session, seconds),
    bulk(suite, seconds) {
      let b = bulks.get(suite);
      if (!b) bulks.set(suite, (b = bulkConnection(ossl, base, suite)));
      return transfer(b, seconds);
    },
    dispose() {
      for (const b of bulks.values()) b.dispose();
      session.dispose();
      cctx.dispose();
      sctx.dispose();
    },
  };
}

/** Rate of one slice function: a warm-up, then one timed run of `seconds`. */
export function timed(fn, seconds) {
  fn(WARMUP_SECONDS); // untimed, so the timed part runs optimized code
  const t0 = now();
  const work = fn(seconds);
  return work / (now() - t0);
}

/**
 * The whole workload once, each figure from one run of `seconds` (no
 * interleaving: bench/compare.mjs is the comparison with the C code).
 * @returns {Promise<{group: string, full_hs_per_s: number, resumed_hs_per_s: number, aes128gcm_MBps: number, chacha20_MBps: number}>}
 */
export async function run({ certPem, keyPem, seconds = 2, group = "X25519MLKEM768" }) {
  const b = await createBench({ certPem, keyPem, group });
  try {
    return {
      group,
      full_hs_per_s: timed(b.full, seconds),
      resumed_hs_per_s: timed(b.resumed, seconds),
      aes128gcm_MBps: timed((s) => b.bulk("TLS_AES_128_GCM_SHA256", s), seconds) / 1e6,
      chacha20_MBps: timed((s) => b.bulk("TLS_CHACHA20_POLY1305_SHA256", s), seconds) / 1e6,
    };
  } finally {
    b.dispose();
  }
}

// Standalone: the certificate from the environment, or a new one; prints
// the result as one JSON line. (bench/browser.mjs also runs this module in
// browsers, where there is no `process`.)
if (typeof process !== "undefined" && import.meta.url === `file://${process.argv[1]}`) {
  const { makeCert } = await import("./cert.mjs");
  const cert = process.env.BENCH_CERT_PEM
    ? { certPem: process.env.BENCH_CERT_PEM, keyPem: process.env.BENCH_KEY_PEM }
    : makeCert();
  console.log(JSON.stringify(await run({ ...cert, seconds: Number(process.env.BENCH_SECONDS ?? 2) })));
}

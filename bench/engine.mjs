// The TypeScript engine row of `make bench`: the same workload as
// bench/c/bench.c (TLS 1.3, one key-exchange group, full and resumed
// handshakes on new connections, 16 KiB client-to-server bulk transfer),
// driven through bindings/dist (the compiled engine) instead of C, so the
// difference between the two rows is the cost of the bindings.
import { OpenSSL } from "../bindings/dist/index.js";
import { HOST } from "./cert.mjs";

const CHUNK = 16384;
const BULK_LIMIT = 64 << 20;
const MAX_HANDSHAKES = 1_000_000;
const MAX_FLIGHTS = 16;
const WARMUP_SECONDS = 0.3;

const now = () => performance.now() / 1000;
function fail(what, r) {
  throw new Error(`engine bench: ${what}: ret ${r?.ret} ${r?.error} ${r?.failure?.message ?? ""}`);
}

/** Everything one side wrote, into the other side. */
function pump(from, to) {
  const b = from.drain();
  if (b.length) to.feed(b);
}

function step(conn) {
  const r = conn.handshake();
  if (r.ret === 1) return true;
  if (r.error !== "want_read") fail("handshake", r);
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
  if (r.error !== "want_read") fail("reading the tickets", r);
}

function connection(cctx, sctx, resume, keep) {
  const c = cctx.createConnection({ servername: HOST, session: resume });
  const s = sctx.createConnection();
  handshake(c, s);
  if (resume && !c.sessionReused) fail("the session was not resumed");
  const out = keep ? c.session : null;
  const r = c.shutdown();
  if (r.ret !== 0) fail("shutdown", r);
  c.dispose();
  s.dispose();
  return out;
}

function rate(cctx, sctx, resume, seconds) {
  let t0 = now();
  while (now() - t0 < WARMUP_SECONDS) connection(cctx, sctx, resume, false);
  t0 = now();
  let n = 0, t;
  do {
    connection(cctx, sctx, resume, false);
    n++;
    t = now() - t0;
  } while (t < seconds && n < MAX_HANDSHAKES);
  return n / t;
}

function bulk(ossl, base, suite, seconds) {
  const cctx = ossl.createContext({ ...base.client, ciphersuites: suite });
  const sctx = ossl.createContext({ ...base.server, ciphersuites: suite });
  const c = cctx.createConnection({ servername: HOST });
  const s = sctx.createConnection();
  handshake(c, s);
  if (c.info.cipher !== suite) fail(`negotiated ${c.info.cipher}, not ${suite}`);
  const chunk = new Uint8Array(CHUNK).fill(0x5a);
  let moved = 0, warm = 0, timing = false, t0 = now(), t;
  for (;;) {
    const w = c.write(chunk);
    if (w.ret !== CHUNK) fail("write", w);
    pump(c, s);
    for (;;) {
      const r = s.read(CHUNK);
      if (r.ret <= 0) {
        if (r.error !== "want_read") fail("read", r);
        break;
      }
      moved += r.ret;
    }
    t = now() - t0;
    if (!timing) {
      if (t >= WARMUP_SECONDS || ++warm >= 256) {
        timing = true;
        moved = 0;
        t0 = now();
      }
    } else if (moved >= BULK_LIMIT || t >= seconds) {
      break;
    }
  }
  cctx.dispose();
  sctx.dispose();
  return moved / 1e6 / t;
}

/** @returns {Promise<{group: string, full_hs_per_s: number, resumed_hs_per_s: number, aes128gcm_MBps: number, chacha20_MBps: number}>} */
export async function run({ certPem, keyPem, seconds = 2, group = "X25519MLKEM768" }) {
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

  const full = rate(cctx, sctx, undefined, seconds);
  const session = connection(cctx, sctx, undefined, true);
  if (!session.resumable) fail("no resumable session");
  const resumed = rate(cctx, sctx, session, seconds);
  session.dispose();
  const aes = bulk(ossl, base, "TLS_AES_128_GCM_SHA256", seconds);
  const chacha = bulk(ossl, base, "TLS_CHACHA20_POLY1305_SHA256", seconds);
  cctx.dispose();
  sctx.dispose();
  return { group, full_hs_per_s: full, resumed_hs_per_s: resumed, aes128gcm_MBps: aes, chacha20_MBps: chacha };
}

// Standalone (as bench/run.mjs runs it): the certificate from the
// environment, or a new one; prints the result as one JSON line.
if (import.meta.url === `file://${process.argv[1]}`) {
  const { makeCert } = await import("./cert.mjs");
  const cert = process.env.BENCH_CERT_PEM
    ? { certPem: process.env.BENCH_CERT_PEM, keyPem: process.env.BENCH_KEY_PEM }
    : makeCert();
  console.log(JSON.stringify(await run({ ...cert, seconds: Number(process.env.BENCH_SECONDS ?? 2) })));
}

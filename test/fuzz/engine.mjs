// The engine fuzz targets: mutated TLS records fed into client and server
// connections at every stage of real handshakes (TLS 1.2 and 1.3; full,
// HelloRetryRequest, resumed, with client certificates, chains, RSA and
// ECDSA, ALPN) and after them (application data, KeyUpdate, close_notify).
//
// Seeds are the real transcripts of these scenarios, recorded live between
// two engine connections at the start of a run. Each input picks a scenario
// and one flight of it, mutates that flight, and hands it to the side that
// receives it, in one of two ways:
//   - "fresh": a new receiver that has done nothing (server: the ClientHello
//     flight) or only sent its ClientHello (client: the server's first
//     flight). Cheap; the mutated flight comes from another session, so
//     encrypted parts fail to authenticate, plaintext parts (ClientHello,
//     ServerHello, TLS 1.2 certificates and key exchange) are parsed for real.
//   - "live": the scenario is replayed live up to that flight, which is
//     mutated on its way: every stage, with this session's own keys.
// Then the receiver is driven (SSL_do_handshake or SSL_read, four times at
// most), the transport is closed (the EOF path) and it is driven once more.
//
// An input fails the run if any call traps (WebAssembly.RuntimeError),
// throws, or returns something other than a Result whose SSL_get_error name
// is known and whose failures carry an OpenSSLError; and the run fails if the
// heap in use does not come back to its baseline between checks.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeDemoPki } from "../../web-demo/pki.mjs";
import { Rng, inputSeed, mutate } from "./mutate.mjs";

export const HOST = "server.test";
const KNOWN_ERRORS = new Set(["none", "ssl", "want_read", "want_write", "want_x509_lookup", "syscall", "zero_return",
  "want_connect", "want_accept", "want_async", "want_async_job", "want_client_hello_cb", "want_retry_verify"]);

/** A broken invariant: the input and what went wrong. */
export class FuzzFailure extends Error {
  name = "FuzzFailure";
  /** @param {string} message @param {object} detail */
  constructor(message, detail) {
    super(message);
    this.detail = detail;
  }
}

/** Certificates for the scenarios, made by Debian's `openssl` (a chain, RSA, ECDSA, Ed25519, a client). */
export function makePki() {
  const pki = makeDemoPki({ intermediate: true, host: HOST, extraLeaves: ["client.test"] });
  const dir = mkdtempSync(join(tmpdir(), "openssl-wasm-fuzz-"));
  try {
    execFileSync("openssl", ["req", "-x509", "-newkey", "ed25519", "-nodes", "-days", "2", "-subj", `/CN=${HOST}`,
      "-addext", `subjectAltName=DNS:${HOST}`, "-keyout", join(dir, "k.pem"), "-out", join(dir, "c.pem")], { stdio: "ignore" });
    return {
      ...pki,
      ed25519: { certPem: readFileSync(join(dir, "c.pem"), "utf8"), keyPem: readFileSync(join(dir, "k.pem"), "utf8") },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The scenarios: context options for each side, and whether the client resumes. */
export function scenarios(pki) {
  const leaf = (name) => ({ cert: pki.certs[name].certPem, key: pki.certs[name].keyPem, chain: pki.chainPem });
  const client = { role: "client", ca: pki.caPem };
  const server = (name = "ecdsa") => ({ role: "server", sessionCache: false, ...leaf(name) });
  const tls12 = { maxVersion: "TLSv1.2" };
  return [
    { name: "tls13-mlkem-ecdsa", client: { ...client }, server: server() },
    { name: "tls13-x25519-rsa-alpn", client: { ...client, groups: ["X25519"], alpnProtocols: ["h2", "http/1.1"] }, server: { ...server("rsa"), alpnProtocols: ["http/1.1"] } },
    { name: "tls13-hrr", client: { ...client, groups: ["X25519MLKEM768", "P-256"] }, server: { ...server(), groups: ["P-256"] } },
    { name: "tls13-chacha-ed25519", client: { ...client, ca: pki.ed25519.certPem, ciphersuites: "TLS_CHACHA20_POLY1305_SHA256", groups: ["X25519"] },
      server: { role: "server", sessionCache: false, cert: pki.ed25519.certPem, key: pki.ed25519.keyPem } },
    { name: "tls13-client-cert", client: { ...client, groups: ["X25519"], ...leafAs(pki, "client.test") }, server: { ...server(), clientCertificate: "require", ca: pki.caPem } },
    { name: "tls13-resumed", client: { ...client, groups: ["X25519"] }, server: server(), resume: true },
    { name: "tls12-ecdhe-ecdsa-gcm", client: { ...client, ...tls12 }, server: { ...server(), ...tls12 } },
    { name: "tls12-ecdhe-rsa-cbc", client: { ...client, ...tls12, ciphers: "ECDHE-RSA-AES128-SHA256" }, server: { ...server("rsa"), ...tls12 } },
    { name: "tls12-client-cert", client: { ...client, ...tls12, ...leafAs(pki, "client.test") }, server: { ...server(), ...tls12, clientCertificate: "require", ca: pki.caPem } },
    { name: "tls12-resumed", client: { ...client, ...tls12 }, server: { ...server(), ...tls12 }, resume: true },
  ];
}

function leafAs(pki, name) {
  return { cert: pki.certs[name].certPem, key: pki.certs[name].keyPem, chain: pki.chainPem };
}

/** OpenSSL's reason strings seen in failures: a rough measure of how many distinct error paths a run reached. */
export const reasonsSeen = new Set();

/** Checks one engine Result. */
function check(r, where) {
  if (!r || typeof r.ret !== "number" || !KNOWN_ERRORS.has(r.sslError)) {
    throw new FuzzFailure(`${where}: not a Result: ${JSON.stringify(r)}`, {});
  }
  // (By name: the caller's OpenSSL may come from the sources or the build.)
  // SSL_shutdown's 0 is not a failure: SSL_get_error's value is reported bare (a ShutdownResult has `state`).
  const shutdownZero = r.ret === 0 && "state" in r;
  if (r.ret <= 0 && !shutdownZero && (r.sslError === "ssl" || r.sslError === "syscall") && !(r.failure?.name === "OpenSSLError" && Array.isArray(r.failure.queue))) {
    throw new FuzzFailure(`${where}: ${r.sslError} without an OpenSSLError`, {});
  }
  if (r.failure) reasonsSeen.add(r.failure.reasonString);
  return r;
}

/** One OpenSSL call on `conn` for its current stage (handshake, else read), checked; its output is discarded. */
function drive(conn) {
  const r = check(conn.handshakeDone ? conn.read(16384) : conn.handshake(), conn.handshakeDone ? "SSL_read" : "SSL_do_handshake");
  conn.drain();
  return r;
}

/** Drives the receiver after a (mutated) flight: until it needs input or fails, then the EOF path. */
function settle(conn) {
  for (let i = 0; i < 4; i++) {
    const r = drive(conn);
    if (r.ret <= 0 && r.sslError !== "want_read" && r.sslError !== "want_write") break;
  }
  conn.closeInput();
  drive(conn);
}

/**
 * The fuzzing state of one OpenSSL instance: contexts and sessions per
 * scenario, the recorded transcripts, and runOne().
 */
export class EngineFuzzer {
  /** @param {import("../../bindings/src/index.js").OpenSSL} ossl @param {ReturnType<typeof makePki>} pki */
  constructor(ossl, pki) {
    this.ossl = ossl;
    this.scenarios = scenarios(pki).map((s) => ({
      ...s,
      cctx: ossl.createContext(s.client),
      sctx: ossl.createContext(s.server),
      session: undefined,
      flights: [],
    }));
    for (const s of this.scenarios) {
      if (s.resume) s.session = this.#sessionFor(s);
      s.flights = this.#record(s);
    }
  }

  /** The scenario's flights, by receiver: [{ to: "client" | "server", index, bytes }]. */
  #record(s) {
    const flights = [];
    this.#play(s, (to, index, bytes) => {
      flights.push({ to, index, bytes });
      return { bytes };
    });
    return flights;
  }

  #sessionFor(s) {
    const c = s.cctx.createConnection({ servername: HOST });
    const srv = s.sctx.createConnection();
    try {
      for (let i = 0; i < 10 && !(c.handshakeDone && srv.handshakeDone); i++) {
        c.handshake();
        srv.feed(c.drain());
        srv.handshake();
        c.feed(srv.drain());
      }
      c.read(); // TLS 1.3: the NewSessionTicket
      const session = c.getSession();
      if (!session?.resumable) throw new Error(`${s.name}: no resumable session`);
      return session;
    } finally {
      c.dispose();
      srv.dispose();
    }
  }

  /**
   * Plays the scenario between two new connections. Every flight passes
   * through `transfer(to, index, bytes)`, which returns the bytes to deliver
   * and whether to stop there (after the receiver has been driven).
   */
  #play(s, transfer) {
    const client = s.cctx.createConnection({ servername: HOST, ...(s.session ? { session: s.session } : {}) });
    const server = s.sctx.createConnection();
    const count = { client: 0, server: 0 };
    /** Moves `from`'s output to the other side; true if play must stop. */
    const move = (from) => {
      const bytes = from.drain();
      if (!bytes.length) return false;
      const to = from === client ? "server" : "client";
      const receiver = to === "client" ? client : server;
      const { bytes: out, stop } = transfer(to, count[to]++, bytes);
      receiver.feed(out);
      if (stop) settle(receiver);
      return stop;
    };
    try {
      for (let i = 0; i < 12 && !(client.handshakeDone && server.handshakeDone); i++) {
        check(client.handshake(), "client handshake");
        if (move(client)) return;
        check(server.handshake(), "server handshake");
        if (move(server)) return;
      }
      const steps = [
        () => client.write(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: server.test\r\n\r\n")), () => move(client),
        () => server.read(), () => server.write(new Uint8Array(20000).fill(0x41)), () => move(server),
        () => client.read(), () => client.read(), () => client.read(),
        ...(client.info.protocol === "TLSv1.3" ? [() => client.keyUpdate(true), () => client.write(new Uint8Array(10)), () => move(client),
          () => server.read(), () => server.write(new Uint8Array(10)), () => move(server), () => client.read()] : []),
        () => client.shutdown(), () => move(client), () => server.read(), () => server.shutdown(), () => move(server), () => client.shutdown(),
      ];
      for (const step of steps) {
        const r = step();
        if (r === true) return;
        if (r && typeof r === "object") check(r, "post-handshake step");
      }
    } finally {
      client.dispose();
      server.dispose();
    }
  }

  /**
   * One input against `target` ("client" or "server"), chosen and mutated
   * with `rng`. Returns a short description of what ran.
   */
  runOne(target, rng, liveShare = 0.04) {
    const s = rng.pick(this.scenarios);
    const flights = s.flights.filter((f) => f.to === target);
    const live = rng.chance(liveShare);
    const flight = live ? rng.pick(flights) : flights[0];
    const other = rng.pick(rng.pick(this.scenarios).flights).bytes;
    let input = new Uint8Array(0);
    try {
      if (live) {
        this.#play(s, (to, index, bytes) => {
          if (to !== target || index !== flight.index) return { bytes };
          input = mutate(bytes, rng, other);
          return { bytes: input, stop: true };
        });
      } else {
        input = mutate(flight.bytes, rng, other);
        this.replay(target, s.name, input);
      }
    } catch (e) {
      throw new FuzzFailure(e instanceof FuzzFailure ? e.message : `${e?.name ?? "thrown"}: ${e?.message ?? e}`, {
        target, scenario: s.name, mode: live ? "live" : "fresh", flight: flight.index,
        input: Buffer.from(input).toString("base64"), trap: e instanceof WebAssembly.RuntimeError, stack: e?.stack,
      });
    }
    return live ? "live" : "fresh";
  }

  /** Feeds `input` to a fresh receiver of the scenario (a server, or a client that has sent its ClientHello). */
  replay(target, scenarioName, input) {
    const s = this.scenarios.find((x) => x.name === scenarioName);
    if (!s) throw new Error(`no scenario ${scenarioName}`);
    const conn = target === "server" ? s.sctx.createConnection()
      : s.cctx.createConnection({ servername: HOST, ...(s.session ? { session: s.session } : {}) });
    try {
      if (target === "client") {
        check(conn.handshake(), "client handshake"); // its own ClientHello, discarded
        conn.drain();
      }
      conn.feed(input);
      settle(conn);
    } finally {
      conn.dispose();
    }
  }

  dispose() {
    for (const s of this.scenarios) {
      s.session?.dispose();
      s.cctx.dispose();
      s.sctx.dispose();
    }
  }
}

const CHECK_EVERY = 5000;
const WARM_UP = 1000;
/**
 * Heap growth is checked two ways. Per input: an input after which the heap
 * in use is larger runs twice more; if it grows the heap by the same amount
 * both times it runs 256 times more, and more than LEAK_PROOF bytes of
 * growth then is a leak. (OpenSSL's caches, such as the method store's
 * property-query cache, fill once per new algorithm or query; its error
 * queue takes buffers for its 16 slots one by one; a leak grows every run.)
 * Overall: the heap in use stays within CACHE_BOUND of its baseline after
 * the warm-up (those caches are bounded: the method store flushes past 500
 * entries).
 */
const CACHE_BOUND = 1 << 20;
const LEAK_PROOF = 4096;

/**
 * Runs `count` inputs (or until `deadline`) of `target` against `fuzzer`'s
 * instance; input i gets PRNG seed inputSeed(seed, worker, i). Returns
 * { type: "done", ... figures } or the first { type: "failure", message, detail }.
 */
export function runInputs(fuzzer, { target, seed, worker = 0, count, deadline = Infinity, liveShare = 0.04, onProgress = () => {} }) {
  const { ossl } = fuzzer;
  // The engine's shared I/O scratch buffer grows to the largest input (at most
  // 64 KiB here) and stays: grow it first, so it is part of the baseline.
  ossl.randomBytes(65536); // (randomBytes draws into that buffer)
  const modes = { fresh: 0, live: 0 };
  const failure = (message, detail) => ({ type: "failure", message, detail: { target, ...detail } });
  let baseline = -1;
  let memoryAfterWarmUp = 0;
  let done = 0;
  for (; done < count && Date.now() < deadline; done++) {
    const s = inputSeed(seed, worker, done);
    const run = () => fuzzer.runOne(target, new Rng(s), liveShare);
    try {
      const before = ossl.heapInUse();
      const mode = run();
      modes[mode]++;
      const after = ossl.heapInUse();
      if (after > before && mode === "fresh") {
        run();
        const second = ossl.heapInUse();
        run();
        const third = ossl.heapInUse();
        if (second > after && third - second === second - after) {
          for (let i = 0; i < 256; i++) run();
          const grown = ossl.heapInUse() - third;
          if (grown > LEAK_PROOF) return failure(`leak: the input grew the heap in use by ${grown} bytes in 256 runs`, { seed: s, index: done });
        }
      }
    } catch (e) {
      return failure(e.message, { ...e.detail, seed: s, index: done });
    }
    if (done === WARM_UP - 1) {
      baseline = ossl.heapInUse(); // first-use allocations are done
      memoryAfterWarmUp = ossl.memoryBytes();
    }
    if (done >= WARM_UP && done % CHECK_EVERY === 0) {
      const heap = ossl.heapInUse();
      if (heap - baseline > CACHE_BOUND) return failure(`heap in use ${heap}, baseline ${baseline}, after ${done} inputs`, { seed: s, index: done });
      onProgress(done);
    }
  }
  const heapDelta = baseline < 0 ? 0 : ossl.heapInUse() - baseline;
  if (heapDelta > CACHE_BOUND) return failure(`heap in use grew by ${heapDelta} bytes over the run`, {});
  return {
    type: "done", done, modes, heapDelta, memoryGrowth: memoryAfterWarmUp ? ossl.memoryBytes() - memoryAfterWarmUp : 0,
    reasons: [...reasonsSeen],
  };
}

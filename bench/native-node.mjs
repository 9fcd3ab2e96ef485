// The native row of `make bench`: the same workload as bench/c/bench.c, with
// Node's own `tls` module (Node's native OpenSSL) over real TCP sockets on
// 127.0.0.1, client and server in this one process and thread, like the C
// program. It is the reference the wasm rows are compared with.
//
//   full_hs_per_s     new connection each time, no session
//   resumed_hs_per_s  every connection resumes one session from a first one
//   aes128gcm_MBps    client->server, 16 KiB writes, TLS_AES_128_GCM_SHA256
//   chacha20_MBps     the same with TLS_CHACHA20_POLY1305_SHA256   (MB = 10^6 bytes)
//
// A handshake counts when both ends have reported it done (the client's
// 'secureConnect', the server's 'secureConnection'); the client then closes
// with close_notify (socket.end()), as the C program does. Connections run one
// at a time. Every loop is bounded by time and by count, and every connection
// by a timeout, so a fault cannot hang `make bench`.
//
// Standalone: node bench/native-node.mjs [seconds]  (prints the JSON object)
import { once } from "node:events";
import { performance } from "node:perf_hooks";
import tls from "node:tls";
import { pathToFileURL } from "node:url";
import { HOST, makeCert } from "./cert.mjs";

const CHUNK = 16 * 1024;             // one write = one full TLS record
const BULK_LIMIT = 64 * 1024 * 1024; // a bulk test stops after 64 MiB ...
const MAX_HANDSHAKES = 1_000_000;    // ... a handshake test after this many (or the time)
const WARMUP_SECONDS = 0.3;          // untimed, so the timed part runs optimized code
const CONNECTION_TIMEOUT_MS = 10_000;
const SUITES = {
  aes128gcm_MBps: "TLS_AES_128_GCM_SHA256",
  chacha20_MBps: "TLS_CHACHA20_POLY1305_SHA256",
};

/**
 * The key-exchange group: X25519MLKEM768 as in the wasm build when this
 * Node's OpenSSL has it (3.5+), else X25519. Node 20 ships OpenSSL 3.0, which
 * has no ML-KEM, so there it is X25519; the result says which.
 */
export function pickGroup() {
  for (const group of ["X25519MLKEM768", "X25519"]) {
    try {
      tls.createSecureContext({ ecdhCurve: group });
      return group;
    } catch { /* not supported by this OpenSSL: try the next */ }
  }
  throw new Error("native-node: neither X25519MLKEM768 nor X25519 is available");
}

// TLS 1.3 only, one group (so the client sends one key share); `ciphers`
// given only for the bulk tests. Node routes "TLS_*" names in `ciphers` to
// SSL_CTX_set_ciphersuites (its API has no separate ciphersuites option).
function tlsOptions(group, suite) {
  return { minVersion: "TLSv1.3", maxVersion: "TLSv1.3", ecdhCurve: group, ...(suite ? { ciphers: suite } : {}) };
}

const seconds = (t0) => (performance.now() - t0) / 1000;

function withTimeout(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`native-node: ${what} timed out`)), CONNECTION_TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * A TLS server on 127.0.0.1 (an ephemeral port). `onSecure(socket)` runs for
 * each completed server handshake. Its sockets are tracked so close() can
 * end whatever is still open.
 */
async function startServer({ certPem, keyPem, group, suite }, onSecure) {
  const sockets = new Set();
  const server = tls.createServer({ key: keyPem, cert: certPem, ...tlsOptions(group, suite) }, (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {}); // a peer that went away; the client side reports real failures
    onSecure(socket);
  });
  const failures = [];
  server.on("tlsClientError", (err) => failures.push(err));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    port: server.address().port,
    failures,
    async close() {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, "close");
    },
  };
}

function connect(port, secureContext, session) {
  return tls.connect({ host: "127.0.0.1", port, servername: HOST, secureContext, session });
}

/** Handshakes per second over sequential connections (resuming `session` if given). */
async function handshakeRate({ certPem, keyPem, group, seconds: secs, resume }) {
  let serverDone = null; // called by the server for the connection in flight
  const server = await startServer({ certPem, keyPem, group }, (socket) => {
    socket.resume(); // read to the end, so it closes when the client does
    serverDone?.();
  });
  const clientContext = tls.createSecureContext({ ca: certPem, ...tlsOptions(group) });

  const oneConnection = (session) => withTimeout(new Promise((resolve, reject) => {
    let client = false, srv = false;
    const finish = () => {
      if (client && srv) {
        serverDone = null;
        socket.end(); // close_notify, then FIN
        resolve();
      }
    };
    serverDone = () => { srv = true; finish(); };
    const socket = connect(server.port, clientContext, session);
    socket.on("error", reject); // includes certificate verification failures
    socket.once("secureConnect", () => {
      if (session && !socket.isSessionReused()) return reject(new Error("native-node: the session was not resumed"));
      client = true;
      finish();
    });
    socket.resume(); // consume tickets and the server's close
  }), "handshake");

  // A session with a ticket: TLS 1.3 tickets arrive after the handshake, and
  // Node hands each one to the 'session' event, serialized.
  const firstSession = () => withTimeout(new Promise((resolve, reject) => {
    const socket = connect(server.port, clientContext);
    socket.on("error", reject);
    socket.once("session", (session) => { socket.end(); resolve(session); });
    socket.resume();
  }), "first session");

  try {
    const session = resume ? await firstSession() : undefined;
    let t0 = performance.now();
    while (seconds(t0) < WARMUP_SECONDS) await oneConnection(session);
    t0 = performance.now();
    let n = 0, t;
    do {
      await oneConnection(session);
      n++;
      t = seconds(t0);
    } while (t < secs && n < MAX_HANDSHAKES);
    if (server.failures.length) throw server.failures[0];
    return n / t;
  } finally {
    await server.close();
  }
}

/** Client-to-server MB/s of one connection with one TLS 1.3 cipher suite. */
async function bulk({ certPem, keyPem, group, suite, seconds: secs }) {
  let received = 0;
  let waiter = null; // { target, resolve }: resolved once `received` reaches target
  const server = await startServer({ certPem, keyPem, group, suite }, (socket) => {
    socket.on("data", (data) => {
      received += data.length;
      if (waiter && received >= waiter.target) {
        const w = waiter;
        waiter = null;
        w.resolve();
      }
    });
  });
  const receivedUpTo = (target) =>
    withTimeout(received >= target ? Promise.resolve() : new Promise((resolve) => { waiter = { target, resolve }; }), "bulk receive");

  const socket = connect(server.port, tls.createSecureContext({ ca: certPem, ...tlsOptions(group, suite) }));
  try {
    socket.on("error", () => {}); // surfaced through the awaits below
    await withTimeout(once(socket, "secureConnect"), "bulk handshake");
    const cipher = socket.getCipher();
    if (cipher.standardName !== suite && cipher.name !== suite) {
      throw new Error(`native-node: negotiated ${cipher.name}, not ${suite}`);
    }
    const chunk = Buffer.alloc(CHUNK, 0x5a);
    // Write until `limit` bytes or `secs` seconds, honouring back-pressure.
    const send = async (limit, secsMax) => {
      const t0 = performance.now();
      let sent = 0;
      while (sent < limit && seconds(t0) < secsMax) {
        sent += CHUNK;
        if (!socket.write(chunk)) await withTimeout(once(socket, "drain"), "bulk drain");
      }
      return sent;
    };
    await receivedUpTo(await send(4 * 1024 * 1024, WARMUP_SECONDS));
    const base = received;
    const t0 = performance.now();
    const sent = await send(BULK_LIMIT, secs);
    await receivedUpTo(base + sent); // the clock stops when the server has it all
    return sent / 1e6 / seconds(t0);
  } finally {
    socket.destroy();
    await server.close();
  }
}

/**
 * @param {{ certPem: string, keyPem: string, seconds?: number }} options
 * @returns {Promise<{ group: string, full_hs_per_s: number, resumed_hs_per_s: number,
 *   aes128gcm_MBps: number, chacha20_MBps: number }>}
 */
export async function run({ certPem, keyPem, seconds: secs = 2 }) {
  const group = pickGroup();
  const common = { certPem, keyPem, group, seconds: secs };
  return {
    group,
    full_hs_per_s: await handshakeRate({ ...common, resume: false }),
    resumed_hs_per_s: await handshakeRate({ ...common, resume: true }),
    aes128gcm_MBps: await bulk({ ...common, suite: SUITES.aes128gcm_MBps }),
    chacha20_MBps: await bulk({ ...common, suite: SUITES.chacha20_MBps }),
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const secs = Number(process.argv[2] ?? 2);
  console.log(JSON.stringify(await run({ ...makeCert(), seconds: secs })));
}

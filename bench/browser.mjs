// The browser table of `make bench`: the same workloads (bench/browser-workload.mjs)
// in Chromium, Firefox and WebKit (Debian's builds, driven as the browser
// tests drive them: test/helpers/browsers.mjs) and, as the reference, in Node
// with the same package, in one run:
//
//   in the page, both ends (memory BIOs): full TLS 1.3 handshakes/s
//     (X25519MLKEM768), ChaCha20-Poly1305 and AES-128-GCM MB/s
//   through the tunnel (a WebSocket to createTunnel() in this process, TCP
//     to a local Node `tls` server): sequential TlsSocket connections/s with
//     a shared context, bulk MB/s from the server to `for await` over
//     `tls.readable` (default cipher suites), and upload MB/s (16 KiB writes
//     on `tls.writable`)
//   the connections and the download again in a module Worker of the page
//   HTTP (issue 13), createFetch through the same tunnel to a local Node
//     `https` server (bench/http-server.mjs): 100 sequential GETs of a
//     300-byte body on one kept-alive connection (requests/s), beside the
//     same loop with native Node `https` in this process, straight to the
//     server (an extra row: no tunnel, Node's own OpenSSL); and a 64 MiB
//     download through createFetch paired, in the same call, with 64 MiB on
//     a raw TlsSocket to the bulk server (MB/s each)
//
// The workload runs on the main thread of a blank page (bench/browser.html)
// served from the repository, and in a module Worker it starts. All engines are started at once and take
// turns, figure by figure, so each measurement has the machine to itself
// and drift touches every engine alike (see runBrowserBench).
//
//   node bench/browser.mjs   BENCH_SECONDS=2: seconds per figure
//                            BENCH_BROWSER_WARMUP=8: seconds of untimed work first, per engine
//                            BENCH_BROWSER_ROUNDS=2: rounds per figure (the best counts)
//                            BENCH_BROWSERS=chromium,firefox,webkit: which engines
//                            BENCH_ONLY=http: only the HTTP figures
// Called by bench/run.mjs (runBrowserBench). Needs bindings/dist and wasm/dist (`make`).
import { once } from "node:events";
import { resolve } from "node:path";
import tls from "node:tls";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";
import { createTunnel } from "../bindings/dist/tunnel/tunnel.js";
import { ENGINES, launch } from "../test/helpers/browsers.mjs";
import { serveDirectory } from "../test/helpers/static-server.mjs";
import * as workload from "./browser-workload.mjs";
import { HOST, makeCert } from "./cert.mjs";
import { nativeGets, startHttpsServer } from "./http-server.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));

export const COLUMNS = [
  ["full", "full hs/s"],
  ["chacha20", "ChaCha20 MB/s"],
  ["aes128gcm", "AES-128-GCM MB/s"],
  ["conns", "tunnel conn/s"],
  ["bulk", "tunnel MB/s"],
  ["up", "upload MB/s"],
  ["wconns", "Worker conn/s"],
  ["wbulk", "Worker MB/s"],
];

/**
 * The HTTP table's columns (issue 13). rawGets and clearGets are measured
 * with gets, and raw64 with fetch64, in the same call (httpGets,
 * httpDownload).
 */
export const HTTP_COLUMNS = [
  ["gets", "fetch GET/s"],
  ["rawGets", "TlsSocket GET/s"],
  ["clearGets", "no-TLS GET/s"],
  ["fetch64", "fetch 64 MiB MB/s"],
  ["raw64", "TlsSocket 64 MiB MB/s"],
];
const MEASURED_WITH = { rawGets: "gets", clearGets: "gets", raw64: "fetch64" };
const WORKER_FIGURES = ["wconns", "wbulk"];

/**
 * The local TLS server the tunnel leads to: reads a decimal byte count and
 * sends that many bytes, then closes (close_notify); or reads "up <count>",
 * receives that many bytes and answers "ok" and closes; a connection that
 * asks for nothing just ends when the client does.
 */
async function startBulkServer({ certPem, keyPem }) {
  const block = Buffer.alloc(64 * 1024, 0x5a);
  const sockets = new Set();
  const server = tls.createServer({ cert: certPem, key: keyPem }, (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    let line = "";
    let upload = -1; // bytes still to receive after "up <n>"
    socket.on("data", async (d) => {
      if (upload >= 0) {
        upload -= d.length;
        if (upload <= 0) socket.end("ok\n");
        return;
      }
      if (line.includes("\n")) return;
      line += d.toString("latin1");
      if (!line.includes("\n")) return;
      if (line.startsWith("up ")) {
        const nl = line.indexOf("\n");
        upload = Number.parseInt(line.slice(3, nl), 10) - (line.length - nl - 1);
        if (upload <= 0) socket.end("ok\n");
        return;
      }
      let left = Number.parseInt(line, 10);
      while (left > 0) {
        const n = Math.min(left, block.length);
        left -= n;
        if (!socket.write(n === block.length ? block : block.subarray(0, n))) await once(socket, "drain");
      }
      socket.end();
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    port: server.address().port,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(r));
    },
  };
}

/**
 * A runner: one engine's workload module, ready to measure (set up, warmed
 * up): in this process for "node", else in a browser's page.
 */
async function runner(engine, { cert, warmup, site, log, figures }) {
  if (engine === "native") {
    // the GETs' baseline: Node's own `https` client, straight to the server
    return { name: `native Node ${process.version} https (no tunnel)`, httpGets: (a) => nativeGets(a), close: async () => {} };
  }
  if (engine === "node") {
    log(`node: Node ${process.version}, warming up ...`);
    await workload.setup(cert);
    workload.warmUp(warmup);
    const node = { WebSocket, origin: site.url }; // the `ws` package, with the page's Origin
    return {
      name: `Node ${process.version}`,
      inPage: async (f, seconds) => workload.inPage(f, seconds),
      connections: (a) => workload.connections({ ...a, ...node }),
      bulk: (a) => workload.bulk({ ...a, ...node }),
      upload: (a) => workload.upload({ ...a, ...node }),
      httpGets: (a) => workload.httpGets({ ...a, ...node }),
      httpDownload: (a) => workload.httpDownload({ ...a, ...node }),
      close: async () => {},
    };
  }
  const browser = await launch(engine);
  try {
    const name = `${browser.name} ${browser.version}`;
    log(`${engine}: ${name}, warming up ...`);
    const page = await browser.newPage();
    await page.goto(`${site.url}/bench/browser.html`);
    await page.waitFor(() => window.benchReady === true);
    await page.evaluate((c) => window.workload.setup(c), cert);
    await page.evaluate((s) => window.workload.warmUp(s), warmup);
    if (figures.some((f) => WORKER_FIGURES.includes(f))) {
      await page.evaluate(({ c, s }) => window.inWorker("setup", c).then(() => window.inWorker("warmUp", s)), { c: cert, s: warmup / 2 });
    }
    // one figure per evaluate: no driver waits on a single script for long
    return {
      name,
      inPage: (f, seconds) => page.evaluate(({ f, seconds }) => window.workload.inPage(f, seconds), { f, seconds }),
      connections: (a) => page.evaluate((a) => window.workload.connections(a), a),
      bulk: (a) => page.evaluate((a) => window.workload.bulk(a), a),
      upload: (a) => page.evaluate((a) => window.workload.upload(a), a),
      httpGets: (a) => page.evaluate((a) => window.workload.httpGets(a), a),
      httpDownload: (a) => page.evaluate((a) => window.workload.httpDownload(a), a),
      // the same workloads in a module Worker of the page (bench/browser-worker.mjs)
      workerConnections: (a) => page.evaluate((a) => window.inWorker("connections", a), a),
      workerBulk: (a) => page.evaluate((a) => window.inWorker("bulk", a), a),
      close: () => browser.close(),
    };
  } catch (e) {
    await browser.close();
    throw e;
  }
}

/**
 * One measurement of figure `f` by runner `r`: its value (higher is
 * better) and details; `also`: figures measured with it. A runner without
 * the figure (the native row has only the GETs) gives no value.
 */
async function measureOnce(r, f, { seconds, tunnelArgs, round }) {
  if (f === "gets") {
    if (!r.httpGets) return { value: undefined };
    const g = await r.httpGets(tunnelArgs);
    return { value: g.perSecond, getMs: g.medianMs, also: g.rawPerSecond === undefined ? {} : { rawGets: g.rawPerSecond, clearGets: g.clearPerSecond } };
  }
  if (f === "fetch64") {
    if (!r.httpDownload) return { value: undefined };
    // the order within the pair alternates from round to round
    const d = await r.httpDownload({ ...tunnelArgs, fetchFirst: round % 2 === 1 });
    return { value: d.fetchMBps, also: { raw64: d.rawMBps }, pair: d.fetchMBps / d.rawMBps, httpCipher: d.cipher };
  }
  if (!r.inPage) return { value: undefined };
  if (f === "conns") {
    const c = await r.connections({ ...tunnelArgs, seconds });
    return { value: c.perSecond, connMs: c.medianMs };
  }
  if (f === "bulk") {
    const b = await r.bulk({ ...tunnelArgs, seconds });
    return { value: b.MBps, cipher: b.cipher };
  }
  if (f === "up") return { value: (await r.upload({ ...tunnelArgs, seconds })).MBps };
  if (f === "wconns") return r.workerConnections ? { value: (await r.workerConnections({ ...tunnelArgs, seconds })).perSecond } : { value: undefined };
  if (f === "wbulk") return r.workerBulk ? { value: (await r.workerBulk({ ...tunnelArgs, seconds })).MBps } : { value: undefined };
  return { value: await r.inPage(f, seconds) };
}

/**
 * Runs the browser table's workloads in each engine and in Node. All of them
 * are started and warmed up first; then each figure is measured `rounds`
 * times for every engine in turn (the order rotating from round to round),
 * and the best round counts: the machine's drift and other load then touch
 * every engine alike, as far as that goes. A failing engine gets a row with
 * its error (and `failed`), the others go on. `figures`: the keys of
 * COLUMNS and HTTP_COLUMNS to measure (default all); with "gets", a row of
 * native Node `https` takes its turns too.
 * @returns {Promise<{ rows: object[], failed: boolean, cipher: string, figures: string[] }>}
 */
export async function runBrowserBench({
  cert = makeCert(), seconds = 2, warmup = 8, rounds = 2, engines = ENGINES, log = (m) => console.error(`bench: ${m}`),
  figures = [...COLUMNS, ...HTTP_COLUMNS].map(([k]) => k),
} = {}) {
  const server = await startBulkServer(cert);
  const http = await startHttpsServer(cert);
  const site = await serveDirectory(root);
  // the HTTPS server by the certificate's name, as a page would name it
  const tunnel = await createTunnel({
    allow: [`127.0.0.1:${server.port}`, `${HOST}:${http.port}`, `${HOST}:${http.plainPort}`], origins: [site.url], log: () => {},
  });
  const tunnelArgs = {
    url: `${tunnel.url}/127.0.0.1:${server.port}`, caPem: cert.certPem,
    tunnelUrl: tunnel.url, httpOrigin: `https://${HOST}:${http.port}`, httpPort: http.port, plainHost: `${HOST}:${http.plainPort}`,
  };
  const rows = [...(figures.includes("gets") ? ["native"] : []), "node", ...engines].map((engine) => ({ engine, name: engine }));
  const runners = new Map();
  const took = {}; // seconds each figure took, all engines and rounds
  try {
    for (const row of rows) {
      try {
        const r = await runner(row.engine, { cert, warmup, site, log, figures });
        runners.set(row, r);
        row.name = r.name;
      } catch (e) {
        row.error = String(e?.message ?? e).split("\n")[0];
      }
    }
    for (const [f, title] of [...COLUMNS, ...HTTP_COLUMNS]) {
      if (!figures.includes(f) || MEASURED_WITH[f]) continue;
      const t0 = Date.now();
      log(`${title}: ${[...runners.values()].map((r) => r.name.split(" ")[0]).join(", ")}, ${rounds} rounds of ${seconds} s ...`);
      for (let round = 0; round < rounds; round++) {
        const live = rows.filter((row) => runners.has(row) && !row.error);
        for (let i = 0; i < live.length; i++) {
          const row = live[(i + round) % live.length];
          try {
            const m = await measureOnce(runners.get(row), f, { seconds, tunnelArgs, round });
            if (!(row[f] >= m.value)) Object.assign(row, { [f]: m.value }, m.connMs !== undefined ? { connMs: m.connMs } : {},
              m.getMs !== undefined ? { getMs: m.getMs } : {}, m.cipher ? { cipher: m.cipher } : {});
            for (const [k, v] of Object.entries(m.also ?? {})) if (!(row[k] >= v)) row[k] = v;
            if (m.pair !== undefined) (row.pairs ??= []).push(m.pair); // fetch / raw within each call
            if (m.httpCipher) row.httpCipher = m.httpCipher;
          } catch (e) {
            row.error = String(e?.message ?? e).split("\n")[0];
          }
        }
      }
      took[f] = (Date.now() - t0) / 1000;
      log(`${title}: ${took[f].toFixed(1)} s`);
    }
  } finally {
    for (const r of runners.values()) await r.close().catch(() => {});
    await tunnel.close();
    site.server.close();
    await server.close();
    await http.close();
  }
  return {
    rows, figures, took, failed: rows.some((r) => r.error),
    cipher: rows.find((r) => r.cipher)?.cipher ?? "?", httpCipher: rows.find((r) => r.httpCipher)?.httpCipher ?? "?",
  };
}

const fmt = (v) => (typeof v === "number" && Number.isFinite(v) ? (v >= 100 ? v.toFixed(0) : v.toFixed(1)) : "-");

/**
 * The tables, one row per engine, Node's first; then each engine against
 * Node: the TLS figures (those measured), then the HTTP ones.
 */
export function printBrowserTable(result, options) {
  const columns = COLUMNS.filter(([k]) => result.figures.includes(k));
  if (columns.length) printTlsTable(result, columns, options);
  const http = HTTP_COLUMNS.filter(([k]) => result.figures.includes(k));
  if (http.length) printHttpTable(result, http, options);
}

/** One table: a line per row (its cells by `cell`), then `ratios` lines; returns nothing. */
function printRows(rows, columns, cell, ratios) {
  const label = Math.max(...rows.map((r) => r.name.length), ...ratios.map(([name]) => name.length), 20);
  const widths = columns.map(([, t]) => Math.max(t.length, 10));
  const line = (name, cells) => name.padEnd(label) + "  " + cells.map((c, i) => String(c).padStart(widths[i])).join("  ");
  console.log(line("", columns.map(([, t]) => t)));
  for (const r of rows) {
    if (r.error) console.log(`${r.name.padEnd(label)}  FAILED: ${r.error}`);
    else console.log(line(r.name, columns.map(([k]) => cell(r, k))));
  }
  for (const [name, cells] of ratios) console.log(line(name, cells));
}

const times = (a, b) => (b ? (a / b).toFixed(2) + "x" : "-");

function printTlsTable({ rows, cipher }, columns, { seconds, warmup, rounds }) {
  console.log(`\nBrowsers: the same workloads in each engine's page (main thread) and in Node (this package), after ${warmup} s of warm-up;`);
  console.log(`each figure: the best of ${rounds} rounds of ${seconds} s, the engines taking turns`);
  console.log(`in the page: TLS 1.3, X25519MLKEM768, both ends in one page; tunnel: TlsSocket -> WebSocket -> tunnel -> TCP -> Node tls,`);
  console.log(`sequential connections with one shared context (median time to open in brackets), bulk server -> page (${cipher}),`);
  console.log(`upload page -> server (16 KiB writes), and the connections and bulk again in a module Worker of the page`);
  const engines = rows.filter((r) => r.engine !== "native");
  const node = engines.find((r) => r.engine === "node" && !r.error);
  const ratios = !node ? [] : engines.filter((r) => r !== node && !r.error)
    .map((r) => [`  ${r.engine} / Node`, columns.map(([k]) => times(r[k], node[k]))]);
  printRows(engines, columns, (r, k) => (k === "conns" ? `${fmt(r.conns)} (${fmt(r.connMs)} ms)` : fmt(r[k])), ratios);
}

function printHttpTable({ rows, httpCipher }, columns, { rounds }) {
  console.log(`\nHTTP through the tunnel (issue 13): createFetch -> TlsSocket -> WebSocket -> tunnel -> TCP -> Node https, each figure the best of ${rounds} rounds;`);
  console.log(`fetch GET/s: 100 sequential GETs of a 300-byte body on one kept-alive connection, after the connection and 99 more (median`);
  console.log(`request in brackets); TlsSocket GET/s: the same requests on a bare TlsSocket, no fetch, same call; no-TLS GET/s: the same`);
  console.log(`requests in the clear on a bare WebSocket through the same tunnel to the server's plain-http twin (the path's floor), same call;`);
  console.log(`the native row: Node's https client, one kept-alive socket, straight to the same server, no tunnel;`);
  console.log(`fetch 64 MiB: GET /bytes/67108864 read from res.body; TlsSocket 64 MiB: the same size on a raw TlsSocket (as "tunnel MB/s"),`);
  console.log(`in the same call, the order alternating by round (${httpCipher}; fetch / TlsSocket of each call in brackets)`);
  const native = rows.find((r) => r.engine === "native" && !r.error);
  const ratios = [];
  for (const r of rows) {
    if (r.error || r.engine === "native") continue;
    ratios.push([`  ${r.engine}: GET/s / native, fetch / TlsSocket`, columns.map(([k]) =>
      k === "gets" || k === "rawGets" || k === "clearGets" ? times(r[k], native?.gets) : k === "fetch64" ? times(r.fetch64, r.raw64) : "")]);
  }
  printRows(rows, columns, (r, k) => {
    if (k === "gets") return r.gets === undefined ? "-" : `${fmt(r.gets)} (${r.getMs.toFixed(2)} ms)`;
    if (k === "fetch64" && r.pairs) return `${fmt(r.fetch64)} (${r.pairs.map((p) => p.toFixed(2)).join(", ")})`;
    return fmt(r[k]);
  }, ratios);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const seconds = Number(process.env.BENCH_SECONDS ?? 2);
  const warmup = Number(process.env.BENCH_BROWSER_WARMUP ?? 8);
  const rounds = Number(process.env.BENCH_BROWSER_ROUNDS ?? 2);
  const engines = process.env.BENCH_BROWSERS ? process.env.BENCH_BROWSERS.split(",") : ENGINES;
  const figures = process.env.BENCH_ONLY === "http" ? HTTP_COLUMNS.map(([k]) => k) : undefined;
  const result = await runBrowserBench({ seconds, warmup, rounds, engines, figures });
  printBrowserTable(result, { seconds, warmup, rounds });
  process.exitCode = result.failed ? 1 : 0;
}

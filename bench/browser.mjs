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
import { makeCert } from "./cert.mjs";

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
async function runner(engine, { cert, warmup, site, log }) {
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
    await page.evaluate(({ c, s }) => window.inWorker("setup", c).then(() => window.inWorker("warmUp", s)), { c: cert, s: warmup / 2 });
    // one figure per evaluate: no driver waits on a single script for long
    return {
      name,
      inPage: (f, seconds) => page.evaluate(({ f, seconds }) => window.workload.inPage(f, seconds), { f, seconds }),
      connections: (a) => page.evaluate((a) => window.workload.connections(a), a),
      bulk: (a) => page.evaluate((a) => window.workload.bulk(a), a),
      upload: (a) => page.evaluate((a) => window.workload.upload(a), a),
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

/** One measurement of figure `f` by runner `r`: its value (higher is better) and details. */
async function measureOnce(r, f, { seconds, tunnelArgs }) {
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
 * its error (and `failed`), the others go on.
 * @returns {Promise<{ rows: object[], failed: boolean, cipher: string }>}
 */
export async function runBrowserBench({
  cert = makeCert(), seconds = 2, warmup = 8, rounds = 2, engines = ENGINES, log = (m) => console.error(`bench: ${m}`),
} = {}) {
  const server = await startBulkServer(cert);
  const site = await serveDirectory(root);
  const tunnel = await createTunnel({ allow: [`127.0.0.1:${server.port}`], origins: [site.url], log: () => {} });
  const tunnelArgs = { url: `${tunnel.url}/127.0.0.1:${server.port}`, caPem: cert.certPem };
  const rows = ["node", ...engines].map((engine) => ({ engine, name: engine }));
  const runners = new Map();
  try {
    for (const row of rows) {
      try {
        const r = await runner(row.engine, { cert, warmup, site, log });
        runners.set(row, r);
        row.name = r.name;
      } catch (e) {
        row.error = String(e?.message ?? e).split("\n")[0];
      }
    }
    for (const [f, title] of COLUMNS) {
      log(`${title}: ${[...runners.values()].map((r) => r.name.split(" ")[0]).join(", ")}, ${rounds} rounds of ${seconds} s ...`);
      for (let round = 0; round < rounds; round++) {
        const live = rows.filter((row) => runners.has(row) && !row.error);
        for (let i = 0; i < live.length; i++) {
          const row = live[(i + round) % live.length];
          try {
            const m = await measureOnce(runners.get(row), f, { seconds, tunnelArgs });
            if (!(row[f] >= m.value)) Object.assign(row, { [f]: m.value }, m.connMs !== undefined ? { connMs: m.connMs } : {},
              m.cipher ? { cipher: m.cipher } : {});
          } catch (e) {
            row.error = String(e?.message ?? e).split("\n")[0];
          }
        }
      }
    }
  } finally {
    for (const r of runners.values()) await r.close().catch(() => {});
    await tunnel.close();
    site.server.close();
    await server.close();
  }
  return { rows, failed: rows.some((r) => r.error), cipher: rows.find((r) => r.cipher)?.cipher ?? "?" };
}

const fmt = (v) => (typeof v === "number" && Number.isFinite(v) ? (v >= 100 ? v.toFixed(0) : v.toFixed(1)) : "-");

/** The table, one row per engine, Node's first; then each engine against Node. */
export function printBrowserTable({ rows, cipher }, { seconds, warmup, rounds }) {
  console.log(`\nBrowsers: the same workloads in each engine's page (main thread) and in Node (this package), after ${warmup} s of warm-up;`);
  console.log(`each figure: the best of ${rounds} rounds of ${seconds} s, the engines taking turns`);
  console.log(`in the page: TLS 1.3, X25519MLKEM768, both ends in one page; tunnel: TlsSocket -> WebSocket -> tunnel -> TCP -> Node tls,`);
  console.log(`sequential connections with one shared context (median time to open in brackets), bulk server -> page (${cipher}),`);
  console.log(`upload page -> server (16 KiB writes), and the connections and bulk again in a module Worker of the page`);
  const label = Math.max(...rows.map((r) => r.name.length), 20);
  const widths = COLUMNS.map(([, t]) => Math.max(t.length, 10));
  const line = (name, cells) => name.padEnd(label) + "  " + cells.map((c, i) => String(c).padStart(widths[i])).join("  ");
  console.log(line("", COLUMNS.map(([, t]) => t)));
  for (const r of rows) {
    if (r.error) {
      console.log(`${r.name.padEnd(label)}  FAILED: ${r.error}`);
      continue;
    }
    console.log(line(r.name, COLUMNS.map(([k]) => k === "conns" ? `${fmt(r.conns)} (${fmt(r.connMs)} ms)` : fmt(r[k]))));
  }
  const node = rows.find((r) => r.engine === "node" && !r.error);
  if (node) {
    for (const r of rows) {
      if (r === node || r.error) continue;
      console.log(line(`  ${r.engine} / Node`, COLUMNS.map(([k]) => (node[k] ? (r[k] / node[k]).toFixed(2) + "x" : "-"))));
    }
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const seconds = Number(process.env.BENCH_SECONDS ?? 2);
  const warmup = Number(process.env.BENCH_BROWSER_WARMUP ?? 8);
  const rounds = Number(process.env.BENCH_BROWSER_ROUNDS ?? 2);
  const engines = process.env.BENCH_BROWSERS ? process.env.BENCH_BROWSERS.split(",") : ENGINES;
  const result = await runBrowserBench({ seconds, warmup, rounds, engines });
  printBrowserTable(result, { seconds, warmup, rounds });
  process.exitCode = result.failed ? 1 : 0;
}

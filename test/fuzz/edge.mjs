// The edge fuzz target (make fuzz --targets edge): the tunnel target's live
// inputs (tunnel-inputs.mjs: Wisp packets and sessions, wsproxy upgrades and
// frames, malformed HTTP, random bytes, mutations of each) against the edge
// tunnel as deployed (bindings/dist/edge/, test/helpers/edge-hosts.mjs): a
// Cloudflare Worker in workerd and a Deno server, each in front of a
// loopback echo server, on loopback only, 20 inputs at a time.
//
// Checked per input: the reply checks of the tunnel target (tunnel.mjs:
// replyProblems), less what the platforms' own HTTP and WebSocket layers do
// (platformsOwn, below), and never a 5xx of the tunnel's. After every batch
// of BATCH inputs and at the end: /healthz reports no WebSocket and no TCP
// connection left, and a wsproxy tunnel to the echo server still echoes.
// Input i gets its own PRNG seed, so any input can be regenerated alone.
import * as net from "node:net";
import { startDeno, startWorkerd } from "../helpers/edge-hosts.mjs";
import { frame, upgradeRequest } from "./raw-ws.mjs";
import { Random, fuzzInput, mutatedInput, wispInput } from "./tunnel-inputs.mjs";
import { exchange, replyProblems } from "./tunnel.mjs";

const PARALLEL = 20;
const BATCH = 500;

/**
 * What the reply checks (written for the Node tunnel) find that the edge
 * platforms do themselves, not the tunnel: an HTTP/1.0 status line for an
 * HTTP/1.0 request; the client's TCP connection kept open after its FIN
 * (workerd and Deno both, after a close handshake); a client's oversized
 * close reason echoed back (Deno's automatic reply: the tunnel's own close
 * frames go through closeReason); workerd's 501 for a method it does not
 * know, and its 500 for CONNECT, which it routes to a connect() handler a
 * Worker need not have.
 * @param {string} problem @param {{ request?: Buffer }} [context]
 */
export function platformsOwn(problem, { request } = {}) {
  const method = request?.subarray(0, 16).toString("latin1").split(" ")[0];
  return /^a reply that is not HTTP\/1\.1: "HTTP\/1\.0 [1-4]\d\d /.test(problem) ||
    /^the tunnel kept the connection open \d+ ms after the client's FIN$/.test(problem) ||
    /^a close reason of \d+ bytes$/.test(problem) ||
    /^HTTP status 501, not one the tunnel answers$/.test(problem) ||
    (method === "CONNECT" && /^HTTP status 500, not one the tunnel answers$/.test(problem));
}

/** Input `index` of a run: Wisp (40%), a mutated upgrade (30%), or make fuzz's other inputs (30%). */
export function edgeInput(seed, index, target) {
  const r = new Random((Math.imul(seed, 1_000_003) + index) >>> 0);
  const roll = r.next();
  const input = roll < 0.4 ? wispInput(r, target) : roll < 0.7 ? mutatedInput(r, target) : fuzzInput(r, target);
  return { ...input, seed, index, ending: r.pick(["quiet", "fin", "rst"]) };
}

/** Problems with one reply, the platforms' own left out. */
export function edgeReplyProblems(reply, request) {
  const problems = replyProblems(reply).filter((p) => !platformsOwn(p, { request }));
  if (reply.status !== null && reply.status >= 500 && !platformsOwn(`HTTP status ${reply.status}, not one the tunnel answers`, { request })) {
    problems.push(`HTTP ${reply.status}`);
  }
  return [...new Set(problems)];
}

async function health(host) {
  return (await fetch(`http://127.0.0.1:${host.port}/healthz`)).json();
}

/** What is wrong with the host after a batch: connections left, or no echo through it. */
async function hostProblems(host, echoPort) {
  const problems = [];
  let h;
  for (const end = Date.now() + 5000; ;) {
    h = await health(host).catch((e) => ({ error: String(e) }));
    if (h.connections === 0 && h.tcp === 0) break;
    if (Date.now() > end) {
      problems.push(`/healthz 5 s after the batch: ${JSON.stringify(h)}`);
      break;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const reply = await exchange(host.port, [upgradeRequest(`/127.0.0.1:${echoPort}`), frame({ opcode: 2, payload: Buffer.from("still alive") })], "quiet");
  if (reply.status !== 101 || !reply.bytes.includes("still alive")) problems.push(`no echo through it (status ${reply.status})`);
  return problems;
}

/**
 * `count` inputs (or until `deadline`) against one platform's tunnel.
 * @param {{ platform: "workerd" | "deno"; seed: number; count: number; deadline?: number; onProgress?: (n: number) => void }} o
 */
export async function runEdge({ platform, seed, count, deadline = Infinity, onProgress = () => {} }) {
  const echo = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on("error", () => {});
    s.on("data", (d) => s.write(d));
    s.on("end", () => s.end());
  });
  await new Promise((r) => echo.listen(0, "127.0.0.1", r));
  const echoPort = echo.address().port;
  const allow = `127.0.0.1:${echoPort}`;
  const host = platform === "workerd" ? await startWorkerd({ allow })
    : await startDeno({ TUNNEL_ALLOW: allow, TUNNEL_WISP: "1", EDGE_LIMITS: JSON.stringify({ upgradeTimeoutMs: 1000, idleTimeoutMs: 3000 }) });
  const started = performance.now();
  const failures = [];
  const statuses = {};
  let done = 0;
  try {
    const target = { path: `/${allow}`, origin: "http://fuzz.test" };
    while (done < count && Date.now() < deadline && failures.length < 10) {
      const batch = Math.min(BATCH, count - done);
      for (let i = 0; i < batch; i += PARALLEL) {
        await Promise.all(Array.from({ length: Math.min(PARALLEL, batch - i) }, async (_, k) => {
          const input = edgeInput(seed, done + i + k, target);
          const request = Buffer.concat(input.chunks);
          const reply = await exchange(host.port, input.chunks, input.ending);
          statuses[reply.status ?? "none"] = (statuses[reply.status ?? "none"] ?? 0) + 1;
          const problems = edgeReplyProblems(reply, request);
          if (problems.length) {
            failures.push({ message: `${platform}: ${input.kind}: ${input.name}: ${problems[0]}`,
              detail: { target: "edge", platform, kind: input.kind, seed, index: input.index, problems, ending: input.ending, chunks: input.chunks.map((c) => c.toString("base64")) } });
          }
        }));
      }
      done += batch;
      onProgress(done);
      for (const p of await hostProblems(host, echoPort)) failures.push({ message: `${platform}: after ${done} inputs: ${p}`, detail: { target: "edge", platform, seed, index: done } });
    }
  } finally {
    host.stop();
    echo.close();
  }
  return { done, seconds: (performance.now() - started) / 1000, failures, statuses };
}

/** The edge target of make fuzz: `tunnelLive` inputs in each platform, half the time each; one row of figures. */
export async function fuzzEdge(o) {
  const started = Date.now();
  const rows = [];
  for (const [i, platform] of ["workerd", "deno"].entries()) {
    const deadline = started + (o.seconds * 1000 * (i + 1)) / 2;
    const r = await runEdge({ platform, seed: o.seed, count: o.tunnelLive ?? 5000, deadline, onProgress: (n) => n % 5000 === 0 && console.log(`fuzz: edge: ${platform}: ${n} inputs`) });
    console.log(`fuzz: edge: ${platform}: ${r.done} inputs in ${r.seconds.toFixed(1)} s; HTTP statuses: ${Object.entries(r.statuses).map(([k, v]) => `${k} ${v}`).join(", ")}`);
    rows.push({ platform, ...r });
  }
  return {
    target: "edge",
    inputs: rows.reduce((n, r) => n + r.done, 0),
    seconds: (Date.now() - started) / 1000,
    failures: rows.flatMap((r) => r.failures),
    summary: rows.map((r) => `${r.platform} ${r.done}`).join(", "),
  };
}

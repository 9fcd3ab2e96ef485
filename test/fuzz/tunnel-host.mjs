// The tunnel under test for tunnel.mjs's live inputs, in a process of its
// own (forked, with --expose-gc): a loopback echo server and a tunnel in
// front of it that allows only that server and one Origin, serving wsproxy
// paths and Wisp v1 on "/". Its own process,
// so that an input that crashed it is seen as a crash (not as the end of the
// fuzzer), and so that its open file descriptors and heap are its own.
//
// IPC: it sends { type: "ready", port, echoPort, allowed, origin } once it
// listens, and { type: "event", event } for every event that must never
// happen (internal-error, server-error, a "connecting" to anything but the
// allowed destination). It answers { op: "stats", gc } with its counts,
// open fds, active handles, heap in use (after a full GC when asked) and
// events by name, and { op: "stop" } by closing and exiting. It exits by
// itself when the parent goes away or after `maxSeconds`.
//
// argv[2]: JSON { module?, maxSeconds? }; `module` (a file URL) replaces
// bindings/dist/tunnel/tunnel.js, for tests that need a broken tunnel.
import { readdirSync } from "node:fs";
import * as net from "node:net";

const ORIGIN = "http://good.test";
const config = JSON.parse(process.argv[2] ?? "{}");
const { createTunnel } = await import(config.module ?? new URL("../../bindings/dist/tunnel/tunnel.js", import.meta.url).href);

setTimeout(() => process.exit(3), (config.maxSeconds ?? 7200) * 1000).unref();
process.on("disconnect", () => process.exit(0));

// Echoes, and closes (FIN) when the client does.
const echo = net.createServer({ allowHalfOpen: true }, (s) => {
  s.on("data", (d) => s.write(d));
  s.on("end", () => s.end());
  s.on("error", () => {});
});
await new Promise((resolve) => echo.listen(0, "127.0.0.1", resolve));
const echoPort = echo.address().port;
const allowed = `127.0.0.1:${echoPort}`;

const counts = {};
const tunnel = await createTunnel({
  allow: [allowed],
  origins: [ORIGIN],
  // Wisp v1 on "/" too, with few streams per WebSocket so that inputs reach the limit.
  wisp: true,
  maxStreamsPerConnection: 8,
  // Small enough that hostile inputs meet every limit soon, large enough
  // for the parallel batches (all from 127.0.0.1) to fit.
  maxFrameBytes: 64 << 10,
  upgradeTimeoutMs: 1000,
  idleTimeoutMs: 2000,
  maxPending: 512,
  maxPendingPerClient: 512,
  maxConnections: 256,
  maxConnectionsPerClient: 256,
  onEvent: (e) => {
    counts[e.event] = (counts[e.event] ?? 0) + 1;
    if (e.event === "internal-error" || e.event === "server-error" || (e.event === "connecting" && e.target !== allowed)) {
      process.send({ type: "event", event: e });
    }
  },
});

process.on("message", async (m) => {
  if (m.op === "stats") {
    if (m.gc) for (let i = 0; i < 3; i++) globalThis.gc?.();
    process.send({
      type: "reply", id: m.id, connections: tunnel.connections, pending: tunnel.pending, streams: tunnel.streams,
      fds: readdirSync("/proc/self/fd").length, handles: process.getActiveResourcesInfo().length,
      heapUsed: process.memoryUsage().heapUsed, events: counts,
    });
  } else if (m.op === "stop") {
    await tunnel.close();
    echo.close();
    process.send({ type: "reply", id: m.id }, () => process.exit(0));
  }
});
process.send({ type: "ready", port: tunnel.port, echoPort, allowed, origin: ORIGIN });

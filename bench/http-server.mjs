// The HTTPS side of `make bench`'s HTTP figures (issue 13), in the bench
// process: the local Node `https` server that createFetch reaches through
// the tunnel, and the baseline the issue measures the GETs against, native
// Node `https` to the same server, directly over TCP (no tunnel).
//
//   GET /small       SMALL_BYTES of text, with Content-Length
//   GET /bytes/<n>   n bytes (at most 1 GiB), with Content-Length, written
//                    from one reused 64 KiB block as the socket drains
//
// HTTP/1.1 keep-alive is on (Node's default), with an idle timeout longer
// than any pause within a measurement. Certificate: bench/cert.mjs's. The
// same handler also answers plain `http` on a port of its own (`plainPort`),
// for the GETs' floor: the same exchanges with no TLS at all.
import { once } from "node:events";
import http from "node:http";
import https from "node:https";
import { HOST } from "./host.mjs";

/** The body of GET /small: a few hundred bytes, as a small API response might be. */
export const SMALL_BYTES = 300;
const MAX_BYTES = 1 << 30;

/** Starts the server, and its plain-http twin, on 127.0.0.1 (ephemeral ports). */
export async function startHttpsServer({ certPem, keyPem }) {
  const small = Buffer.alloc(SMALL_BYTES, "x");
  const block = Buffer.alloc(64 * 1024, 0x5a);
  const handler = async (req, res) => {
    const bytes = /^\/bytes\/(\d+)$/.exec(req.url ?? "");
    if (req.method === "GET" && req.url === "/small") {
      res.writeHead(200, { "content-type": "text/plain", "content-length": small.length }).end(small);
    } else if (req.method === "GET" && bytes && Number(bytes[1]) <= MAX_BYTES) {
      let left = Number(bytes[1]);
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": left });
      while (left > 0 && !res.destroyed) {
        const n = Math.min(left, block.length);
        left -= n;
        // wait for the socket to drain, or for the client to go away
        if (!res.write(n === block.length ? block : block.subarray(0, n))) {
          await new Promise((resolve) => {
            const go = () => { res.off("drain", go); res.off("close", go); resolve(); };
            res.on("drain", go);
            res.on("close", go);
          });
        }
      }
      res.end();
    } else {
      res.writeHead(404, { "content-length": 0 }).end();
    }
  };
  const servers = [https.createServer({ cert: certPem, key: keyPem }, handler), http.createServer(handler)];
  for (const server of servers) {
    server.keepAliveTimeout = 60_000; // Node's default is 5 s
    server.on("clientError", (_e, socket) => socket.destroy());
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
  }
  return {
    port: servers[0].address().port,
    plainPort: servers[1].address().port,
    close: () => Promise.all(servers.map((server) => {
      server.closeAllConnections();
      return new Promise((r) => server.close(r));
    })),
  };
}

/**
 * The native baseline of the GETs: Node's `https` client (its own OpenSSL,
 * TCP straight to the server) with one kept-alive socket (`maxSockets: 1`),
 * `count` sequential GET /small, each body read to its end. The same shape
 * as the fetch workload (bench/browser-workload.mjs: httpGets): a first
 * GET opens the connection, `count - 1` more warm up, then `count` are
 * timed, all on that connection (checked: `req.reusedSocket` and the same
 * socket, else it throws). Returns requests/s and the median request in ms.
 */
export async function nativeGets({ httpPort, caPem, count = 100 }) {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
  let socket; // the connection the first GET opened
  const get = (i) => new Promise((resolve, reject) => {
    const req = https.get({ host: "127.0.0.1", port: httpPort, path: "/small", servername: HOST, ca: caPem, agent }, (res) => {
      let got = 0;
      res.on("data", (c) => { got += c.length; });
      res.on("error", reject);
      res.on("end", () => {
        if (res.statusCode !== 200 || got !== SMALL_BYTES) return reject(new Error(`native GET /small: ${res.statusCode}, ${got} bytes`));
        if (i === 0) socket = req.socket;
        else if (!req.reusedSocket || req.socket !== socket) return reject(new Error(`native GET ${i + 1} was not on the kept-alive connection`));
        resolve();
      });
    });
    req.on("error", reject);
  });
  try {
    for (let i = 0; i < count; i++) await get(i); // the connection, then warm-up
    const times = [];
    const t0 = performance.now();
    for (let i = 0; i < count; i++) {
      const t = performance.now();
      await get(count + i);
      times.push(performance.now() - t);
    }
    const elapsed = (performance.now() - t0) / 1000;
    times.sort((a, b) => a - b);
    return { perSecond: count / elapsed, medianMs: times[times.length >> 1] };
  } finally {
    agent.destroy();
  }
}

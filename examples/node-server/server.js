// A TLS echo server in Node: net.createServer accepts TCP connections, and
// OpenSSL (compiled to WebAssembly) does TLS on each. Every line a client
// sends comes back. When the client closes (its close_notify), the server
// answers with its own: a clean two-way close.
//
//   node server.js --cert cert.pem --key key.pem [--listen 127.0.0.1:4433]
//                  [--max-connections 100] [--handshake-timeout 10] [--idle-timeout 60]
//
// SIGINT/SIGTERM stop it gracefully: no new connections, a close_notify to
// every client, up to 5 seconds for their answers, then exit.
import { readFile } from "node:fs/promises";
import { createServer } from "node:net";
import { parseArgs } from "node:util";
import { TlsSocket } from "openssl-tls-wasm";
import { fromNodeSocket } from "openssl-tls-wasm/node";

const { values } = parseArgs({
  options: {
    cert: { type: "string" },
    key: { type: "string" },
    listen: { type: "string", default: "127.0.0.1:4433" },
    // The limits a server facing the Internet needs (seconds, except the count):
    "max-connections": { type: "string", default: "100" }, // beyond it, new TCP connections are dropped
    "handshake-timeout": { type: "string", default: "10" }, // a client that stalls its handshake is dropped
    "idle-timeout": { type: "string", default: "60" }, // a connection silent that long is dropped
  },
});
const usage = () => {
  console.error("usage: node server.js --cert cert.pem --key key.pem [--listen HOST:PORT] [--max-connections N] [--handshake-timeout S] [--idle-timeout S]");
  process.exit(2);
};
const whole = (name) => (/^\d+$/.test(values[name]) ? Number(values[name]) : usage());
if (!values.cert || !values.key) usage();
const MAX_LINE = 16 * 1024; // a longer line ends the connection: memory per client stays bounded
const maxConnections = whole("max-connections");
const options = {
  handshakeTimeout: whole("handshake-timeout") * 1000,
  idleTimeout: whole("idle-timeout") * 1000,
  cert: await readFile(values.cert, "utf8"),
  key: await readFile(values.key, "utf8"),
};

const live = new Set();
let stopping = false;
const server = createServer({ allowHalfOpen: true }, async (socket) => {
  // allowHalfOpen: the client's FIN must not close our side before TLS is done with it.
  const peer = `${socket.remoteAddress}:${socket.remotePort}`;
  let tls;
  try {
    tls = await TlsSocket.accept(fromNodeSocket(socket), options);
  } catch (error) {
    console.log(`${peer} handshake failed: ${error.name}: ${error.message}`);
    return; // the socket is closed already
  }
  console.log(`${peer} connected ${tls.info.protocol} ${tls.info.cipher}`);
  live.add(tls);
  if (stopping) tls.shutdown({ mode: "bidirectional" }).catch(() => {}); // (its outcome is logged below)
  try {
    await echoLines(tls);
    await tls.shutdown({ mode: "bidirectional" }); // the client's close_notify came: answer it
  } catch (error) {
    console.log(`${peer} error: ${error.name}: ${error.message}`);
    await tls.destroy(error); // no close_notify for a client that broke the rules (a no-op if already over)
  } finally {
    live.delete(tls);
  }
  console.log(`${peer} closed ${(await tls.closed).ending}`);
});
server.maxConnections = maxConnections;

/** Writes back every complete line until the client's close_notify ends the readable. */
async function echoLines(tls) {
  const writer = tls.writable.getWriter();
  let pending = new Uint8Array(0);
  for await (const chunk of tls.readable) {
    const data = new Uint8Array(pending.length + chunk.length);
    data.set(pending);
    data.set(chunk, pending.length);
    const end = data.lastIndexOf(0x0a) + 1; // after the last "\n"
    // (once our close_notify is out, as when stopping, TLS allows no more data from us)
    if (end > 0 && !stopping) await writer.write(data.subarray(0, end));
    pending = data.subarray(end);
    if (pending.length > MAX_LINE) throw new RangeError(`a line longer than ${MAX_LINE} bytes`);
  }
  writer.releaseLock();
}

const { hostname, port } = new URL(`tcp://${values.listen}`);
server.listen(Number(port), hostname.replace(/^\[|\]$/g, ""), () => {
  const address = server.address();
  console.log(`listening on ${address.address}:${address.port}`);
});

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    console.log(`${signal}: closing ${live.size} connection(s)`);
    stopping = true;
    server.close(() => console.log("stopped")); // once every connection is over; then the process exits
    // Our close_notify to each client; echoLines ends on their answer.
    for (const tls of live) tls.shutdown({ mode: "bidirectional" }).catch(() => {});
    setTimeout(() => {
      for (const tls of live) tls.destroy(new Error("no close_notify within 5 s of ours"));
    }, 5000).unref();
  });
}

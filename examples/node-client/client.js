// A TLS client in Node: OpenSSL (compiled to WebAssembly) over a TCP socket.
// It sends one line, reads the reply up to its newline, and closes the TLS
// connection both ways (our close_notify sent, the server's received).
//
//   node client.js HOST:PORT [--ca ca.pem] [--servername NAME] [--message TEXT]
//
// Without --ca the server's certificate must chain to one of Mozilla's roots
// (built into the package). The same settings can come from the environment:
// TLS_SERVER, TLS_CA, TLS_SERVERNAME.
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { TlsSocket } from "openssl-tls-wasm";
import { connectTcp } from "openssl-tls-wasm/node";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    ca: { type: "string", default: process.env.TLS_CA },
    servername: { type: "string", default: process.env.TLS_SERVERNAME },
    message: { type: "string", default: "hello from node" },
  },
});
const server = positionals[0] ?? process.env.TLS_SERVER;
if (!server) {
  console.error("usage: node client.js HOST:PORT [--ca ca.pem] [--servername NAME] [--message TEXT]");
  process.exit(2);
}
const { hostname, port } = new URL(`tls://${server}`); // splits "host:port" and "[::1]:port"

// Opening the TCP connection and the handshake each get 10 seconds.
const transport = await connectTcp(hostname.replace(/^\[|\]$/g, ""), Number(port), { timeout: 10_000 });
const tls = await TlsSocket.connect(transport, {
  servername: values.servername ?? hostname,
  ...(values.ca ? { ca: await readFile(values.ca, "utf8") } : {}),
  handshakeTimeout: 10_000,
  idleTimeout: 30_000, // a server that stops answering does not hang us
});
console.log(`connected ${tls.info.protocol} ${tls.info.cipher}`);

const writer = tls.writable.getWriter();
await writer.write(new TextEncoder().encode(`${values.message}\n`));
writer.releaseLock();
console.log(`sent      ${values.message}`);

// Read until the reply's newline (or the server's close_notify).
const reader = tls.readable.getReader();
const decoder = new TextDecoder();
let reply = "";
while (!reply.includes("\n")) {
  const { value, done } = await reader.read();
  if (done) break;
  reply += decoder.decode(value, { stream: true });
}
reader.releaseLock();
console.log(`received  ${reply.trimEnd()}`);

// close_notify both ways: SSL_shutdown returns 0 (ours sent), then 1 (theirs received).
const report = await tls.shutdown({ mode: "bidirectional" });
const calls = report.steps.filter((step) => step.call === "SSL_shutdown").map((step) => step.ret);
console.log(`shutdown  SSL_shutdown ${calls.join(", then ")}`);
const { ending } = await tls.closed; // "clean": both close_notify alerts, nothing truncated
console.log(`ending    ${ending}`);
process.exitCode = ending === "clean" ? 0 : 1;

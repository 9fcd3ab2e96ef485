// A TLS client in Bun: OpenSSL (compiled to WebAssembly) over Bun.connect.
// It sends one line, reads the reply up to its newline, and closes the TLS
// connection both ways (our close_notify sent, the server's received).
//
//   bun client.js HOST:PORT [--ca ca.pem] [--servername NAME] [--message TEXT]
//
// Without --ca the server's certificate must chain to one of Mozilla's roots
// (built into the package).
import { parseArgs } from "node:util";
import { TlsSocket, connectBun } from "openssl-tls-wasm";

const { values, positionals } = parseArgs({
  args: Bun.argv.slice(2),
  allowPositionals: true,
  options: {
    ca: { type: "string" },
    servername: { type: "string" },
    message: { type: "string", default: "hello from bun" },
  },
});
if (!positionals[0]) {
  console.error("usage: bun client.js HOST:PORT [--ca ca.pem] [--servername NAME] [--message TEXT]");
  process.exit(2);
}
const { hostname, port } = new URL(`tls://${positionals[0]}`); // splits "host:port" and "[::1]:port"

const transport = await connectBun(hostname.replace(/^\[|\]$/g, ""), Number(port));
const tls = await TlsSocket.connect(transport, {
  servername: values.servername ?? hostname,
  ...(values.ca ? { ca: await Bun.file(values.ca).text() } : {}),
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

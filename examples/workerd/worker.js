// A TLS client in a Cloudflare Worker (workerd): on each request it connects
// to TLS_SERVER with connect() from cloudflare:sockets, sends one line,
// reads the reply, closes the TLS connection both ways, and answers with
// what happened.
//
// workerd compiles no wasm from bytes at run time, so the wasm is imported
// as a module (config.capnp declares "openssl-tls-wasm/wasm" as one) and
// handed to OpenSSL.load().
import { connect } from "cloudflare:sockets";
import wasm from "openssl-tls-wasm/wasm";
import { OpenSSL, TlsSocket, connectCloudflare } from "openssl-tls-wasm";

export default {
  async fetch(request, env) {
    if (new URL(request.url).pathname !== "/") return new Response("not found", { status: 404 });
    try {
      const { lines, ending } = await exchange(env);
      return new Response(`${lines.join("\n")}\n`, { status: ending === "clean" ? 200 : 502 });
    } catch (error) {
      return new Response(`error     ${error.name}: ${error.message}\n`, { status: 502 });
    }
  },
};

/** One connection: handshake, a line each way, close_notify both ways. */
async function exchange(env) {
  const openssl = await OpenSSL.load({ wasm }); // once per isolate (memoized)
  const { hostname, port } = new URL(`tls://${env.TLS_SERVER}`); // "host:port"
  const lines = [];

  const transport = connectCloudflare(connect, hostname, Number(port));
  const tls = await TlsSocket.connect(transport, {
    openssl,
    servername: env.TLS_SERVERNAME || hostname,
    ca: env.CA_PEM, // this worker trusts only its CA (ca.pem)
    handshakeTimeout: 10_000,
    idleTimeout: 30_000,
  });
  lines.push(`connected ${tls.info.protocol} ${tls.info.cipher}`);

  const message = "hello from workerd";
  const writer = tls.writable.getWriter();
  await writer.write(new TextEncoder().encode(`${message}\n`));
  writer.releaseLock();
  lines.push(`sent      ${message}`);

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
  lines.push(`received  ${reply.trimEnd()}`);

  // close_notify both ways: SSL_shutdown returns 0 (ours sent), then 1 (theirs received).
  const report = await tls.shutdown({ mode: "bidirectional" });
  const calls = report.steps.filter((step) => step.call === "SSL_shutdown").map((step) => step.ret);
  lines.push(`shutdown  SSL_shutdown ${calls.join(", then ")}`);
  const { ending } = await tls.closed; // "clean": both close_notify alerts, nothing truncated
  lines.push(`ending    ${ending}`);
  return { lines, ending };
}

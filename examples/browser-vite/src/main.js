// TLS from a web page: the page opens a WebSocket to the tunnel
// (openssl-tls-wasm-tunnel), which relays bytes to a TCP server; OpenSSL,
// here in WebAssembly, does TLS over it. The tunnel sees only ciphertext.
//
// The form's fields can be preset from the address:
//   /?tunnel=ws://127.0.0.1:8080&server=127.0.0.1:4433&servername=server.test
import { TlsSocket, connectWebSocket } from "openssl-tls-wasm";

const form = document.querySelector("#connect");
const result = document.querySelector("#result");
for (const [name, value] of new URLSearchParams(location.search)) {
  if (form.elements[name]) form.elements[name].value = value;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const fields = Object.fromEntries(new FormData(form));
  result.dataset.state = "running";
  result.textContent = "";
  const show = (line) => (result.textContent += `${line}\n`);
  try {
    const ending = await exchange(fields, show);
    result.dataset.state = ending === "clean" ? "done" : "error";
  } catch (error) {
    show(`error     ${error.name}: ${error.message}`);
    result.dataset.state = "error";
  }
});

/** One connection: handshake, a line each way, close_notify both ways. */
async function exchange({ tunnel, server, servername, ca, message }, show) {
  const { hostname } = new URL(`tls://${server}`);
  // The tunnel's URL names the destination: ws://tunnel/host:port (it must be on the tunnel's --allow list).
  const transport = await connectWebSocket(`${tunnel.replace(/\/$/, "")}/${server}`, { timeout: 10_000 });
  const tls = await TlsSocket.connect(transport, {
    servername: servername || hostname,
    ...(ca.trim() ? { ca } : {}), // else the package's default roots (Mozilla's)
    handshakeTimeout: 10_000,
    idleTimeout: 30_000,
  });
  show(`connected ${tls.info.protocol} ${tls.info.cipher}`);

  const writer = tls.writable.getWriter();
  await writer.write(new TextEncoder().encode(`${message}\n`));
  writer.releaseLock();
  show(`sent      ${message}`);

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
  show(`received  ${reply.trimEnd()}`);

  // close_notify both ways: SSL_shutdown returns 0 (ours sent), then 1 (theirs received).
  const report = await tls.shutdown({ mode: "bidirectional" });
  const calls = report.steps.filter((step) => step.call === "SSL_shutdown").map((step) => step.ret);
  show(`shutdown  SSL_shutdown ${calls.join(", then ")}`);
  const { ending } = await tls.closed; // "clean": both close_notify alerts, nothing truncated
  show(`ending    ${ending}`);
  return ending;
}

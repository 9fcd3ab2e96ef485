// The smoke test every runtime runs (Deno, Bun, workerd, Chromium): connect
// to a local `openssl s_server -rev` (it sends each line back reversed),
// verify its certificate against the test CA, exchange a line, and close
// both ways. Returns what happened, for the test runner to assert.
// Plain JavaScript over bindings/dist, so every runtime loads it as is.

/**
 * @param {{ OpenSSL: any, TlsSocket: any }} lib  the package's exports
 * @param {{ transport: { readable: ReadableStream, writable: WritableStream }, caPem: string, servername: string, wasm?: any }} o
 */
export async function smoke(lib, o) {
  const ossl = o.wasm ? await lib.OpenSSL.load({ wasm: o.wasm }) : await lib.OpenSSL.load();
  const socket = await lib.TlsSocket.connect(o.transport, { openssl: ossl, ca: o.caPem, servername: o.servername });
  const info = socket.info;
  const writer = socket.writable.getWriter();
  await writer.write(new TextEncoder().encode("ping from the runtime\n"));
  writer.releaseLock();
  const reader = socket.readable.getReader();
  let line = "";
  while (!line.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    line += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  const report = await socket.shutdown({ mode: "bidirectional" });
  return {
    protocol: info.protocol,
    group: info.group,
    verifyResult: info.verifyResult,
    peer: info.peerCertificate?.subject ?? null,
    reply: line,
    shutdown: report.steps.filter((s) => s.call === "SSL_shutdown").map((s) => s.ret),
    ending: report.ending,
  };
}

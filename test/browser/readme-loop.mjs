// The README's TlsSocket example ("TlsSocket: TLS over any transport"), as
// written there: through the tunnel, write, then `for await (const chunk of
// tls.readable)` until the peer's close_notify, then shutdown() and closed.
// The peer is `openssl s_server -rev`, which closes (close_notify) when it
// reads a line "CLOSE". WebKit has no async iteration on ReadableStream: this
// is the loop that threw there before bindings/src/transports/iterable.ts.
// Plain JavaScript over bindings/dist, for the page and the Worker alike.

/** @param {{ TlsSocket: any, connectWebSocket: any }} lib */
export async function readmeLoop({ TlsSocket, connectWebSocket }, { url, caPem, servername }) {
  const bytes = new TextEncoder().encode("ping from the README\nCLOSE\n");

  const transport = await connectWebSocket(url); // through the tunnel
  const tls = await TlsSocket.connect(transport, { servername, ca: caPem });
  const info = tls.info;
  await tls.writable.getWriter().write(bytes);
  const chunks = [];
  for await (const chunk of tls.readable) chunks.push(new TextDecoder().decode(chunk)); // ends on the peer's close_notify
  const report = await tls.shutdown({ mode: "bidirectional" });
  const { ending } = await tls.closed;

  return {
    protocol: info.protocol,
    verifyResult: info.verifyResult,
    received: chunks.join(""),
    steps: report.steps.map((s) => `${s.call} ${s.ret}`),
    ending,
    // whether the loop ran on the engine's own async iteration or on ours (iterable.ts)
    engineAsyncIteration: typeof ReadableStream.prototype[Symbol.asyncIterator] === "function",
  };
}

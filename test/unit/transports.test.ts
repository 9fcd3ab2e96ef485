// Opening a transport cannot hang: connectWebSocket and connectTcp take a
// `timeout` (default 30 s) and a `signal`, check both before opening, and on
// either close what they opened.
import { once } from "node:events";
import * as net from "node:net";
import * as tls from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { ConnectTimeoutError, TlsSocket, connectWebSocket, hostPort, tunnelConnector } from "../../bindings/src/index.js";
import { connectTcp, createTunnel, tcpConnector } from "../../bindings/src/node.js";
import { SERVER_NAME, identity } from "../helpers/harness.js";

/** A TCP server that accepts and never answers (a WebSocket upgrade that never completes). */
let silent: net.Server;
let silentPort: number;
const accepted: net.Socket[] = [];
beforeAll(async () => {
  silent = net.createServer((s) => {
    accepted.push(s);
    s.on("error", () => {});
    s.resume(); // read (and drop) what comes, so the end and close are seen
  });
  silent.listen(0, "127.0.0.1");
  await once(silent, "listening");
  silentPort = (silent.address() as net.AddressInfo).port;
});
afterAll(() => {
  for (const s of accepted) s.destroy();
  silent.close();
});

/** Resolves when the server side of the latest accepted connection sees it closed. */
async function latestClosed(): Promise<void> {
  for (let i = 0; i < 100 && accepted.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  const s = accepted.at(-1)!;
  if (!s.destroyed && s.readyState !== "closed") await Promise.race([once(s, "close"), once(s, "end")]);
}

describe("connectWebSocket", () => {
  const url = () => `ws://127.0.0.1:${silentPort}/x:443`;

  it("rejects with ConnectTimeoutError after `timeout` ms when the upgrade never completes, and closes the socket", async () => {
    accepted.length = 0;
    const started = Date.now();
    const error = await connectWebSocket(url(), { WebSocket: WebSocket as never, timeout: 200 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectTimeoutError);
    expect((error as ConnectTimeoutError).timeoutMs).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    await latestClosed();
  });

  it("rejects with the signal's reason when aborted while opening, and closes the socket", async () => {
    accepted.length = 0;
    const controller = new AbortController();
    const opening = connectWebSocket(url(), { WebSocket: WebSocket as never, signal: controller.signal, timeout: 0 });
    setTimeout(() => controller.abort(new Error("user gave up")), 100);
    await expect(opening).rejects.toThrow("user gave up");
    await latestClosed();
  });

  it("refuses an already aborted signal and a bad timeout before opening anything", async () => {
    accepted.length = 0;
    await expect(connectWebSocket(url(), { WebSocket: WebSocket as never, signal: AbortSignal.abort(new Error("early")) })).rejects.toThrow("early");
    await expect(connectWebSocket(url(), { WebSocket: WebSocket as never, timeout: -1 })).rejects.toThrow(RangeError);
    await expect(connectWebSocket(url(), { WebSocket: WebSocket as never, timeout: 1.5 })).rejects.toThrow(RangeError);
    await new Promise((r) => setTimeout(r, 50));
    expect(accepted).toHaveLength(0);
  });
});

describe("connectTcp", () => {
  it("refuses a bad host, port, timeout or an aborted signal with a clear error, before connecting", async () => {
    accepted.length = 0;
    await expect(connectTcp("", silentPort)).rejects.toThrow(/host must be a non-empty string/);
    await expect(connectTcp("127.0.0.1", 0)).rejects.toThrow(/port must be an integer in 1\.\.65535/);
    await expect(connectTcp("127.0.0.1", 70000)).rejects.toThrow(RangeError);
    await expect(connectTcp("127.0.0.1", silentPort, { timeout: Number.NaN })).rejects.toThrow(/timeout must be/);
    await expect(connectTcp("127.0.0.1", silentPort, { signal: AbortSignal.abort(new Error("early")) })).rejects.toThrow("early");
    await new Promise((r) => setTimeout(r, 50));
    expect(accepted).toHaveLength(0);
  });

  it("connects within its timeout and returns a working transport", async () => {
    accepted.length = 0;
    const t = await connectTcp("127.0.0.1", silentPort, { timeout: 5000 });
    const writer = t.writable.getWriter();
    await writer.write(new TextEncoder().encode("hi"));
    await writer.close();
    await latestClosed();
  });
});

describe("connectors", () => {
  it("hostPort brackets IPv6 addresses only", () => {
    expect(hostPort({ host: "example.org", port: 443 })).toBe("example.org:443");
    expect(hostPort({ host: "::1", port: 8443 })).toBe("[::1]:8443");
  });

  it("tunnelConnector and tcpConnector each reach a TLS server: a TlsSocket round trip and a clean close", async () => {
    const id = identity();
    const server = tls.createServer({ cert: id.certPem, key: id.keyPem }, (s) => {
      s.on("error", () => {});
      s.pipe(s);
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const port = (server.address() as net.AddressInfo).port;
    const tunnel = await createTunnel({ port: 0, allow: [`127.0.0.1:${port}`] });
    try {
      for (const connector of [tunnelConnector(tunnel.url, { WebSocket: WebSocket as never }), tcpConnector()]) {
        const transport = await connector({ host: "127.0.0.1", port });
        const socket = await TlsSocket.connect(transport, { ca: id.certPem, servername: SERVER_NAME });
        const w = socket.writable.getWriter();
        await w.write(new TextEncoder().encode("via a connector"));
        w.releaseLock();
        const r = socket.readable.getReader();
        expect(new TextDecoder().decode((await r.read()).value)).toBe("via a connector");
        r.releaseLock();
        expect((await socket.shutdown()).ending).toBe("clean");
      }
      const aborted = tcpConnector()({ host: "127.0.0.1", port }, { signal: AbortSignal.abort(new Error("no")) });
      await expect(aborted).rejects.toThrow("no");
    } finally {
      await tunnel.close();
      server.close();
    }
  });
});

/**
 * A Connector opens a Transport to a host and port: what higher layers
 * (fetch, WebSockets) take, so they work over any of the package's
 * transports. One per kind: the tunnel (one WebSocket per connection, the
 * destination in the path), the runtimes' native TCP (Deno, Bun, workerd's
 * `connect()`), and Node's TCP (openssl-tls-wasm/node: tcpConnector).
 */
import { connectDeno, connectBun, connectCloudflare, type CloudflareSocketLike } from "./runtimes.js";
import type { Transport } from "./types.js";
import { connectWebSocket, type ConnectWebSocketOptions } from "./websocket.js";

/** Where to connect. */
export interface Destination {
  /** A host name or an IP address (IPv6 without brackets). */
  host: string;
  /** 1..65535. */
  port: number;
}

/** Opens a Transport to `destination`; rejects with the signal's reason once it aborts. */
export type Connector = (destination: Destination, options?: { signal?: AbortSignal }) => Promise<Transport>;

/** host:port as a URL path segment: IPv6 addresses in brackets. */
export function hostPort({ host, port }: Destination): string {
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/**
 * Through the package's tunnel (or any wsproxy-convention server): one
 * WebSocket per connection to `${tunnelUrl}/${host}:${port}`.
 */
export function tunnelConnector(tunnelUrl: string | URL, options: ConnectWebSocketOptions = {}): Connector {
  return tunnelConnectorWith(connectWebSocket, tunnelUrl, options);
}

/**
 * tunnelConnector over a given connectWebSocket (the Node entry's falls
 * back to the `ws` package in Node 20).
 * @internal
 */
export function tunnelConnectorWith(
  connect: (url: string, options: ConnectWebSocketOptions) => Promise<Transport>, tunnelUrl: string | URL, options: ConnectWebSocketOptions,
): Connector {
  const base = String(tunnelUrl).replace(/\/+$/, "");
  return (destination, o = {}) => connect(`${base}/${hostPort(destination)}`, { ...options, ...(o.signal ? { signal: o.signal } : {}) });
}

/** Deno's native TCP (Deno.connect). */
export function denoConnector(): Connector {
  return ({ host, port }, o = {}) => {
    o.signal?.throwIfAborted();
    return connectDeno(host, port);
  };
}

/** Bun's native TCP (Bun.connect). */
export function bunConnector(): Connector {
  return ({ host, port }, o = {}) => {
    o.signal?.throwIfAborted();
    return connectBun(host, port);
  };
}

/** Cloudflare Workers / workerd: pass `connect` from "cloudflare:sockets". */
export function cloudflareConnector(connect: (address: { hostname: string; port: number }) => CloudflareSocketLike): Connector {
  return async ({ host, port }, o = {}) => {
    o.signal?.throwIfAborted();
    return connectCloudflare(connect, host, port);
  };
}

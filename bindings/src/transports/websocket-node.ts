/**
 * connectWebSocket and connectWisp for Node: the global WebSocket where there is one
 * (Node >= 22), else the `ws` package (a dependency of this package), so
 * `connectWebSocket(url)` works in Node 20 without options.
 */
import { connectWebSocket as connectWith, type ConnectWebSocketOptions } from "./websocket.js";
import type { Transport } from "./types.js";
import { connectWisp as connectWispWith, type ConnectWispOptions, type WispClient } from "./wisp.js";

/** The `ws` package's WebSocket where the runtime has none; undefined where it has one. */
async function fallback(): Promise<ConnectWebSocketOptions["WebSocket"]> {
  if ((globalThis as { WebSocket?: unknown }).WebSocket) return undefined;
  const ws = await import("ws");
  return ws.WebSocket as unknown as ConnectWebSocketOptions["WebSocket"];
}

/** connectWebSocket (see the universal entry), with the `ws` package in Node 20. */
export async function connectWebSocket(url: string | URL, options: ConnectWebSocketOptions = {}): Promise<Transport> {
  const WebSocket = options.WebSocket ?? await fallback();
  return connectWith(url, WebSocket ? { ...options, WebSocket } : options);
}

/** connectWisp (see the universal entry), with the `ws` package in Node 20. */
export async function connectWisp(url: string | URL, options: ConnectWispOptions = {}): Promise<WispClient> {
  const WebSocket = options.WebSocket ?? await fallback();
  return connectWispWith(url, WebSocket ? { ...options, WebSocket } : options);
}

/**
 * connectWebSocket for Node: the global WebSocket where there is one
 * (Node >= 22), else the `ws` package (a dependency of this package), so
 * `connectWebSocket(url)` works in Node 20 without options.
 */
import { connectWebSocket as connectWith, type ConnectWebSocketOptions } from "./websocket.js";
import type { Transport } from "./types.js";

export async function connectWebSocket(url: string | URL, options: ConnectWebSocketOptions = {}): Promise<Transport> {
  if (options.WebSocket || (globalThis as { WebSocket?: unknown }).WebSocket) return connectWith(url, options);
  const ws = await import("ws");
  return connectWith(url, { ...options, WebSocket: ws.WebSocket as unknown as ConnectWebSocketOptions["WebSocket"] });
}

/**
 * A WebSocket (the standard API: browsers, workers, Deno, Bun, workerd; or
 * the `ws` package in Node) as a Transport: binary messages carry raw bytes,
 * as the openssl-wasm tunnel (and the "wsproxy" convention) speaks them.
 *
 * Endings: a close with code 1000 ends `readable` (the TCP peer sent FIN);
 * any other close errors it with WebSocketClosedError (reset, refusal,
 * timeout). Messages that arrived before the close are delivered first.
 */
import type { Transport } from "./types.js";

/** The subset of the WebSocket API used here. */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: string, listener: (event: never) => void): void;
  /** `ws` package only: flow control for incoming messages. */
  pause?(): void;
  resume?(): void;
}

/** The WebSocket closed other than normally (code 1000). */
export class WebSocketClosedError extends Error {
  override name = "WebSocketClosedError";
  constructor(readonly code: number, readonly reason: string) {
    super(`the WebSocket closed with code ${code}${reason ? `: ${reason}` : ""}`);
  }
}

const OPEN = 1;
/** Stop writing while this much is buffered in the WebSocket. */
const HIGH_WATER = 1 << 20;

function waitOpen(ws: WebSocketLike): Promise<void> {
  if (ws.readyState === OPEN) return Promise.resolve();
  return new Promise((resolve, reject) => {
    ws.addEventListener("open", () => resolve());
    ws.addEventListener("close", (e: { code: number; reason: string }) => reject(new WebSocketClosedError(e.code, e.reason)));
  });
}

/** Wraps an open (or opening) WebSocket. */
export async function fromWebSocket(ws: WebSocketLike): Promise<Transport> {
  ws.binaryType = "arraybuffer";
  // Listen before awaiting "open": nothing the peer sends right away is missed.
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let ended = false;
  const readable = new ReadableStream<Uint8Array>({
    start: (c) => {
      controller = c;
    },
    pull: () => {
      ws.resume?.();
    },
    cancel: () => {
      ended = true;
      ws.close(1000);
    },
  }, { highWaterMark: 8 });
  ws.addEventListener("message", (e: { data: unknown }) => {
    if (ended) return;
    const data = e.data;
    if (!(data instanceof ArrayBuffer)) {
      ended = true;
      controller.error(new TypeError("the WebSocket sent a text message: only binary messages carry TLS bytes"));
      ws.close(1003, "binary messages only");
      return;
    }
    controller.enqueue(new Uint8Array(data));
    if ((controller.desiredSize ?? 1) <= 0) ws.pause?.();
  });
  const closed = new Promise<WebSocketClosedError | null>((resolve) => {
    ws.addEventListener("close", (e: { code: number; reason: string }) => {
      const error = e.code === 1000 ? null : new WebSocketClosedError(e.code, e.reason);
      if (!ended) {
        ended = true;
        if (error) controller.error(error);
        else controller.close();
      }
      resolve(error);
    });
  });
  await waitOpen(ws);
  const writable = new WritableStream<Uint8Array>({
    async write(chunk) {
      if (ws.readyState !== OPEN) throw (await Promise.race([closed, Promise.resolve(null)])) ?? new Error("the WebSocket is closed");
      ws.send(chunk);
      // Backpressure: the API has no drain event, so wait while the buffer is high.
      while (ws.bufferedAmount > HIGH_WATER && ws.readyState === OPEN) {
        await new Promise((r) => setTimeout(r, 5));
      }
    },
    close() {
      ws.close(1000);
    },
    abort() {
      ws.close(4000, "aborted");
    },
  });
  return { readable, writable };
}

/**
 * Opens a WebSocket to `url` (the global WebSocket, or the one given, e.g.
 * the `ws` package's in Node 20) and wraps it.
 */
export async function connectWebSocket(
  url: string | URL,
  options: { WebSocket?: new (url: string, protocols?: string | string[]) => WebSocketLike; protocols?: string | string[] } = {},
): Promise<Transport> {
  const Ctor = options.WebSocket ?? (globalThis as { WebSocket?: new (url: string, protocols?: string | string[]) => WebSocketLike }).WebSocket;
  if (!Ctor) throw new TypeError("no WebSocket implementation: pass options.WebSocket (in Node 20, the `ws` package's)");
  return fromWebSocket(new Ctor(String(url), options.protocols));
}

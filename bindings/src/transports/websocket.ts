/**
 * A WebSocket (the standard API: browsers, workers, Deno, Bun, workerd; or
 * the `ws` package in Node) as a Transport: binary messages carry raw bytes,
 * as the openssl-wasm tunnel (and the "wsproxy" convention) speaks them.
 *
 * Endings: a close with code 1000 ends `readable` (the TCP peer sent FIN);
 * any other close errors it with WebSocketClosedError (reset, refusal,
 * timeout). Messages that arrived before the close are delivered first.
 *
 * Limits: a message larger than `maxMessageBytes`, or more than
 * `maxBufferedBytes` received and not yet read (browsers' WebSocket cannot
 * be paused, so a peer can send faster than TLS consumes), errors the
 * readable with WebSocketLimitError and closes the WebSocket (1009).
 */
import { ConnectTimeoutError } from "../errors.js";
import { iterable } from "./iterable.js";
import { connectTimeout, type Transport } from "./types.js";

/** The subset of the WebSocket API used here. */
export interface WebSocketLike {
  /** Set to "arraybuffer" by fromWebSocket. */
  binaryType: string;
  /** 0 connecting, 1 open, 2 closing, 3 closed. */
  readonly readyState: number;
  /** Bytes queued by send() and not yet sent. */
  readonly bufferedAmount: number;
  /** Sends one binary message. */
  send(data: Uint8Array): void;
  /** Starts the closing handshake. */
  close(code?: number, reason?: string): void;
  /** For "open", "message", "error" and "close". */
  addEventListener(type: string, listener: (event: never) => void): void;
  /** `ws` package only: stop reading incoming messages (flow control). */
  pause?(): void;
  /** `ws` package only: read incoming messages again. */
  resume?(): void;
}

/** Options of fromWebSocket(): limits on what the peer may send, and the opening's signal and timeout. */
export interface WebSocketTransportOptions {
  /** Largest message accepted, in bytes (default 1 MiB; the tunnel sends at most 64 KiB). */
  maxMessageBytes?: number;
  /** Most bytes received and not yet read (default 64 MiB). */
  maxBufferedBytes?: number;
  /** Aborting it while the WebSocket opens closes it and rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Milliseconds the opening may take (default 30000; 0: no limit): then ConnectTimeoutError. */
  timeout?: number;
}

/** The peer broke a limit of WebSocketTransportOptions; the WebSocket was closed with 1009. */
export class WebSocketLimitError extends Error {
  /** Always "WebSocketLimitError". */
  override name = "WebSocketLimitError";
  /**
   * @param limit Which limit was broken.
   * @param bytes How many bytes the peer's message or backlog had.
   * @param max The limit.
   */
  constructor(readonly limit: "maxMessageBytes" | "maxBufferedBytes", readonly bytes: number, readonly max: number) {
    super(limit === "maxMessageBytes"
      ? `the WebSocket peer sent a ${bytes}-byte message; maxMessageBytes is ${max}`
      : `the WebSocket peer sent ${bytes} bytes that were not read yet; maxBufferedBytes is ${max}`);
  }
}

/** The WebSocket closed other than normally (code 1000). */
export class WebSocketClosedError extends Error {
  /** Always "WebSocketClosedError". */
  override name = "WebSocketClosedError";
  /**
   * @param code The close code (1006: closed without a close frame).
   * @param reason The close reason the peer gave, if any.
   */
  constructor(readonly code: number, readonly reason: string, options?: ErrorOptions) {
    super(`the WebSocket closed with code ${code}${reason ? `: ${reason}` : ""}`, options);
  }
}

const OPEN = 1;
/** Stop writing while this much is buffered in the WebSocket. */
const HIGH_WATER = 1 << 20;
/** Pause a pausable WebSocket (the `ws` package) while this much received data is unread. */
const READ_HIGH_WATER = 1 << 20;
const DEFAULT_MAX_MESSAGE = 1 << 20;
const DEFAULT_MAX_BUFFERED = 64 << 20;

/** Checks a positive integer option (a byte limit), or gives its default. */
export function limit(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (Number.isSafeInteger(value) && value > 0) return value;
  throw new RangeError(`${name} must be a positive integer, got ${String(value)}`);
}

/**
 * Resolves once the WebSocket is open (also used by the Wisp client). Rejects with the close, the signal's
 * reason, or a ConnectTimeoutError after `timeoutMs` (0: none); on abort or
 * timeout the WebSocket is closed.
 */
export function waitOpen(
  ws: WebSocketLike, closedError: (e: { code: number; reason: string }) => WebSocketClosedError,
  signal: AbortSignal | undefined, timeoutMs: number,
): Promise<void> {
  if (ws.readyState === OPEN) return Promise.resolve();
  return new Promise((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const settle = (error?: unknown) => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      if (error === undefined) return resolve();
      reject(error);
    };
    const giveUp = (error: unknown) => {
      settle(error);
      ws.close(1000);
    };
    const onAbort = () => giveUp(signal!.reason);
    if (signal?.aborted) return giveUp(signal.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    if (timeoutMs > 0) timer = setTimeout(() => giveUp(new ConnectTimeoutError(timeoutMs)), timeoutMs);
    ws.addEventListener("open", () => settle());
    ws.addEventListener("close", (e: { code: number; reason: string }) => settle(closedError(e)));
  });
}

/** Wraps an open (or opening) WebSocket; resolves once it is open. */
export async function fromWebSocket(ws: WebSocketLike, options: WebSocketTransportOptions = {}): Promise<Transport> {
  const timeoutMs = connectTimeout(options.timeout);
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) throw new TypeError("signal must be an AbortSignal");
  const limits = {
    maxMessage: limit("maxMessageBytes", options.maxMessageBytes, DEFAULT_MAX_MESSAGE),
    maxBuffered: limit("maxBufferedBytes", options.maxBufferedBytes, DEFAULT_MAX_BUFFERED),
  };
  ws.binaryType = "arraybuffer";
  // Listen before awaiting "open": nothing the peer sends right away is missed.
  const incoming = receiving(ws, limits);
  await waitOpen(ws, incoming.closedError, options.signal, timeoutMs);
  return { readable: iterable(incoming.readable), writable: sending(ws, incoming.closed) };
}

/**
 * The WebSocket's messages as a readable (binary only, within the limits),
 * and how it closed: null for 1000, else the WebSocketClosedError.
 */
function receiving(ws: WebSocketLike, limits: { maxMessage: number; maxBuffered: number }) {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let ended = false;
  // An "error" event always precedes an abnormal close; listening to it also
  // keeps the `ws` package from throwing it as an uncaught exception. Its
  // detail (the `ws` package gives one; browsers do not) becomes the cause.
  let lastError: unknown;
  ws.addEventListener("error", (e: { error?: unknown; message?: string }) => {
    lastError = e.error ?? (e.message ? new Error(e.message) : undefined);
  });
  const closedError = (e: { code: number; reason: string }) =>
    new WebSocketClosedError(e.code, e.reason, lastError === undefined ? undefined : { cause: lastError });
  const refuse = (error: Error, code: number, reason: string) => {
    ended = true;
    controller.error(error);
    ws.close(code, reason);
  };
  const readable = new ReadableStream<Uint8Array>({
    start: (c) => void (controller = c),
    pull: () => ws.resume?.(),
    cancel: () => {
      ended = true;
      ws.close(1000);
    },
  }, { highWaterMark: READ_HIGH_WATER, size: (chunk) => chunk.byteLength });
  ws.addEventListener("message", (e: { data: unknown }) => {
    if (ended) return;
    const data = e.data;
    if (!(data instanceof ArrayBuffer)) {
      return refuse(new TypeError("the WebSocket sent a text message: only binary messages carry TLS bytes"), 1003, "binary messages only");
    }
    if (data.byteLength > limits.maxMessage) {
      return refuse(new WebSocketLimitError("maxMessageBytes", data.byteLength, limits.maxMessage), 1009, "message too big");
    }
    const unread = READ_HIGH_WATER - (controller.desiredSize ?? 0) + data.byteLength;
    if (unread > limits.maxBuffered) {
      return refuse(new WebSocketLimitError("maxBufferedBytes", unread, limits.maxBuffered), 1009, "too much unread data");
    }
    controller.enqueue(new Uint8Array(data));
    if ((controller.desiredSize ?? 1) <= 0) ws.pause?.();
  });
  const closed = new Promise<WebSocketClosedError | null>((resolve) => {
    ws.addEventListener("close", (e: { code: number; reason: string }) => {
      const error = e.code === 1000 ? null : closedError(e);
      if (!ended) {
        ended = true;
        if (error) controller.error(error);
        else controller.close();
      }
      resolve(error);
    });
  });
  return { readable, closed, closedError };
}

/** A writable that sends binary messages, waiting while the WebSocket's buffer is high. */
function sending(ws: WebSocketLike, closed: Promise<WebSocketClosedError | null>): WritableStream<Uint8Array> {
  return new WritableStream<Uint8Array>({
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
}

/** A WebSocket constructor: the standard one, or the `ws` package's (which takes a third options argument). */
export type WebSocketConstructor = new (url: string, protocols?: string | string[], options?: { maxPayload?: number }) => WebSocketLike;

/** Options of connectWebSocket(): the transport's limits and timeout, the class to use, subprotocols. */
export interface ConnectWebSocketOptions extends WebSocketTransportOptions {
  /**
   * The WebSocket class to use. Default: the global WebSocket (browsers,
   * workers, Deno, Bun, workerd, Node >= 22); in Node without one, the `ws`
   * package. A given constructor also gets `{ maxPayload: maxMessageBytes }`,
   * so the `ws` package refuses an oversized message before buffering it (close 1009).
   */
  WebSocket?: WebSocketConstructor;
  /** WebSocket subprotocols to offer. */
  protocols?: string | string[];
}

/** Opens a WebSocket to `url` and wraps it; resolves once it is open. */
export async function connectWebSocket(url: string | URL, options: ConnectWebSocketOptions = {}): Promise<Transport> {
  const { WebSocket: given, protocols, ...rest } = options;
  const Ctor = given ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (!Ctor) throw new TypeError("no WebSocket implementation: pass options.WebSocket (this runtime has no global WebSocket)");
  const maxPayload = limit("maxMessageBytes", rest.maxMessageBytes, DEFAULT_MAX_MESSAGE);
  connectTimeout(rest.timeout); // checked before anything opens
  rest.signal?.throwIfAborted();
  const ws = given ? new Ctor(String(url), protocols, { maxPayload }) : new Ctor(String(url), protocols);
  return fromWebSocket(ws, rest);
}

/**
 * A Wisp v1 client: many TCP streams over one WebSocket, each a Transport
 * (so a TlsSocket runs over it as over any other). Written from the Wisp
 * protocol specification (MercuryWorkshop/wisp-protocol, CC-BY-4.0).
 *
 * Packets are binary WebSocket messages: `u8 type | u32 stream id | payload`,
 * little-endian. CONNECT (0x01) opens a stream, DATA (0x02) carries bytes,
 * CONTINUE (0x03) gives the client its per-stream credit in packets, CLOSE
 * (0x04) ends a stream with a reason. Right after the WebSocket opens the
 * server sends CONTINUE on stream 0 with the initial credit of every stream.
 *
 * Endings. Wisp has no half-close: a CLOSE ends a stream both ways.
 * - The server's CLOSE 0x02 (voluntary: the destination closed its TCP
 *   connection) ends `readable` after the data that came before it; any
 *   other reason errors it with WispStreamClosedError naming the reason.
 *   Writes after either reject with WispStreamClosedError.
 * - Closing `writable` sends CLOSE 0x02: the stream is over both ways
 *   (`readable` ends too; data the server sends afterwards is dropped).
 *   Aborting `writable` or cancelling `readable` also sends CLOSE 0x02.
 * - Bad input from the server (an unknown packet type, a truncated packet,
 *   DATA or CONTINUE for a stream that was never opened, anything before the
 *   handshake's CONTINUE) is a WispProtocolError: the WebSocket is closed
 *   (1002) and every stream errors with it. So does the WebSocket closing
 *   (WebSocketClosedError) and WispClient.close() (WispClosedError).
 *
 * Flow control. Upload: each DATA packet spends one credit of its stream;
 * at zero, writes wait for the server's CONTINUE; writes also wait while
 * the WebSocket's own buffer is high. Download: Wisp v1 has no credit from
 * the client to the server, and pausing the WebSocket would stall every
 * stream, so each stream buffers what its reader has not read yet, up to
 * `maxBufferedBytes`: beyond it, that stream errors with
 * WebSocketLimitError and is closed with reason 0x81.
 */
import { ConnectTimeoutError } from "../errors.js";
import type { Connector, Destination } from "./connector.js";
import { iterable } from "./iterable.js";
import { connectTimeout, toBytes, type Transport } from "./types.js";
import {
  WebSocketClosedError, WebSocketLimitError, limit, waitOpen, type WebSocketConstructor, type WebSocketLike,
} from "./websocket.js";

/** Wisp CLOSE reasons (protocol.md, "Close Reasons"), by code. */
export const WISP_CLOSE_REASONS: Readonly<Record<number, string>> = Object.freeze({
  0x01: "unknown",
  0x02: "voluntary",
  0x03: "network error",
  0x04: "incompatible extensions",
  0x41: "invalid destination",
  0x42: "unreachable host",
  0x43: "connection timed out",
  0x44: "connection refused",
  0x47: "transfer timed out",
  0x48: "destination blocked",
  0x49: "throttled",
  0x81: "client error",
});

/** The name of a Wisp CLOSE reason ("connection refused"), or "reason 0x.." for an unlisted code. */
export function wispCloseReasonName(code: number): string {
  return WISP_CLOSE_REASONS[code] ?? `reason 0x${code.toString(16).padStart(2, "0")}`;
}

/**
 * A Wisp stream was closed by the server (a CLOSE packet whose reason is
 * not 0x02, voluntary, or any CLOSE for a write that came after it), or the
 * server closed the whole connection (a CLOSE on stream 0).
 */
export class WispStreamClosedError extends Error {
  /** Always "WispStreamClosedError". */
  override name = "WispStreamClosedError";
  /** The reason's name, as WISP_CLOSE_REASONS gives it. */
  readonly reasonName: string;
  /**
   * @param reason The CLOSE packet's reason code (0x44: refused, ...).
   * @param streamId The stream it closed (0: the whole connection).
   * @param writing True when a write found the stream closed.
   */
  constructor(readonly reason: number, readonly streamId: number, writing = false) {
    const name = wispCloseReasonName(reason);
    super(streamId === 0
      ? `the Wisp server closed the connection (reason 0x${hex(reason)}: ${name})`
      : `the Wisp server closed the stream (reason 0x${hex(reason)}: ${name})${writing ? ": cannot send" : ""}`);
    this.reasonName = name;
  }
}

/**
 * The Wisp server broke the protocol: the connection was closed (WebSocket
 * code 1002) and every stream errors with this.
 */
export class WispProtocolError extends Error {
  /** Always "WispProtocolError". */
  override name = "WispProtocolError";
  /**
   * @param message What was wrong.
   * @param packetType The offending packet's type byte, if it had one.
   * @param streamId The offending packet's stream id, if it had one.
   */
  constructor(message: string, readonly packetType?: number, readonly streamId?: number) {
    super(message);
  }
}

/** The WispClient was closed (WispClient.close()): its streams and new connects fail with this. */
export class WispClosedError extends Error {
  /** Always "WispClosedError". */
  override name = "WispClosedError";
  constructor(options?: ErrorOptions) {
    super("the Wisp client is closed", options);
  }
}

/** Options of connectWisp(). */
export interface ConnectWispOptions {
  /**
   * The WebSocket class to use. Default: the global WebSocket; in Node
   * without one (Node 20), the package's Node entry uses the `ws` package.
   */
  WebSocket?: WebSocketConstructor;
  /** Aborting it while the WebSocket opens or the handshake runs closes it and rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Milliseconds the opening and the handshake may take (default 30000; 0: no limit): then ConnectTimeoutError. */
  timeout?: number;
  /** Largest WebSocket message (one packet) accepted, in bytes (default 1 MiB): beyond it the connection fails (1009). */
  maxMessageBytes?: number;
  /** Most bytes received on one stream and not yet read (default 64 MiB): beyond it, that stream fails (CLOSE 0x81). */
  maxBufferedBytes?: number;
}

const OPEN = 1;
const CONNECT = 0x01, DATA = 0x02, CONTINUE = 0x03, CLOSE = 0x04, INFO = 0x05;
const TYPE_NAMES: Record<number, string> = { 1: "CONNECT", 2: "DATA", 3: "CONTINUE", 4: "CLOSE", 5: "INFO" };
const VOLUNTARY = 0x02;
const CLIENT_ERROR = 0x81;
const TCP = 0x01;
const HEADER = 5;
/** Largest DATA payload sent: a bigger write is split (each packet costs one credit). */
const MAX_DATA = 64 * 1024;
/** Stop writing while this much is buffered in the WebSocket. */
const HIGH_WATER = 1 << 20;
/** Unread bytes a stream's readable holds before it counts as full (for maxBufferedBytes). */
const READ_HIGH_WATER = 1 << 20;
const DEFAULT_MAX_MESSAGE = 1 << 20;
const DEFAULT_MAX_BUFFERED = 64 << 20;
/**
 * Ids of streams this side closed, kept so the packets the server sent
 * before it saw our CLOSE (and its answering CLOSE) are dropped rather than
 * called a protocol error. Bounded: the oldest are forgotten first.
 */
const RECENTLY_CLOSED = 4096;

function hex(n: number): string {
  return n.toString(16).padStart(2, "0");
}

function packet(type: number, id: number, payloadLength: number): { bytes: Uint8Array; view: DataView } {
  const bytes = new Uint8Array(HEADER + payloadLength);
  const view = new DataView(bytes.buffer);
  view.setUint8(0, type);
  view.setUint32(1, id, true);
  return { bytes, view };
}

/** One stream's state. */
interface Stream {
  readonly id: number;
  credit: number;
  /** Wakes a write waiting for credit (a CONTINUE, or the stream's end). */
  wake: (() => void) | null;
  controller: ReadableStreamDefaultController<Uint8Array>;
  /** Why writes fail from now on; set once the stream is over. */
  ended: Error | null;
}

/**
 * One Wisp v1 connection (one WebSocket); `connect()` opens streams over it.
 * Made by connectWisp().
 */
export class WispClient {
  readonly #ws: WebSocketLike;
  readonly #maxMessage: number;
  readonly #maxBuffered: number;
  readonly #streams = new Map<number, Stream>();
  readonly #recentlyClosed = new Set<number>();
  #initialCredit = -1;
  #failure: Error | null = null;
  #handshake!: { resolve: () => void; reject: (e: Error) => void };
  readonly #handshaken: Promise<void>;
  #resolveClosed!: (reason: Error | null) => void;
  #lastError: unknown;

  /**
   * Settles once the connection is over (never rejects): null after close(),
   * else what ended it (WebSocketClosedError, WispProtocolError, ...).
   */
  readonly closed: Promise<Error | null>;

  /** @internal Use connectWisp(). */
  constructor(ws: WebSocketLike, limits: { maxMessage: number; maxBuffered: number }) {
    this.#ws = ws;
    this.#maxMessage = limits.maxMessage;
    this.#maxBuffered = limits.maxBuffered;
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    this.#handshaken = new Promise((resolve, reject) => (this.#handshake = { resolve, reject }));
    this.#handshaken.catch(() => {});
    ws.binaryType = "arraybuffer";
    ws.addEventListener("error", (e: { error?: unknown; message?: string }) => {
      this.#lastError = e.error ?? (e.message ? new Error(e.message) : undefined);
    });
    ws.addEventListener("message", (e: { data: unknown }) => this.#onMessage(e.data));
    ws.addEventListener("close", (e: { code: number; reason: string }) => {
      this.#fail(this.#closedError(e), false);
    });
  }

  /** Streams open now. */
  get streamCount(): number {
    return this.#streams.size;
  }

  /** The credit (in DATA packets) every new stream starts with, from the server's handshake. */
  get initialCredit(): number {
    return this.#initialCredit;
  }

  #closedError(e: { code: number; reason: string }): WebSocketClosedError {
    return new WebSocketClosedError(e.code, e.reason, this.#lastError === undefined ? undefined : { cause: this.#lastError });
  }

  /** @internal Resolves once the server's CONTINUE on stream 0 arrived. */
  handshake(): Promise<void> {
    return this.#handshaken;
  }

  /**
   * Opens a TCP stream to `destination`. Resolves at once (Wisp lets data
   * flow before the server answers): a refusal arrives as a CLOSE, which
   * errors the transport's readable with WispStreamClosedError (reason
   * 0x03 network error, 0x42 unreachable, 0x44 refused, 0x48 blocked, ...).
   */
  async connect(destination: Destination, options: { signal?: AbortSignal } = {}): Promise<Transport> {
    options.signal?.throwIfAborted();
    const { host, port } = destination ?? ({} as Destination);
    if (typeof host !== "string" || host.length === 0) throw new TypeError("destination.host must be a non-empty string");
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`destination.port must be 1..65535, got ${String(port)}`);
    if (this.#failure) throw this.#failure;
    const id = this.#newId();
    const name = new TextEncoder().encode(host);
    const { bytes, view } = packet(CONNECT, id, 3 + name.length);
    view.setUint8(HEADER, TCP);
    view.setUint16(HEADER + 1, port, true);
    bytes.set(name, HEADER + 3);
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    const readable = new ReadableStream<Uint8Array>({
      start: (c) => void (controller = c),
      cancel: () => this.#closeLocally(stream, VOLUNTARY),
    }, { highWaterMark: READ_HIGH_WATER, size: (chunk) => chunk.byteLength });
    const stream: Stream = { id, credit: this.#initialCredit, wake: null, controller, ended: null };
    this.#streams.set(id, stream);
    this.#ws.send(bytes);
    const writable = new WritableStream<Uint8Array>({
      write: (chunk) => this.#write(stream, toBytes(chunk)),
      close: () => {
        if (stream.ended && !(stream.ended instanceof WispStreamClosedError && stream.ended.reason === VOLUNTARY)) throw stream.ended;
        this.#closeLocally(stream, VOLUNTARY);
      },
      abort: (reason) => this.#closeLocally(stream, VOLUNTARY, reason instanceof Error ? reason : new Error(String(reason ?? "aborted"))),
    });
    return { readable: iterable(readable), writable };
  }

  /**
   * Closes the connection: CLOSE 0x02 for every open stream (they error
   * with WispClosedError), then the WebSocket (1000).
   */
  close(): void {
    if (this.#failure) return;
    for (const stream of [...this.#streams.values()]) this.#sendClose(stream.id, VOLUNTARY);
    this.#fail(new WispClosedError(), true);
  }

  #newId(): number {
    const random = new Uint32Array(1);
    for (;;) {
      globalThis.crypto.getRandomValues(random);
      const id = random[0]!;
      if (id !== 0 && !this.#streams.has(id) && !this.#recentlyClosed.has(id)) return id;
    }
  }

  async #write(stream: Stream, bytes: Uint8Array): Promise<void> {
    for (let at = 0; at < bytes.length; at += MAX_DATA) {
      while (stream.credit <= 0 && !stream.ended) await new Promise<void>((resolve) => (stream.wake = resolve));
      if (stream.ended) throw stream.ended;
      if (this.#ws.readyState !== OPEN) throw this.#failure ?? new Error("the Wisp connection's WebSocket is closing");
      const piece = bytes.subarray(at, Math.min(bytes.length, at + MAX_DATA));
      const { bytes: out } = packet(DATA, stream.id, piece.length);
      out.set(piece, HEADER);
      this.#ws.send(out);
      stream.credit--;
      // The WebSocket API has no drain event: wait while its buffer is high.
      while (this.#ws.bufferedAmount > HIGH_WATER && this.#ws.readyState === OPEN) {
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    if (stream.ended) throw stream.ended;
  }

  #sendClose(id: number, reason: number): void {
    if (this.#ws.readyState !== OPEN) return;
    const { bytes, view } = packet(CLOSE, id, 1);
    view.setUint8(HEADER, reason);
    this.#ws.send(bytes);
  }

  /**
   * This side ends a stream (writable closed or aborted, readable
   * cancelled, a limit): CLOSE to the server, and the stream is over here.
   */
  #closeLocally(stream: Stream, reason: number, error?: Error): void {
    if (stream.ended) return;
    this.#sendClose(stream.id, reason);
    this.#recentlyClosed.add(stream.id);
    if (this.#recentlyClosed.size > RECENTLY_CLOSED) this.#recentlyClosed.delete(this.#recentlyClosed.values().next().value!);
    this.#end(stream, error ?? new WispStreamClosedError(VOLUNTARY, stream.id, true), error);
  }

  /** The stream is over: writes fail with `writeError`; the readable ends (or errors with `readError`). */
  #end(stream: Stream, writeError: Error, readError?: Error): void {
    if (stream.ended) return;
    stream.ended = writeError;
    this.#streams.delete(stream.id);
    stream.wake?.();
    stream.wake = null;
    try {
      if (readError) stream.controller.error(readError);
      else stream.controller.close();
    } catch {
      // already closed or errored (cancelled by its reader)
    }
  }

  /** The whole connection is over: every stream errors with `error`. */
  #fail(error: Error, closeWebSocket: boolean, code = 1000, reason = ""): void {
    if (this.#failure) return;
    this.#failure = error;
    this.#handshake.reject(error);
    for (const stream of [...this.#streams.values()]) this.#end(stream, error, error);
    this.#recentlyClosed.clear();
    if (closeWebSocket) this.#ws.close(code, reason);
    this.#resolveClosed(error instanceof WispClosedError ? null : error);
  }

  #protocolError(message: string, type?: number, id?: number): void {
    const error = new WispProtocolError(message, type, id);
    this.#fail(error, true, 1002, "Wisp protocol error");
  }

  #onMessage(data: unknown): void {
    if (this.#failure) return;
    if (!(data instanceof ArrayBuffer)) return this.#protocolError("the Wisp server sent a text message: packets are binary");
    if (data.byteLength > this.#maxMessage) {
      return this.#fail(new WebSocketLimitError("maxMessageBytes", data.byteLength, this.#maxMessage), true, 1009, "message too big");
    }
    if (data.byteLength < HEADER) return this.#protocolError(`truncated Wisp packet: ${data.byteLength} bytes, shorter than its 5-byte header`);
    const view = new DataView(data);
    const type = view.getUint8(0);
    const id = view.getUint32(1, true);
    const payload = data.byteLength - HEADER;
    const typeName = TYPE_NAMES[type] ?? `type 0x${hex(type)}`;
    if (this.#initialCredit < 0) {
      // The handshake: the first packet must be CONTINUE on stream 0.
      if (type !== CONTINUE || id !== 0) {
        return this.#protocolError(`expected the handshake's CONTINUE on stream 0, got ${typeName} on stream ${id}` +
          (type === INFO ? " (Wisp v2: this client speaks v1)" : ""), type, id);
      }
      if (payload !== 4) return this.#protocolError(`malformed CONTINUE: a ${payload}-byte payload, not 4`, type, id);
      this.#initialCredit = view.getUint32(HEADER, true);
      return this.#handshake.resolve();
    }
    if (type === DATA || type === CONTINUE || type === CLOSE) {
      if (type === CONTINUE && payload !== 4) return this.#protocolError(`malformed CONTINUE: a ${payload}-byte payload, not 4`, type, id);
      if (type === CLOSE && payload !== 1) return this.#protocolError(`malformed CLOSE: a ${payload}-byte payload, not 1`, type, id);
      if (id === 0) {
        if (type === CLOSE) return this.#fail(new WispStreamClosedError(view.getUint8(HEADER), 0), true);
        return this.#protocolError(`${typeName} on stream 0, which only the handshake uses`, type, id);
      }
      const stream = this.#streams.get(id);
      if (!stream) {
        // Sent before the server saw our CLOSE (or its answer to it): dropped.
        // A CLOSE for a stream that is not open does no harm (two CLOSEs
        // crossing, a server that answers one twice): ignored too.
        if (type === CLOSE) return void this.#recentlyClosed.delete(id);
        if (this.#recentlyClosed.has(id)) return;
        return this.#protocolError(`${typeName} for stream ${id}, which this client never opened`, type, id);
      }
      if (type === DATA) return this.#onData(stream, new Uint8Array(data, HEADER));
      if (type === CONTINUE) {
        stream.credit = view.getUint32(HEADER, true);
        stream.wake?.();
        stream.wake = null;
        return;
      }
      const reason = view.getUint8(HEADER);
      const error = new WispStreamClosedError(reason, id, true);
      return this.#end(stream, error, reason === VOLUNTARY ? undefined : new WispStreamClosedError(reason, id));
    }
    if (type === CONNECT) return this.#protocolError("the Wisp server sent a CONNECT packet (only clients open streams)", type, id);
    if (type === INFO) return this.#protocolError("the Wisp server sent an INFO packet (Wisp v2: this client speaks v1)", type, id);
    return this.#protocolError(`unknown Wisp packet type 0x${hex(type)}`, type, id);
  }

  #onData(stream: Stream, bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    const unread = READ_HIGH_WATER - (stream.controller.desiredSize ?? 0) + bytes.length;
    if (unread > this.#maxBuffered) {
      return this.#closeLocally(stream, CLIENT_ERROR, new WebSocketLimitError("maxBufferedBytes", unread, this.#maxBuffered));
    }
    stream.controller.enqueue(bytes);
  }
}

/**
 * Opens a Wisp v1 connection: the WebSocket to `url` (a Wisp endpoint ends
 * with "/"), then the server's CONTINUE on stream 0. No subprotocol is
 * offered, so servers that also speak Wisp v2 speak v1.
 */
export async function connectWisp(url: string | URL, options: ConnectWispOptions = {}): Promise<WispClient> {
  const { WebSocket: given, signal } = options;
  const Ctor = given ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (!Ctor) throw new TypeError("no WebSocket implementation: pass options.WebSocket (this runtime has no global WebSocket)");
  const timeoutMs = connectTimeout(options.timeout);
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new TypeError("signal must be an AbortSignal");
  const limits = {
    maxMessage: limit("maxMessageBytes", options.maxMessageBytes, DEFAULT_MAX_MESSAGE),
    maxBuffered: limit("maxBufferedBytes", options.maxBufferedBytes, DEFAULT_MAX_BUFFERED),
  };
  signal?.throwIfAborted();
  const ws = given ? new Ctor(String(url), undefined, { maxPayload: limits.maxMessage }) : new Ctor(String(url));
  const client = new WispClient(ws, limits);
  const started = Date.now();
  try {
    await waitOpen(ws, (e) => new WebSocketClosedError(e.code, e.reason), signal, timeoutMs);
    // The handshake, within what is left of the timeout.
    await new Promise<void>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const settle = (error?: unknown) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        if (error === undefined) resolve();
        else reject(error);
      };
      const onAbort = () => settle(signal!.reason);
      if (signal?.aborted) return onAbort();
      signal?.addEventListener("abort", onAbort, { once: true });
      if (timeoutMs > 0) timer = setTimeout(() => settle(new ConnectTimeoutError(timeoutMs)), Math.max(timeoutMs - (Date.now() - started), 0));
      client.handshake().then(() => settle(), settle);
    });
  } catch (e) {
    client.close();
    throw e;
  }
  return client;
}

/** A Connector that opens each connection as a stream of `client`. */
export function wispConnector(client: WispClient): Connector {
  return (destination, options = {}) => client.connect(destination, options);
}

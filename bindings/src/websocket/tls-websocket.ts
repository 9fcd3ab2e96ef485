/**
 * TlsWebSocket: the browser's WebSocket interface over a Connector, so code
 * written for WebSocket reaches a ws:// or wss:// server wherever the
 * package can open a transport (the tunnel, Deno, Bun, workerd, Node's TCP).
 * wss:// runs TlsSocket (OpenSSL in wasm, ALPN http/1.1) over the transport;
 * ws:// uses the transport as it is. RFC 6455 client framing (frames.ts) and
 * opening handshake (handshake.ts). No extension is offered (no
 * permessage-deflate yet), so `extensions` is always "".
 */
import type { Connector } from "../transports/connector.js";
import { bunConnector, denoConnector } from "../transports/connector.js";
import type { Transport } from "../transports/types.js";
import { TlsSocket, type TlsSocketOptions } from "../tls-socket.js";
import { ConnectTimeoutError } from "../errors.js";
import { WebSocketHandshakeError, WebSocketProtocolError } from "./errors.js";
import { FrameDecoder, MAX_CLOSE_REASON, MAX_CONTROL_PAYLOAD, OPCODE, closePayload, encodeFrame, type Incoming } from "./frames.js";
import { MAX_RESPONSE_HEAD, TOKEN, checkHeaders, checkUpgradeResponse, headEnd, newKey, parseResponseHead, upgradeRequest } from "./handshake.js";

/** Options of TlsWebSocket: where and how to connect, TLS options for wss://, limits. */
export interface TlsWebSocketOptions extends Omit<TlsSocketOptions, "signal" | "alpnProtocols" | "allowHalfOpen" | "keepSession"> {
  /**
   * Opens the transport to the URL's host and port: tunnelConnector(url),
   * tcpConnector() (openssl-tls-wasm/node), denoConnector(), bunConnector(),
   * cloudflareConnector(connect). Required, except in Deno and Bun, where
   * their native TCP is the default.
   */
  connector?: Connector;
  /**
   * Largest message accepted from the server, in bytes, fragments counted
   * together (default 64 MiB). A frame that would exceed it is refused from
   * its header, before its payload is buffered: the connection fails with
   * close code 1009 and WebSocketProtocolError.
   */
  maxMessageBytes?: number;
  /**
   * Milliseconds the opening may take: the connector, the TLS handshake and
   * the Upgrade (default 30000; 0: no limit). Beyond it the connection fails
   * with ConnectTimeoutError (an `error` event, then `close` 1006).
   */
  timeout?: number;
  /**
   * Milliseconds close() waits for the server's close frame (default 5000;
   * 0: no limit). Beyond it the connection is dropped: `close` with 1006,
   * wasClean false.
   */
  closeTimeout?: number;
  /** Aborting it fails the connection: an `error` event with the reason, then `close` 1006. */
  signal?: AbortSignal;
  /**
   * Extra headers for the Upgrade request, such as `Origin` (which a
   * browser's WebSocket sends and some servers require), `Authorization` or
   * `Cookie`. The handshake's own (Host, Upgrade, Connection,
   * Sec-WebSocket-*) cannot be set: TypeError.
   */
  headers?: Record<string, string>;
}

/** The `close` event: the code and reason of the close handshake (1005 without a code, 1006 without a handshake). */
export class WebSocketCloseEvent extends Event {
  /** The close code the server sent (or, after a failure, the one sent to it; 1006: the connection dropped). */
  readonly code: number;
  /** The close reason. */
  readonly reason: string;
  /** True when close frames went both ways. */
  readonly wasClean: boolean;
  /** @param init The code, the reason and whether the close was clean. */
  constructor(type: string, init: { code?: number; reason?: string; wasClean?: boolean } = {}) {
    super(type);
    this.code = init.code ?? 0;
    this.reason = init.reason ?? "";
    this.wasClean = init.wasClean ?? false;
  }
}

/** The `error` event. Unlike the browser's plain Event it says what failed: `error`. */
export class WebSocketErrorEvent extends Event {
  /**
   * What failed: WebSocketProtocolError (the server broke RFC 6455 or a
   * limit), WebSocketHandshakeError, a TLS error (TlsHandshakeError,
   * CertificateVerificationError, ...), ConnectTimeoutError, the connector's
   * error, or the signal's reason.
   */
  readonly error: Error;
  /** The error's message. */
  readonly message: string;
  /** @param error What failed. */
  constructor(type: string, error: Error) {
    super(type);
    this.error = error;
    this.message = error.message;
  }
}

/** The standard MessageEvent where the runtime has one (every one the package supports), else an equivalent. */
const MessageEventImpl: typeof MessageEvent = (globalThis as { MessageEvent?: typeof MessageEvent }).MessageEvent
  ?? (class extends Event {
    readonly data: unknown;
    readonly origin: string;
    readonly lastEventId = "";
    readonly source = null;
    readonly ports: readonly MessagePort[] = [];
    constructor(type: string, init: { data?: unknown; origin?: string } = {}) {
      super(type);
      this.data = init.data;
      this.origin = init.origin ?? "";
    }
  } as unknown as typeof MessageEvent);

const DEFAULT_MAX_MESSAGE = 64 * 1024 * 1024;
const DEFAULT_TIMEOUT = 30_000;
const DEFAULT_CLOSE_TIMEOUT = 5_000;
const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;
type ReadyState = typeof CONNECTING | typeof OPEN | typeof CLOSING | typeof CLOSED;
const encoder = new TextEncoder();

type Handler = ((this: WebSocket, ev: Event) => unknown) | null;

function milliseconds(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (Number.isSafeInteger(value) && value >= 0) return value;
  throw new RangeError(`${name} must be a non-negative integer number of milliseconds (0: none), got ${String(value)}`);
}

function asError(reason: unknown): Error {
  return reason instanceof Error ? reason : new Error(String(reason));
}

/** The runtime's own TCP as the default connector, where the universal entry can reach it (Deno, Bun). */
function defaultConnector(): Connector | undefined {
  const g = globalThis as { Deno?: unknown; Bun?: unknown };
  if (g.Deno) return denoConnector();
  if (g.Bun) return bunConnector();
  return undefined;
}

/** The URL as the WebSocket standard parses it: ws: or wss: (http: and https: mapped to them), no fragment. */
function parseUrl(url: string | URL): URL {
  let parsed: URL;
  try {
    parsed = new URL(String(url));
  } catch {
    throw new DOMException(`invalid WebSocket URL: ${String(url)}`, "SyntaxError");
  }
  if (parsed.protocol === "http:") parsed.protocol = "ws:";
  else if (parsed.protocol === "https:") parsed.protocol = "wss:";
  if (parsed.protocol !== "ws:" && parsed.protocol !== "wss:") {
    throw new DOMException(`a WebSocket URL must be ws: or wss:, got ${parsed.protocol}`, "SyntaxError");
  }
  if (parsed.hash !== "" || String(url).includes("#")) throw new DOMException("a WebSocket URL cannot have a fragment", "SyntaxError");
  return parsed;
}

function parseProtocols(protocols: string | string[] | undefined): string[] {
  const list = protocols === undefined ? [] : typeof protocols === "string" ? [protocols] : [...protocols];
  const seen = new Set<string>();
  for (const p of list) {
    if (typeof p !== "string" || !TOKEN.test(p)) throw new DOMException(`invalid WebSocket subprotocol: ${JSON.stringify(p)}`, "SyntaxError");
    if (seen.has(p)) throw new DOMException(`duplicate WebSocket subprotocol: ${p}`, "SyntaxError");
    seen.add(p);
  }
  return list;
}

/**
 * A WebSocket client with the browser's interface (events `open`,
 * `message`, `error`, `close` and their `on...` properties, `readyState`,
 * `binaryType`, `bufferedAmount`, `protocol`, `extensions`, `url`,
 * `send()`, `close(code, reason)`), over any Connector: wss:// through
 * OpenSSL in wasm, ws:// in the clear.
 *
 * ```ts
 * const ws = new TlsWebSocket("wss://example.org/chat", ["chat"], { connector: tunnelConnector("ws://127.0.0.1:8080") });
 * ws.onmessage = (e) => console.log(e.data);
 * ```
 *
 * A server that breaks RFC 6455 or `maxMessageBytes` gets a close frame
 * with the matching code (1002, 1007, 1009); the `error` event carries a
 * WebSocketProtocolError with that code, and `close` reports it with
 * wasClean false. A handshake that is not a valid 101 fails with
 * WebSocketHandshakeError (`close` 1006). Either way the connection is
 * closed and its memory freed.
 * @see https://websockets.spec.whatwg.org/
 * @see https://www.rfc-editor.org/rfc/rfc6455
 */
export class TlsWebSocket extends EventTarget implements WebSocket {
  /** readyState: opening. */
  static readonly CONNECTING = CONNECTING;
  /** readyState: open; messages flow. */
  static readonly OPEN = OPEN;
  /** readyState: the close handshake is under way. */
  static readonly CLOSING = CLOSING;
  /** readyState: closed (or never opened). */
  static readonly CLOSED = CLOSED;
  /** readyState: opening. */
  readonly CONNECTING = CONNECTING;
  /** readyState: open; messages flow. */
  readonly OPEN = OPEN;
  /** readyState: the close handshake is under way. */
  readonly CLOSING = CLOSING;
  /** readyState: closed (or never opened). */
  readonly CLOSED = CLOSED;

  readonly #url: URL;
  readonly #protocols: string[];
  readonly #headers: [string, string][];
  readonly #options: TlsWebSocketOptions;
  readonly #maxMessageBytes: number;
  readonly #closeTimeout: number;
  #readyState: ReadyState = CONNECTING;
  #protocol = "";
  #binaryType: BinaryType = "blob";
  #bufferedAmount = 0;
  /** Aborted to stop the opening (close() while connecting, a failure, the timeout, the signal). */
  readonly #opening = new AbortController();
  #tls: TlsSocket | undefined;
  #transport: Transport | undefined;
  #reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  #writer: WritableStreamDefaultWriter<Uint8Array> | undefined;
  /** Frames go out in order, each after the previous one was taken (sends of Blobs wait for their bytes). */
  #sending: Promise<void> = Promise.resolve();
  #closeSent = false;
  /** The payload of the pong waiting to be sent, if one is. */
  #pongPayload: Uint8Array | undefined;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;
  #finished = false;
  /** The streams were closed or dropped: nothing more can be written. */
  #dropped = false;
  readonly #handlers = new Map<string, { handler: Handler; listener: (e: Event) => void }>();
  #unwatch: (() => void) | undefined;

  /**
   * Starts connecting at once, as `new WebSocket(url, protocols)` does.
   * @param url ws: or wss: (http: and https: are taken as them).
   * @param protocols Subprotocols to offer (`Sec-WebSocket-Protocol`).
   * @param options The connector, TLS options for wss:// (TlsSocket's: `ca`, `servername`, ...), limits.
   * @throws DOMException SyntaxError: a bad URL or subprotocol list. TypeError: no connector. RangeError: a bad limit.
   */
  constructor(url: string | URL, protocols?: string | string[], options: TlsWebSocketOptions = {}) {
    super();
    if (options === null || typeof options !== "object") throw new TypeError("options must be an object");
    this.#url = parseUrl(url);
    this.#protocols = parseProtocols(protocols);
    this.#headers = checkHeaders(options.headers);
    const connector = options.connector ?? defaultConnector();
    if (typeof connector !== "function") {
      throw new TypeError("TlsWebSocket needs options.connector in this runtime (tunnelConnector(url); tcpConnector() from openssl-tls-wasm/node)");
    }
    const max = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE;
    if (!Number.isSafeInteger(max) || max <= 0) throw new RangeError(`maxMessageBytes must be a positive integer, got ${String(options.maxMessageBytes)}`);
    this.#maxMessageBytes = max;
    this.#closeTimeout = milliseconds("closeTimeout", options.closeTimeout, DEFAULT_CLOSE_TIMEOUT);
    const timeout = milliseconds("timeout", options.timeout, DEFAULT_TIMEOUT);
    if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) throw new TypeError("signal must be an AbortSignal");
    this.#options = options;
    this.#watch(options.signal);
    void this.#connect(connector, timeout);
  }

  /** The URL, serialized. */
  get url(): string {
    return this.#url.href;
  }

  /** CONNECTING, OPEN, CLOSING or CLOSED. */
  get readyState(): 0 | 1 | 2 | 3 {
    return this.#readyState;
  }

  /** The subprotocol the server chose ("" for none). */
  get protocol(): string {
    return this.#protocol;
  }

  /** The negotiated extensions: always "" (none is offered; no permessage-deflate yet). */
  get extensions(): string {
    return "";
  }

  /** Bytes of application data queued by send() and not yet handed to the transport. */
  get bufferedAmount(): number {
    return this.#bufferedAmount;
  }

  /** How binary messages are delivered: "blob" (the default, as in browsers) or "arraybuffer". */
  get binaryType(): BinaryType {
    return this.#binaryType;
  }

  set binaryType(value: BinaryType) {
    if (value === "blob" || value === "arraybuffer") this.#binaryType = value; // other values are ignored, as the standard says
  }

  /** Listener for `open`. */
  get onopen(): ((this: WebSocket, ev: Event) => unknown) | null {
    return this.#handler("open");
  }

  set onopen(handler: ((this: WebSocket, ev: Event) => unknown) | null) {
    this.#setHandler("open", handler);
  }

  /** Listener for `message` (a MessageEvent: `data` is a string, a Blob or an ArrayBuffer). */
  get onmessage(): ((this: WebSocket, ev: MessageEvent) => unknown) | null {
    return this.#handler("message");
  }

  set onmessage(handler: ((this: WebSocket, ev: MessageEvent) => unknown) | null) {
    this.#setHandler("message", handler as Handler);
  }

  /** Listener for `error` (a WebSocketErrorEvent). */
  get onerror(): ((this: WebSocket, ev: Event) => unknown) | null {
    return this.#handler("error");
  }

  set onerror(handler: ((this: WebSocket, ev: Event) => unknown) | null) {
    this.#setHandler("error", handler);
  }

  /** Listener for `close` (a WebSocketCloseEvent). */
  get onclose(): ((this: WebSocket, ev: CloseEvent) => unknown) | null {
    return this.#handler("close");
  }

  set onclose(handler: ((this: WebSocket, ev: CloseEvent) => unknown) | null) {
    this.#setHandler("close", handler as Handler);
  }

  /**
   * Sends a message: a string as text, anything else as binary. While
   * CLOSING or CLOSED the data is discarded (bufferedAmount still grows, as
   * in browsers).
   * @throws DOMException InvalidStateError while CONNECTING.
   */
  send(data: string | ArrayBufferLike | ArrayBufferView | Blob): void {
    if (this.#readyState === CONNECTING) throw new DOMException("the WebSocket is still connecting", "InvalidStateError");
    let opcode: number = OPCODE.binary;
    let payload: Uint8Array | Promise<Uint8Array>;
    if (typeof data === "string") {
      opcode = OPCODE.text;
      payload = encoder.encode(data);
    } else if (ArrayBuffer.isView(data)) {
      payload = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
    } else if (data instanceof ArrayBuffer || (typeof SharedArrayBuffer !== "undefined" && data instanceof SharedArrayBuffer)) {
      payload = new Uint8Array(data).slice();
    } else if (typeof Blob !== "undefined" && data instanceof Blob) {
      payload = data.arrayBuffer().then((b) => new Uint8Array(b));
    } else {
      throw new TypeError("send() takes a string, an ArrayBuffer, an ArrayBufferView or a Blob");
    }
    const size = payload instanceof Promise ? (data as Blob).size : payload.byteLength;
    this.#bufferedAmount += size;
    if (this.#readyState !== OPEN || this.#closeSent) return;
    this.#enqueue(async () => encodeFrame(opcode, await payload), size);
  }

  /**
   * Starts the close handshake (or stops the opening: then `error` and
   * `close` 1006). Nothing happens if it is already closing or closed.
   * @param code 1000 or 3000-4999.
   * @param reason At most 123 bytes of UTF-8.
   * @throws DOMException InvalidAccessError for another code; SyntaxError for a longer reason.
   */
  close(code?: number, reason?: string): void {
    if (code !== undefined && code !== 1000 && !(Number.isInteger(code) && code >= 3000 && code <= 4999)) {
      throw new DOMException(`close code must be 1000 or 3000-4999, got ${String(code)}`, "InvalidAccessError");
    }
    const reasonText = reason === undefined ? "" : String(reason);
    if (encoder.encode(reasonText).byteLength > MAX_CLOSE_REASON) {
      throw new DOMException(`the close reason is longer than ${MAX_CLOSE_REASON} bytes of UTF-8`, "SyntaxError");
    }
    if (this.#readyState === CLOSING || this.#readyState === CLOSED) return;
    if (this.#readyState === CONNECTING) {
      this.#readyState = CLOSING;
      this.#opening.abort(new Error("the WebSocket was closed before the connection was established"));
      return;
    }
    this.#readyState = CLOSING;
    this.#sendClose(code, reasonText);
    if (this.#closeTimeout > 0) {
      this.#closeTimer = setTimeout(() => void this.#finish({ code: 1006, reason: "", wasClean: false }, "drop"), this.#closeTimeout);
    }
  }

  // ---- opening ----

  async #connect(connector: Connector, timeoutMs: number): Promise<void> {
    const signal = this.#opening.signal;
    const timer = timeoutMs > 0 ? setTimeout(() => this.#opening.abort(new ConnectTimeoutError(timeoutMs)), timeoutMs) : undefined;
    // Whatever is open when the opening is aborted is dropped, so a pending read or handshake ends.
    const onAbort = () => void this.#dropStreams(asError(signal.reason));
    signal.addEventListener("abort", onAbort, { once: true });
    let rest: Uint8Array;
    try {
      signal.throwIfAborted();
      const host = this.#url.hostname.replace(/^\[(.*)\]$/, "$1");
      const port = Number(this.#url.port || (this.#url.protocol === "wss:" ? 443 : 80));
      const transport = await connector({ host, port }, { signal });
      this.#transport = transport;
      signal.throwIfAborted();
      let stream: Transport = transport;
      if (this.#url.protocol === "wss:") {
        const { connector: _c, maxMessageBytes: _m, timeout: _t, closeTimeout: _ct, signal: _s, headers: _h, ...tls } = this.#options;
        this.#tls = await TlsSocket.connect(transport, { servername: host, ...tls, alpnProtocols: ["http/1.1"], signal });
        stream = this.#tls;
      }
      this.#reader = stream.readable.getReader();
      this.#writer = stream.writable.getWriter();
      const key = newKey();
      await this.#writer.write(upgradeRequest(this.#url, key, this.#protocols, this.#headers));
      const response = await this.#readHead();
      rest = response.rest;
      this.#protocol = checkUpgradeResponse(parseResponseHead(response.head), key, this.#protocols).protocol;
      signal.throwIfAborted();
    } catch (e) {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      const error = signal.aborted ? asError(signal.reason) : asError(e);
      await this.#dropStreams(error);
      this.#fire(new WebSocketErrorEvent("error", error));
      this.#finishClosed({ code: 1006, reason: "", wasClean: false });
      return;
    }
    clearTimeout(timer);
    signal.removeEventListener("abort", onAbort);
    this.#readyState = OPEN;
    this.#fire(new Event("open"));
    void this.#receive(rest);
  }

  /** Reads up to the end of the response head; returns it and the bytes after it (the first frames). */
  async #readHead(): Promise<{ head: Uint8Array; rest: Uint8Array }> {
    let buffer = new Uint8Array(0);
    for (;;) {
      const { value, done } = await this.#reader!.read();
      if (done) throw new WebSocketHandshakeError("the server closed the connection before answering the WebSocket upgrade");
      const joined = new Uint8Array(buffer.byteLength + value.byteLength);
      joined.set(buffer);
      joined.set(value, buffer.byteLength);
      buffer = joined;
      const end = headEnd(buffer.subarray(0, Math.min(buffer.byteLength, MAX_RESPONSE_HEAD + 1)));
      if (end >= 0) return { head: buffer.subarray(0, end), rest: buffer.slice(end) };
    }
  }

  // ---- receiving ----

  async #receive(first: Uint8Array): Promise<void> {
    const decoder = new FrameDecoder(this.#maxMessageBytes);
    try {
      if (first.byteLength > 0 && this.#handle(decoder.push(first))) return;
      for (;;) {
        const { value, done } = await this.#reader!.read();
        if (this.#finished) return;
        if (done) {
          // The server ended the connection without a close frame (or after ours, without answering it).
          await this.#finish({ code: 1006, reason: "", wasClean: false }, "drop");
          return;
        }
        if (this.#handle(decoder.push(value))) return;
      }
    } catch (e) {
      // The transport or TLS broke (a truncation, a reset, a fatal alert).
      if (this.#finished) return;
      this.#fire(new WebSocketErrorEvent("error", asError(e)));
      await this.#finish({ code: 1006, reason: "", wasClean: false }, "drop");
    }
  }

  /** Acts on what the decoder completed; true once the connection is over. */
  #handle(incoming: Incoming[]): boolean {
    for (const m of incoming) {
      if (this.#finished) return true;
      switch (m.type) {
        case "text":
        case "binary":
          // Messages after our close frame are dropped (the standard: only while OPEN).
          if (this.#readyState === OPEN) this.#deliver(m.data);
          break;
        case "ping":
          // One pong waits at a time, with the latest ping's payload (RFC 6455 section 5.5.3
          // allows answering only the most recent one): a ping flood while our writes are
          // stuck queues nothing more.
          if (this.#closeSent) break;
          if (this.#pongPayload === undefined) {
            this.#enqueue(() => {
              const frame = encodeFrame(OPCODE.pong, this.#pongPayload!);
              this.#pongPayload = undefined;
              return frame;
            }, 0);
          }
          this.#pongPayload = m.payload;
          break;
        case "pong":
          break;
        case "violation":
          void this.#fail(m.error);
          return true;
        case "close": {
          // The server's close frame: answer with its code (section 5.5.1), then end the connection.
          if (!this.#closeSent) this.#sendClose(m.code, "");
          this.#readyState = CLOSING;
          void this.#finish({ code: m.code ?? 1005, reason: m.reason, wasClean: true }, "close");
          return true;
        }
      }
    }
    return false;
  }

  #deliver(data: string | Uint8Array): void {
    let value: string | Blob | ArrayBuffer;
    if (typeof data === "string") value = data;
    else if (this.#binaryType === "arraybuffer") {
      value = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data.buffer as ArrayBuffer : data.slice().buffer;
    } else value = new Blob([data as Uint8Array<ArrayBuffer>]);
    this.#fire(new MessageEventImpl("message", { data: value, origin: this.#url.origin }));
  }

  // ---- sending ----

  /** Queues a frame; `size` bytes of bufferedAmount are released once the transport took it. */
  #enqueue(frame: () => Uint8Array | Promise<Uint8Array>, size: number): void {
    this.#sending = this.#sending.then(async () => {
      if (this.#dropped) return;
      try {
        await this.#writer!.write(await frame());
        this.#bufferedAmount -= size;
      } catch (e) {
        if (this.#finished || this.#dropped) return;
        this.#fire(new WebSocketErrorEvent("error", asError(e)));
        await this.#finish({ code: 1006, reason: "", wasClean: false }, "drop");
      }
    });
  }

  #sendClose(code: number | undefined, reason: string): void {
    this.#closeSent = true;
    this.#enqueue(() => encodeFrame(OPCODE.close, closePayload(code, reason)), 0);
  }

  // ---- ending ----

  /** The server broke the protocol: a close frame with the error's code, `error`, then `close` (not clean). */
  async #fail(error: WebSocketProtocolError): Promise<void> {
    this.#readyState = CLOSING;
    if (!this.#closeSent) this.#sendClose(error.code, error.message.slice(0, MAX_CONTROL_PAYLOAD - 2).replace(/[^\x20-\x7e]/g, ""));
    this.#fire(new WebSocketErrorEvent("error", error));
    await this.#finish({ code: error.code, reason: "", wasClean: false }, "close");
  }

  /**
   * Ends the connection once: "close" lets queued frames (our close frame)
   * go out within closeTimeout, then closes TLS (close_notify) or the
   * transport; "drop" closes at once. Then `close` fires.
   */
  async #finish(event: { code: number; reason: string; wasClean: boolean }, how: "close" | "drop"): Promise<void> {
    if (this.#finished) return;
    this.#finished = true;
    this.#readyState = CLOSING;
    clearTimeout(this.#closeTimer);
    if (how === "close") {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const flushed = await Promise.race([
        this.#sending.then(() => true),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), this.#closeTimeout || DEFAULT_CLOSE_TIMEOUT))),
      ]);
      clearTimeout(timer);
      if (flushed && this.#tls) {
        this.#releaseStreams();
        await this.#tls.close();
      } else if (flushed) {
        await this.#writer?.close().catch(() => {});
        await this.#dropStreams(new Error("the WebSocket closed"));
      } else {
        await this.#dropStreams(new Error("the WebSocket close did not complete"));
      }
    } else {
      await this.#dropStreams(new Error("the WebSocket connection was dropped"));
    }
    this.#finishClosed(event);
  }

  #finishClosed(event: { code: number; reason: string; wasClean: boolean }): void {
    this.#finished = true;
    this.#readyState = CLOSED;
    this.#unwatch?.();
    this.#fire(new WebSocketCloseEvent("close", event));
  }

  /** Gives the stream locks back, so TlsSocket.close() can end its streams itself. */
  #releaseStreams(): void {
    this.#dropped = true;
    void this.#reader?.cancel().catch(() => {});
    this.#writer?.releaseLock();
  }

  /** Closes everything at once: TLS without close_notify (destroy), the transport aborted. */
  async #dropStreams(reason: Error): Promise<void> {
    this.#dropped = true;
    void this.#reader?.cancel(reason).catch(() => {});
    if (this.#tls) {
      await this.#tls.destroy(reason);
    } else if (this.#writer) {
      await this.#writer.abort(reason).catch(() => {});
    } else if (this.#transport) {
      await this.#transport.writable.abort(reason).catch(() => {});
      await this.#transport.readable.cancel(reason).catch(() => {});
    }
  }

  #watch(signal: AbortSignal | undefined): void {
    if (!signal) return;
    const onAbort = () => {
      const reason = asError(signal.reason);
      if (this.#readyState === CONNECTING) this.#opening.abort(reason);
      else if (!this.#finished) {
        this.#fire(new WebSocketErrorEvent("error", reason));
        void this.#finish({ code: 1006, reason: "", wasClean: false }, "drop");
      }
    };
    if (signal.aborted) {
      queueMicrotask(onAbort);
      return;
    }
    signal.addEventListener("abort", onAbort, { once: true });
    this.#unwatch = () => signal.removeEventListener("abort", onAbort);
  }

  // ---- events ----

  #fire(event: Event): void {
    this.dispatchEvent(event);
  }

  #handler<T>(type: string): T | null {
    return (this.#handlers.get(type)?.handler ?? null) as T | null;
  }

  #setHandler(type: string, handler: Handler): void {
    const old = this.#handlers.get(type);
    if (old) this.removeEventListener(type, old.listener);
    this.#handlers.delete(type);
    if (typeof handler !== "function") return;
    const listener = (e: Event) => handler.call(this, e);
    this.#handlers.set(type, { handler, listener });
    this.addEventListener(type, listener);
  }
}

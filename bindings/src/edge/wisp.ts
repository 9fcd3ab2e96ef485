/**
 * The edge tunnel's Wisp v1 endpoint (Workers / workerd, Deno): one
 * WebSocket carrying many TCP streams, each opened with the platform's
 * connect() and checked against the same allowlist as a wsproxy path. The
 * packets, the CONNECT checks and the credit are the Node endpoint's
 * (tunnel/wisp-packets.ts); the sockets are Web Streams here.
 *
 * CLOSE reasons sent:
 * ```text
 *   0x02 voluntary: the TCP peer closed (FIN), after every byte it sent
 *   0x03 network error: the TCP connection failed or was reset
 *   0x41 invalid destination: UDP (TCP only), a malformed host, port 0
 *   0x42 unreachable: the platform could not connect. Workers say only
 *        "cannot connect to the specified address", for a refused port as
 *        for the destinations Cloudflare refuses itself: always 0x42 there
 *   0x43 timed out: the connection was not up within connectTimeoutMs
 *   0x44 connection refused (Deno)
 *   0x47 transfer timed out: no traffic on the stream for idleTimeoutMs
 *   0x48 blocked: the allowlist refused it
 *   0x49 throttled: too many streams on this WebSocket
 *        (maxStreamsPerConnection) or TCP connections in all
 *        (maxConnections), or the client sent more than maxBufferedBytes
 *        that wait for TCP on one stream
 * ```
 * Protocol errors (an unknown packet type, a packet too short or of the
 * wrong length, DATA for a stream never opened, CONNECT on stream 0 or on
 * an open stream, a text message, CONTINUE or INFO from the client) close
 * the WebSocket with 1002 and every stream's TCP connection; a message
 * larger than maxFrameBytes (header included) closes it with 1009.
 */
import { CloseCode } from "../tunnel/close.js";
import {
  HEADER, PROTOCOL_ERROR, RECENTLY_CLOSED, WISP_STREAM_CREDIT, WispCredit, WispReason,
  closePacket, connectRequest, continuePacket, dataPacket, dispatchClientPacket, type ClientPacketHandlers,
} from "../tunnel/wisp-packets.js";
import type { Destination } from "../tunnel/destination.js";
import {
  SEND_HIGH_WATER, abandon, binaryMessage, closeSocket, openDeadline, errorMessage, whenOpen, type Counters, type EdgeConfig, type EdgePlatform, type ServerWebSocketLike, type TcpLike,
} from "./config.js";

/**
 * The largest DATA payload sent: what Wisp clients send themselves (ours,
 * wisp-js), well under their message limits (ours: 1 MiB by default).
 */
const MAX_DATA_OUT = 64 * 1024;

/** How a stream's TCP connection ends: FIN after what was written, or at once. */
type TcpEnding = "close" | "abort";

/** One stream: its TCP connection and accounting. */
interface Stream {
  readonly id: number;
  readonly target: string;
  readonly credit: WispCredit;
  tcp: TcpLike | undefined;
  writer: WritableStreamDefaultWriter<Uint8Array> | undefined;
  reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  /** DATA that came before the connection was up. */
  early: Uint8Array[];
  /** Client bytes not yet taken by TCP. */
  waiting: number;
  connected: boolean;
  closed: boolean;
  up: number;
  down: number;
  idle: ReturnType<typeof setTimeout> | undefined;
  /** The platform's connect() has not returned yet (Deno's resolves only once connected). */
  pending: boolean;
  /** Ends the wait for `opened` (the stream closed while its socket was still connecting). */
  stopWaiting: (() => void) | undefined;
}

/** Maps a connect failure to a Wisp reason: refused, timed out, or unreachable. */
function connectFailure(e: unknown): number {
  const name = e instanceof Error ? e.name : "";
  const text = errorMessage(e);
  if (name === "ConnectionRefused" || /refused/i.test(text)) return WispReason.refused;
  if (name === "TimedOut" || /timed? ?out/i.test(text)) return WispReason.timedOut;
  return WispReason.unreachable;
}

/** One Wisp WebSocket and its streams, until the WebSocket ends (`finished`); never throws. */
export class EdgeWispSession {
  /** Settles when the WebSocket has ended and every stream with it. */
  readonly finished: Promise<void>;
  readonly #ws: ServerWebSocketLike;
  readonly #config: EdgeConfig;
  readonly #platform: EdgePlatform;
  readonly #counters: Counters;
  readonly #streams = new Map<number, Stream>();
  readonly #recentlyClosed = new Set<number>();
  #idle: ReturnType<typeof setTimeout> | undefined;
  #done = false;
  #resolveFinished!: () => void;

  constructor(ws: ServerWebSocketLike, config: EdgeConfig, platform: EdgePlatform, counters: Counters) {
    this.#ws = ws;
    this.#config = config;
    this.#platform = platform;
    this.#counters = counters;
    this.finished = new Promise((r) => (this.#resolveFinished = r));
    ws.addEventListener("message", this.#guard((e: { data: unknown }) => this.#onMessage(e.data)));
    ws.addEventListener("close", this.#guard((e: { code: number }) => this.#clientClosed(e.code)));
    ws.addEventListener("error", this.#guard(() => this.#end(CloseCode.tcpFailed, "WebSocket error", "abort")));
    openDeadline(ws, config.upgradeTimeoutMs, this.#guard(() => this.#end(CloseCode.goingAway, "the WebSocket never opened", "abort")));
    this.#touch();
    config.log("wisp session opened");
    // The handshake: every stream's initial credit, on stream 0.
    whenOpen(ws, () => this.#send(continuePacket(0, WISP_STREAM_CREDIT)), platform.defer);
  }

  /** The WebSocket's own idle timeout counts only while no stream is open (each stream has its own). */
  #touch(): void {
    if (!this.#config.idleTimeoutMs || this.#done) return;
    clearTimeout(this.#idle);
    this.#idle = setTimeout(this.#guard(() => {
      if (this.#streams.size > 0) this.#touch();
      else this.#end(CloseCode.goingAway, "idle timeout", "abort");
    }), this.#config.idleTimeoutMs);
  }

  #send(bytes: Uint8Array): void {
    if (this.#done || this.#ws.readyState !== 1) return;
    this.#ws.send(bytes);
  }

  #onMessage(data: unknown): void {
    if (this.#done) return;
    this.#touch();
    const bytes = binaryMessage(data);
    if (!bytes) return this.#protocolError("a text message (Wisp packets are binary)");
    // As on the Node tunnel, maxFrameBytes bounds the whole message, the packet's 5-byte header included.
    if (bytes.length > this.#config.maxFrameBytes) {
      return this.#end(CloseCode.messageTooBig, `message larger than ${this.#config.maxFrameBytes} bytes`, "abort");
    }
    dispatchClientPacket(bytes, this.#handlers);
  }

  /** What each client packet does (dispatchClientPacket). */
  readonly #handlers: ClientPacketHandlers<Stream> = {
    streams: this.#streams,
    recentlyClosed: this.#recentlyClosed,
    connect: (id, payload) => this.#connect(id, payload),
    data: (stream, payload) => this.#onData(stream, payload),
    close: (stream, reason) => this.#closeStream(stream, null, reason === WispReason.voluntary ? "close" : "abort",
      `the client closed the stream (reason 0x${reason.toString(16)})`),
    protocolError: (reason) => this.#protocolError(reason),
  };

  #connect(id: number, payload: Uint8Array): void {
    const request = connectRequest(payload, this.#config.rules);
    const refuse = (reason: number, why: string) => {
      this.#config.log(`refused wisp stream ${id} to ${request.target}: 0x${reason.toString(16)} ${why}`);
      this.#send(closePacket(id, reason));
      this.#remember(id);
    };
    if ("refuse" in request) return refuse(request.refuse, request.why);
    // The edge tunnel takes no public: rules (config.ts), so an address check is never what allows it.
    if (request.checkAddress) return refuse(WispReason.blocked, `destination not allowed: ${request.target}`);
    if (this.#streams.size >= this.#config.maxStreamsPerConnection) {
      return refuse(WispReason.throttled, `too many streams on this WebSocket (${this.#config.maxStreamsPerConnection})`);
    }
    if (this.#counters.tcp >= this.#config.maxConnections) return refuse(WispReason.throttled, "too many connections");
    this.#counters.tcp++;
    const stream: Stream = {
      id, target: request.target, credit: new WispCredit(WISP_STREAM_CREDIT), tcp: undefined, writer: undefined, reader: undefined,
      early: [], waiting: 0, connected: false, closed: false, up: 0, down: 0, idle: undefined, pending: false, stopWaiting: undefined,
    };
    this.#streams.set(id, stream);
    this.#streamTouch(stream);
    void this.#open(stream, request.destination);
  }

  /**
   * The stream's timer: until the connection is up, the connect timeout (0x43), set once; then the
   * transfer timeout (0x47), restarted by traffic.
   */
  #streamTouch(stream: Stream): void {
    if (stream.closed) return;
    if (!stream.connected) {
      const ms = this.#config.connectTimeoutMs;
      stream.idle ??= setTimeout(this.#guard(() =>
        this.#closeStream(stream, WispReason.timedOut, "abort", `cannot connect to ${stream.target}: timed out after ${ms} ms`)), ms);
      return;
    }
    clearTimeout(stream.idle);
    stream.idle = undefined;
    if (!this.#config.idleTimeoutMs) return;
    stream.idle = setTimeout(this.#guard(() =>
      this.#closeStream(stream, WispReason.transferTimedOut, "abort", "idle timeout")), this.#config.idleTimeoutMs);
  }

  async #open(stream: Stream, destination: Destination): Promise<void> {
    let tcp: TcpLike;
    try {
      stream.pending = true;
      try {
        tcp = await this.#platform.connect(destination);
      } finally {
        stream.pending = false;
        // Closed (timed out) while connect() was pending: its place in maxConnections was kept until now.
        if (stream.closed) this.#counters.tcp--;
      }
      stream.tcp = tcp;
      if (!stream.closed) await Promise.race([tcp.opened, new Promise<void>((r) => (stream.stopWaiting = r))]);
    } catch (e) {
      return this.#closeStream(stream, connectFailure(e), "abort", `cannot connect to ${stream.target}: ${errorMessage(e)}`);
    }
    if (stream.closed) return abandon(tcp);
    stream.connected = true;
    this.#streamTouch(stream);
    this.#config.log(`wisp stream ${stream.id} connected ${stream.target}`);
    stream.writer = tcp.writable.getWriter();
    for (const payload of stream.early.splice(0)) this.#write(stream, payload);
    stream.reader = tcp.readable.getReader();
    try {
      for (;;) {
        const { value, done: eof } = await stream.reader.read();
        if (stream.closed) return;
        // The TCP peer's FIN: the CLOSE goes after every byte it sent.
        if (eof) return this.#closeStream(stream, WispReason.voluntary, "close", "");
        this.#streamTouch(stream);
        this.#touch();
        const most = Math.min(MAX_DATA_OUT, this.#config.maxFrameBytes - HEADER);
        for (let at = 0; at < value.length; at += most) {
          const piece = value.subarray(at, Math.min(value.length, at + most));
          this.#send(dataPacket(stream.id, piece));
          stream.down += piece.length;
        }
        // Backpressure where the platform reports what it has queued: this stream's TCP is not read meanwhile.
        while ((this.#ws.bufferedAmount ?? 0) > SEND_HIGH_WATER && !stream.closed) await new Promise((r) => setTimeout(r, 5));
      }
    } catch (e) {
      this.#closeStream(stream, WispReason.networkError, "abort", `TCP connection to ${stream.target} failed: ${errorMessage(e)}`);
    }
  }

  /** WebSocket -> TCP: the packet counts against the stream's credit and its byte budget. */
  #onData(stream: Stream, payload: Uint8Array): void {
    this.#streamTouch(stream);
    stream.credit.received();
    stream.up += payload.length;
    stream.waiting += payload.length;
    if (stream.waiting > this.#config.maxBufferedBytes) {
      return this.#closeStream(stream, WispReason.throttled, "abort", `buffer limit: more than ${this.#config.maxBufferedBytes} bytes waiting for ${stream.target}`);
    }
    if (stream.writer) this.#write(stream, payload);
    else stream.early.push(payload);
  }

  /** Writes to TCP; once written, the bytes leave the budget and a CONTINUE may be due. */
  #write(stream: Stream, payload: Uint8Array): void {
    stream.writer!.write(payload).then(this.#guard(() => {
      if (stream.closed) return;
      stream.waiting -= payload.length;
      const credit = stream.credit.written();
      if (credit !== null) this.#send(continuePacket(stream.id, credit));
    }), this.#guard((e: unknown) => this.#closeStream(stream, WispReason.networkError, "abort", `TCP write to ${stream.target} failed: ${errorMessage(e)}`)));
  }

  /**
   * Ends a stream: CLOSE `reason` to the client (null: the client closed it,
   * or the whole WebSocket ends), TCP ended as asked, the stream forgotten
   * and its TCP connection given back.
   */
  #closeStream(stream: Stream, reason: number | null, ending: TcpEnding, why: string): void {
    if (stream.closed) return;
    stream.closed = true;
    clearTimeout(stream.idle);
    this.#streams.delete(stream.id);
    this.#remember(stream.id);
    if (!stream.pending) this.#counters.tcp--;
    if (reason !== null) this.#send(closePacket(stream.id, reason));
    const { writer, reader, tcp } = stream;
    if (writer) {
      const ended = ending === "close" ? writer.close() : writer.abort(new Error(why || "closed"));
      void ended.catch(() => {}).finally(() => reader?.cancel().catch(() => {}));
    } else if (tcp) { // still connecting
      abandon(tcp);
      stream.stopWaiting?.();
    }
    const code = reason ?? "client";
    this.#config.log(`closed wisp stream ${stream.id} to ${stream.target}: ${typeof code === "number" ? `0x${code.toString(16)}` : code}` +
      `${why ? ` ${why}` : ""} (up ${stream.up} B, down ${stream.down} B)`);
    this.#touch(); // idle from now, not from the stream's last packet
  }

  #remember(id: number): void {
    this.#recentlyClosed.add(id);
    if (this.#recentlyClosed.size > RECENTLY_CLOSED) this.#recentlyClosed.delete(this.#recentlyClosed.values().next().value!);
  }

  #protocolError(reason: string): void {
    this.#config.log(`wisp protocol error: ${reason}`);
    this.#end(PROTOCOL_ERROR, reason, "abort");
  }

  /** Ends the session: every stream's TCP connection as asked, then the WebSocket closes with `code`. */
  #end(code: number, reason: string, ending: TcpEnding): void {
    if (this.#done) return;
    for (const stream of [...this.#streams.values()]) this.#closeStream(stream, null, ending, "the WebSocket is closing");
    this.#done = true;
    clearTimeout(this.#idle);
    this.#config.log(`closed wisp session: ${code}${reason ? ` ${reason}` : ""}`);
    // CLOSING too: workerd leaves the reply to a client's Close to us (Deno has sent it already).
    if (this.#ws.readyState <= 2) closeSocket(this.#ws, code, reason, this.#platform.defer);
    this.#resolveFinished();
  }

  /** The client closed the WebSocket: every stream's TCP connection goes (FIN after a normal close, else at once). */
  #clientClosed(code: number): void {
    this.#end(code === 1000 || code === 1005 ? CloseCode.normal : code, "", code === 1000 || code === 1005 ? "close" : "abort");
  }

  /** A handler whose exception ends the session (1011) instead of escaping into the platform. */
  #guard<A extends unknown[]>(handler: (...args: A) => void): (...args: A) => void {
    return (...args: A) => {
      try {
        handler(...args);
      } catch (e) {
        this.#config.log(`wisp internal error: ${errorMessage(e)}`);
        this.#end(CloseCode.internalError, "internal error", "abort");
      }
    };
  }
}

/**
 * The tunnel's Wisp v1 endpoint: one WebSocket carrying many TCP streams
 * (the protocol of wisp-js, epoxy-server and wisp-server-python, which
 * libcurl.js and epoxy-tls speak). Written from the Wisp v1 specification
 * (MercuryWorkshop/wisp-protocol, CC-BY-4.0).
 *
 * Packets are binary messages `u8 type | u32 stream id | payload`,
 * little-endian: CONNECT (0x01, `u8 kind | u16 port | host`), DATA (0x02),
 * CONTINUE (0x03, `u32 credit` in packets, server to client), CLOSE (0x04,
 * `u8 reason`). Right after the upgrade the server sends CONTINUE on stream
 * 0 with every stream's initial credit.
 *
 * Each CONNECT goes through the same allowlist as a wsproxy path (exact,
 * `*.domain`, and `public:` with the same address screening, connecting by
 * the checked address). CLOSE reasons sent:
 * ```text
 *   0x02 voluntary: the TCP peer closed (FIN), after every byte it sent
 *   0x03 network error: the TCP connection failed or was reset
 *   0x41 invalid destination: UDP (this endpoint relays TCP only), a malformed host, port 0
 *   0x42 unreachable: the host could not be resolved or reached
 *   0x43 timed out: DNS or TCP connect did not finish within resolveTimeoutMs / connectTimeoutMs
 *   0x44 connection refused
 *   0x47 transfer timed out: no traffic on the stream for idleTimeoutMs
 *   0x48 blocked: the allowlist refused it (for `public:`, an address not public)
 *   0x49 throttled: too many streams (per WebSocket, or maxConnections in
 *        total), the tunnel is draining, or the client sent more than the
 *        stream's byte budget (maxBufferedBytes) waiting for TCP
 * ```
 * Protocol errors (an unknown packet type, a packet too short or of the
 * wrong length, DATA for a stream never opened, CONNECT on stream 0 or on
 * an open stream, a text message, CONTINUE or INFO from the client) close
 * the WebSocket with 1002 and every stream's TCP socket.
 */
import * as net from "node:net";
import type { WebSocket } from "ws";
import { CloseCode, closeReason } from "./close.js";
import type { AllowRule } from "./destination.js";
import { describeError, guarded, type EventFields } from "./events.js";
import type { TokenBucket } from "./limits.js";
import type { Screening } from "./resolve.js";
import {
  PROTOCOL_ERROR, RECENTLY_CLOSED, WispCredit, WispReason, closePacket, connectRequest, continuePacket, dataPacket, dispatchClientPacket,
  type ClientPacketHandlers,
} from "./wisp-packets.js";

export { WispReason } from "./wisp-packets.js";

/** What a Wisp session needs from the tunnel. */
export interface WispSessionOptions {
  rules: readonly AllowRule[];
  /** Every stream's credit in DATA packets (sent in the handshake's CONTINUE). */
  credit: number;
  maxStreams: number;
  idleTimeoutMs: number;
  /** From TCP's connect() to its "connect": beyond it, CLOSE 0x43. */
  connectTimeoutMs: number;
  highWaterMark: number;
  maxBufferedBytes: number;
  bandwidth: TokenBucket | null;
  /** Reports an event; the tunnel adds the connection's id and client. */
  report: (fields: EventFields) => void;
  /** Resolves and checks a host for a `public` rule (screenHost). */
  screen: (host: string) => Promise<Screening>;
  /** Asks the tunnel for one more outbound TCP connection (maxConnections); false: refuse with 0x49. */
  acquire: () => boolean;
  /** Gives one back. */
  release: () => void;
  /** Whether the tunnel is draining: new streams are refused, and the session ends once its last stream does. */
  draining: () => boolean;
}

/** One stream: its TCP connection and accounting. */
interface Stream {
  readonly id: number;
  readonly tcp: net.Socket;
  readonly target: string;
  readonly startedAt: number;
  connected: boolean;
  dialed: boolean;
  closed: boolean;
  readonly credit: WispCredit;
  bytesUp: number;
  bytesDown: number;
  idle: ReturnType<typeof setTimeout> | undefined;
  /** Runs from TCP's connect() until it connects. */
  connectTimer: ReturnType<typeof setTimeout> | undefined;
  /** Paused for the WebSocket's backlog or the bandwidth budget. */
  paused: boolean;
  /** DATA that came before TCP was dialled (a `public` rule's lookup in flight), and its size. */
  early: Buffer[] | null;
  earlyBytes: number;
}

/** How TCP ends when the session ends. */
type TcpEnding = "fin" | "destroy";

/**
 * One Wisp WebSocket and its streams. Like a Relay, it owns its TCP
 * connections; the WebSocket's socket stays the tunnel service's.
 */
export class WispSession {
  readonly #ws: WebSocket;
  readonly #options: WispSessionOptions;
  readonly #streams = new Map<number, Stream>();
  readonly #recentlyClosed = new Set<number>();
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  readonly #startedAt = performance.now();
  #idle: ReturnType<typeof setTimeout> | undefined;
  #finished = false;
  #wsPausedForBandwidth = false;
  /**
   * Messages that came while the bandwidth budget paused the WebSocket:
   * ws.pause() stops reading the socket, but ws still emits the messages it
   * had already read, so they wait here, in order, until the pause ends.
   */
  readonly #held: { data: Buffer; isBinary: boolean }[] = [];

  constructor(ws: WebSocket, options: WispSessionOptions) {
    this.#ws = ws;
    this.#options = options;
    ws.on("message", this.#guard((data: Buffer, isBinary: boolean) => this.#onMessage(data, isBinary)));
    ws.on("close", this.#guard((code: number) => this.#clientClosed(code)));
    ws.on("error", this.#guard((e: Error) => this.#options.report({ event: "protocol-error", reason: e.message })));
    // The WebSocket's own idle timeout counts only while no stream is open (each stream has its own).
    if (options.idleTimeoutMs > 0) {
      this.#idle = setTimeout(this.#guard(() => {
        if (this.#streams.size > 0) this.#idle?.refresh();
        else this.end(CloseCode.goingAway, "idle timeout", "destroy");
      }), options.idleTimeoutMs);
    }
    // The handshake: every stream's initial credit, on stream 0.
    this.#send(continuePacket(0, options.credit));
  }

  /** Streams open now. */
  get streams(): number {
    return this.#streams.size;
  }

  /** Ends the session: every stream's TCP socket as asked, then the WebSocket closes with `code`. */
  end(code: number, reason: string, tcpEnding: TcpEnding): void {
    if (this.#finished) return;
    this.#stop();
    for (const stream of [...this.#streams.values()]) this.#dropStream(stream, tcpEnding, code === CloseCode.goingAway ? "the WebSocket is going away" : reason);
    this.#ws.resume();
    this.#ws.close(code, closeReason(reason));
    this.#options.report({ event: "closed", code, reason, durationMs: Math.round(performance.now() - this.#startedAt) });
  }

  /** Resets every stream's TCP connection (RST); the WebSocket closes with 4001. */
  kill(): void {
    if (this.#finished) return;
    for (const stream of this.#streams.values()) stream.tcp.resetAndDestroy();
    this.end(CloseCode.tcpFailed, "TCP connections killed by the tunnel operator", "destroy");
  }

  /** The tunnel started draining: end now if no stream is open. */
  drainCheck(): void {
    if (this.#streams.size === 0 && this.#options.draining()) this.end(CloseCode.goingAway, "going away: the tunnel is shutting down", "fin");
  }

  #send(bytes: Uint8Array, callback?: () => void): void {
    if (this.#ws.readyState !== 1) return;
    this.#ws.send(bytes, { binary: true }, callback);
  }

  #onMessage(data: Buffer, isBinary: boolean): void {
    if (this.#finished) return;
    if (this.#wsPausedForBandwidth) return void this.#held.push({ data, isBinary });
    this.#idle?.refresh();
    if (!isBinary) return this.#protocolError("a text message (Wisp packets are binary)");
    dispatchClientPacket(data, this.#handlers);
  }

  /** What each client packet does (dispatchClientPacket). */
  readonly #handlers: ClientPacketHandlers<Stream> = {
    streams: this.#streams,
    recentlyClosed: this.#recentlyClosed,
    connect: (id, payload) => this.#connect(id, payload),
    data: (stream, payload) => this.#onData(stream, payload as Buffer),
    close: (stream, reason) => this.#closeStream(stream, null, reason === WispReason.voluntary ? "fin" : "destroy",
      `the client closed the stream (reason 0x${reason.toString(16)})`, reason),
    protocolError: (reason) => this.#protocolError(reason),
  };

  #connect(id: number, payload: Uint8Array): void {
    const request = connectRequest(payload, this.#options.rules);
    const { target } = request;
    const refuse = (reason: number, why: string) => {
      this.#options.report({ event: "refused", stream: id, target: closeReason(target), code: reason, reason: closeReason(why) });
      this.#sendClose(id, reason);
      this.#remember(id);
    };
    if ("refuse" in request) return refuse(request.refuse, request.why);
    const { destination: { host }, checkAddress } = request;
    if (this.#options.draining()) return refuse(WispReason.throttled, "the tunnel is shutting down");
    if (this.#streams.size >= this.#options.maxStreams) return refuse(WispReason.throttled, `too many streams on this WebSocket (${this.#options.maxStreams})`);
    if (!this.#options.acquire()) return refuse(WispReason.throttled, "too many connections");
    const socketOptions = { allowHalfOpen: true, writableHighWaterMark: this.#options.highWaterMark };
    const stream: Stream = {
      id, target, tcp: new net.Socket(socketOptions as net.SocketConstructorOpts), startedAt: performance.now(),
      connected: false, dialed: false, closed: false, credit: new WispCredit(this.#options.credit), bytesUp: 0, bytesDown: 0, idle: undefined, connectTimer: undefined, paused: false,
      early: [], earlyBytes: 0,
    };
    this.#streams.set(id, stream);
    this.#options.report({ event: "connecting", stream: id, target });
    this.#listen(stream);
    if (this.#options.idleTimeoutMs > 0) {
      stream.idle = setTimeout(this.#guard(() => stream.connected
        ? this.#closeStream(stream, WispReason.transferTimedOut, "destroy", "idle timeout")
        : this.#closeStream(stream, WispReason.timedOut, "destroy", `cannot connect to ${target}: timed out`)), this.#options.idleTimeoutMs);
    }
    if (!checkAddress) return this.#dial(stream, host);
    void this.#options.screen(host).then(this.#guard((s: Screening) => {
      if (stream.closed) return;
      if ("failed" in s) return this.#closeStream(stream, /timed out/.test(s.failed) ? WispReason.timedOut : WispReason.unreachable, "destroy", s.failed);
      if ("refused" in s) {
        const reason = `destination not allowed: ${s.refused}`;
        this.#options.report({ event: "refused", stream: id, target, code: WispReason.blocked, reason });
        return this.#closeStream(stream, WispReason.blocked, "destroy", reason);
      }
      this.#options.report({ event: "resolved", stream: id, target, address: s.address });
      this.#dial(stream, s.address);
    }));
  }

  #dial(stream: Stream, address: string): void {
    stream.dialed = true;
    stream.tcp.connect({ host: address, port: Number(stream.target.slice(stream.target.lastIndexOf(":") + 1)), noDelay: true }); // no Nagle, as relay.ts
    const ms = this.#options.connectTimeoutMs;
    stream.connectTimer = setTimeout(this.#guard(() => {
      if (!stream.connected) this.#closeStream(stream, WispReason.timedOut, "destroy", `cannot connect to ${stream.target}: timed out after ${ms} ms`);
    }), ms);
    // Connecting now: writes queue inside the socket until it is up.
    for (const payload of stream.early ?? []) stream.tcp.write(payload, this.#guard(() => this.#consumed(stream)));
    stream.early = null;
    stream.earlyBytes = 0;
  }

  #listen(stream: Stream): void {
    const { tcp, target } = stream;
    tcp.on("connect", this.#guard(() => {
      stream.connected = true;
      clearTimeout(stream.connectTimer);
      this.#options.report({ event: "connected", stream: stream.id, target });
    }));
    tcp.on("data", this.#guard((data: Buffer) => this.#towardsWebSocket(stream, data)));
    // FIN: every byte was handed to ws.send, and the CLOSE queues behind them.
    tcp.on("end", this.#guard(() => this.#closeStream(stream, WispReason.voluntary, "fin", "")));
    tcp.on("error", this.#guard((e: NodeJS.ErrnoException) => {
      if (!stream.connected) {
        const reason = e.code === "ECONNREFUSED" ? WispReason.refused : e.code === "ETIMEDOUT" ? WispReason.timedOut
          : ["ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "EADDRNOTAVAIL"].includes(e.code ?? "") ? WispReason.unreachable
            : WispReason.networkError;
        this.#closeStream(stream, reason, "destroy", `cannot connect to ${target}: ${describeError(e)}`);
      } else {
        this.#closeStream(stream, WispReason.networkError, "destroy", `TCP connection to ${target} failed: ${describeError(e)}`);
      }
    }));
    tcp.on("close", this.#guard(() => this.#closeStream(stream, WispReason.networkError, "fin", `TCP connection to ${target} closed without FIN`)));
  }

  /** TCP -> WebSocket; stop reading TCP while the WebSocket is backed up or the budget is spent. */
  #towardsWebSocket(stream: Stream, data: Buffer): void {
    if (stream.closed || this.#finished) return;
    stream.idle?.refresh();
    this.#idle?.refresh();
    stream.bytesDown += data.length;
    this.#send(dataPacket(stream.id, data), this.#guard(() => this.#afterWebSocketWrite()));
    const buffered = this.#ws.bufferedAmount;
    if (buffered > this.#options.maxBufferedBytes) {
      return this.end(CloseCode.bufferLimit, `buffer limit: more than ${this.#options.maxBufferedBytes} bytes waiting for the WebSocket client`, "destroy");
    }
    if (buffered > this.#options.highWaterMark && !stream.paused) {
      stream.paused = true;
      stream.tcp.pause();
    }
    const waitMs = this.#options.bandwidth?.take(data.length) ?? 0;
    if (waitMs > 0 && !stream.paused) {
      stream.paused = true;
      stream.tcp.pause();
      this.#later(waitMs, () => this.#afterWebSocketWrite());
    }
  }

  /** Each chunk's send callback: resume paused streams once the WebSocket's backlog fell below a quarter of the mark. */
  #afterWebSocketWrite(): void {
    if (this.#finished || this.#ws.bufferedAmount > this.#options.highWaterMark / 4) return;
    for (const stream of this.#streams.values()) {
      if (!stream.paused) continue;
      stream.paused = false;
      stream.tcp.resume();
    }
  }

  /** WebSocket -> TCP: count the packet against the stream's credit; CONTINUE once half of it was written out. */
  #onData(stream: Stream, payload: Buffer): void {
    stream.idle?.refresh();
    stream.bytesUp += payload.length;
    stream.credit.received();
    // Once dialled, tcp.write queues inside the socket until it connects: writableLength counts it all the same.
    if (stream.early) {
      stream.early.push(payload);
      stream.earlyBytes += payload.length;
    } else {
      stream.tcp.write(payload, this.#guard(() => this.#consumed(stream)));
    }
    if (stream.tcp.writableLength + stream.earlyBytes > this.#options.maxBufferedBytes) {
      return this.#closeStream(stream, WispReason.throttled, "destroy",
        `buffer limit: more than ${this.#options.maxBufferedBytes} bytes waiting for ${stream.target}`);
    }
    const waitMs = this.#options.bandwidth?.take(payload.length) ?? 0;
    if (waitMs > 0 && !this.#wsPausedForBandwidth) {
      // Wisp v1 has no way to slow one stream down but its credit: the budget pauses the whole WebSocket.
      this.#wsPausedForBandwidth = true;
      this.#ws.pause();
      this.#later(waitMs, () => {
        this.#wsPausedForBandwidth = false;
        while (this.#held.length > 0 && !this.#wsPausedForBandwidth && !this.#finished) {
          const { data, isBinary } = this.#held.shift()!;
          this.#onMessage(data, isBinary);
        }
        if (!this.#wsPausedForBandwidth && !this.#finished) this.#ws.resume();
      });
    }
  }

  /** A DATA packet reached TCP: a CONTINUE when the client's credit is due for renewal (WispCredit). */
  #consumed(stream: Stream): void {
    if (stream.closed) return;
    const credit = stream.credit.written();
    if (credit !== null) this.#send(continuePacket(stream.id, credit));
  }

  /**
   * Ends a stream: CLOSE `reason` to the client (null: the client closed it),
   * TCP ended as asked, the stream forgotten and its place given back.
   */
  #closeStream(stream: Stream, reason: number | null, tcpEnding: TcpEnding, why: string, clientReason?: number): void {
    if (stream.closed) return;
    if (reason !== null) this.#sendClose(stream.id, reason);
    this.#dropStream(stream, tcpEnding, why, reason ?? clientReason);
    this.#idle?.refresh(); // idle from now, not from the stream's last packet
    this.drainCheck();
  }

  #dropStream(stream: Stream, tcpEnding: TcpEnding, why: string, code?: number): void {
    if (stream.closed) return;
    stream.closed = true;
    clearTimeout(stream.idle);
    clearTimeout(stream.connectTimer);
    this.#streams.delete(stream.id);
    this.#remember(stream.id);
    // end() waits for a connect that never comes if TCP was not dialled.
    if (tcpEnding === "fin" && stream.dialed) stream.tcp.end();
    else stream.tcp.destroy();
    this.#options.release();
    this.#options.report({
      event: "closed", stream: stream.id, target: stream.target, code, reason: why,
      bytesUp: stream.bytesUp, bytesDown: stream.bytesDown, durationMs: Math.round(performance.now() - stream.startedAt),
    });
  }

  #remember(id: number): void {
    this.#recentlyClosed.add(id);
    if (this.#recentlyClosed.size > RECENTLY_CLOSED) this.#recentlyClosed.delete(this.#recentlyClosed.values().next().value!);
  }

  #sendClose(id: number, reason: number): void {
    this.#send(closePacket(id, reason));
  }

  #protocolError(reason: string): void {
    this.#options.report({ event: "protocol-error", reason: closeReason(reason) });
    this.end(PROTOCOL_ERROR, reason, "destroy");
  }

  /** The client closed the WebSocket: every stream's TCP socket goes (FIN after a normal close, else reset). */
  #clientClosed(code: number): void {
    if (this.#finished) return;
    this.#stop();
    const ending: TcpEnding = code === 1000 || code === 1005 ? "fin" : "destroy";
    for (const stream of [...this.#streams.values()]) this.#dropStream(stream, ending, "the client closed the WebSocket");
    this.#options.report({ event: "closed", code, reason: "the client closed the WebSocket", durationMs: Math.round(performance.now() - this.#startedAt) });
  }

  #later(ms: number, f: () => void): void {
    const timer = setTimeout(this.#guard(() => {
      this.#timers.delete(timer);
      f();
    }), ms);
    this.#timers.add(timer);
  }

  #stop(): void {
    this.#finished = true;
    clearTimeout(this.#idle);
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    this.#held.length = 0;
  }

  /** A handler whose exception is reported and ends the session (1011) instead of escaping into the emitter. */
  #guard<A extends unknown[]>(handler: (...args: A) => void): (...args: A) => void {
    return guarded(handler, (e) => {
      this.#options.report({ event: "internal-error", reason: describeError(e) });
      if (!this.#finished) this.end(CloseCode.internalError, "internal error", "destroy");
      else this.#ws.terminate();
    });
  }
}

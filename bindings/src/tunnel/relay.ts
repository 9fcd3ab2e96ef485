/**
 * One tunnel: a WebSocket and the TCP connection it asked for, bytes relayed
 * both ways in order, with pausing (backpressure, bandwidth), buffer caps,
 * the idle timeout, and endings that keep their order (bytes before FIN,
 * bytes before the close frame).
 */
import * as net from "node:net";
import type { WebSocket } from "ws";
import { CloseCode, closeReason } from "./close.js";
import { formatHostPort, type Destination } from "./destination.js";
import { describeError, guarded, type EventFields } from "./events.js";
import type { TokenBucket } from "./limits.js";
import type { Screening } from "./resolve.js";

/** What a relay needs from the tunnel. */
export interface RelayOptions {
  destination: Destination;
  idleTimeoutMs: number;
  /** From TCP's connect() to its "connect": beyond it, 4002. */
  connectTimeoutMs: number;
  highWaterMark: number;
  maxBufferedBytes: number;
  /** The shared bandwidth budget, or null when unlimited. */
  bandwidth: TokenBucket | null;
  /** Reports an event; the tunnel adds the connection's id and client. */
  report: (fields: EventFields) => void;
  /**
   * For a destination a `public` rule allowed: resolves and checks it; TCP
   * then connects to the address it gives (never the name again). Without
   * it, TCP connects to the destination's host as given.
   */
  screen?: () => Promise<Screening>;
}

/** How TCP ends when the tunnel ends: FIN after what was written, or at once (RST if data is pending). */
type TcpEnding = "fin" | "destroy";

/**
 * Pauses a stream while at least one reason holds it (waiting for TCP to
 * connect, a backed-up other side, the bandwidth budget) and resumes it
 * when the last one is released, so one reason cannot resume a stream
 * another still needs paused.
 */
class Valve {
  readonly #holds = new Set<string>();
  readonly #pause: () => void;
  readonly #resume: () => void;

  constructor(pause: () => void, resume: () => void) {
    this.#pause = pause;
    this.#resume = resume;
  }

  holds(reason: string): boolean {
    return this.#holds.has(reason);
  }

  hold(reason: string): void {
    if (this.#holds.size === 0) this.#pause();
    this.#holds.add(reason);
  }

  release(reason: string): void {
    if (this.#holds.delete(reason) && this.#holds.size === 0) this.#resume();
  }
}

/**
 * One live tunnel. It owns its TCP connection; the WebSocket's socket stays
 * the tunnel service's to count and to destroy.
 */
export class Relay {
  readonly #ws: WebSocket;
  readonly #tcp: net.Socket;
  readonly #options: RelayOptions;
  readonly #target: string;
  readonly #startedAt = performance.now();
  /** Bandwidth pauses, cleared when the tunnel ends. */
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  /** Reading TCP (towards the WebSocket), and reading the WebSocket (towards TCP). */
  readonly #tcpReads: Valve;
  readonly #wsReads: Valve;
  #idle: ReturnType<typeof setTimeout> | undefined;
  /** TCP's connect() was called (after the address check, if there is one). */
  #dialed = false;
  #connected = false;
  #finished = false;
  #bytesUp = 0;
  #bytesDown = 0;

  /** Opens the TCP connection and relays until either side ends. */
  constructor(ws: WebSocket, options: RelayOptions) {
    this.#ws = ws;
    this.#options = options;
    const { host, port } = options.destination;
    this.#target = formatHostPort(host, port);
    // writableHighWaterMark makes tcp.write() return false, and "drain" follow,
    // exactly at our high-water mark. net.Socket hands its options to
    // stream.Duplex, which takes it; @types/node does not declare it there.
    // Created unconnected: a `public` destination connects only once checked.
    const socketOptions = { allowHalfOpen: true, writableHighWaterMark: options.highWaterMark };
    this.#tcp = new net.Socket(socketOptions as net.SocketConstructorOpts);
    this.#tcpReads = new Valve(() => this.#tcp.pause(), () => this.#tcp.resume());
    this.#wsReads = new Valve(() => this.#ws.pause(), () => this.#ws.resume());
    this.#wsReads.hold("connecting"); // nothing is relayed until TCP is up
    options.report({ event: "connecting", target: this.#target });
    this.#listen();
    if (options.screen) void options.screen().then(this.#guard((s: Screening) => this.#screened(s)));
    else this.#dial(host);
    if (options.idleTimeoutMs > 0) {
      this.#idle = setTimeout(this.#guard(() => this.end(CloseCode.goingAway, "idle timeout", "destroy")), options.idleTimeoutMs);
    }
  }

  /** Whether the tunnel has ended (its close frame may still be on the way). */
  get finished(): boolean {
    return this.#finished;
  }

  /**
   * Ends the tunnel: TCP ends as asked, and the WebSocket gets `code` after
   * every byte already handed to it.
   */
  end(code: number, reason: string, tcpEnding: TcpEnding): void {
    if (this.#finished) return;
    this.#stop();
    if (tcpEnding === "destroy") this.#tcp.destroy();
    else this.#tcp.end(); // the peer's FIN came first; ours follows (nothing more can come from the WebSocket)
    this.#ws.resume(); // a paused WebSocket could not read the client's close reply
    this.#ws.close(code, closeReason(reason));
    this.#reportClosed(code, reason);
  }

  /** Resets the TCP connection (RST), e.g. to demonstrate truncation; the client sees 4001. */
  kill(): void {
    if (this.#finished) return;
    this.#tcp.resetAndDestroy();
    this.end(CloseCode.tcpFailed, "TCP connection killed by the tunnel operator", "destroy");
  }

  #dial(address: string): void {
    this.#dialed = true;
    // No Nagle: a relay must not hold a small write back waiting for an ACK (ws does the same for the WebSocket side).
    this.#tcp.connect({ host: address, port: this.#options.destination.port, noDelay: true });
    // A destination that drops SYNs would hold the tunnel for the OS's whole retry time (about 2 minutes on Linux).
    const ms = this.#options.connectTimeoutMs;
    const timer = setTimeout(this.#guard(() => {
      this.#timers.delete(timer);
      if (!this.#connected) this.end(CloseCode.tcpUnreachable, `cannot connect to ${this.#target}: timed out after ${ms} ms`, "destroy");
    }), ms);
    this.#timers.add(timer);
    this.#tcp.once("connect", () => {
      clearTimeout(timer);
      this.#timers.delete(timer);
    });
  }

  /** The address check's outcome: connect to the checked address, or end with 1008 (refused) or 4002 (no answer). */
  #screened(s: Screening): void {
    if (this.#finished) return; // the client left, or the idle timeout struck, while it resolved
    if ("failed" in s) return this.end(CloseCode.tcpUnreachable, s.failed, "destroy");
    if ("refused" in s) {
      const reason = `destination not allowed: ${s.refused}`;
      this.#options.report({ event: "refused", target: this.#target, code: CloseCode.policyViolation, reason });
      return this.end(CloseCode.policyViolation, reason, "destroy");
    }
    this.#options.report({ event: "resolved", target: this.#target, address: s.address });
    this.#dial(s.address);
  }

  #listen(): void {
    const tcp = this.#tcp;
    const ws = this.#ws;
    tcp.on("connect", this.#guard(() => {
      this.#connected = true;
      this.#options.report({ event: "connected", target: this.#target });
      this.#wsReads.release("connecting");
    }));
    tcp.on("data", this.#guard((data: Buffer) => this.#towardsWebSocket(data)));
    // FIN from the TCP peer: every byte it sent was handed to ws.send, and
    // the close frame queues behind them.
    tcp.on("end", this.#guard(() => this.end(CloseCode.normal, "", "fin")));
    tcp.on("error", this.#guard((e: NodeJS.ErrnoException) => {
      if (!this.#connected && (e.syscall === "connect" || e.syscall === "getaddrinfo")) {
        this.end(CloseCode.tcpUnreachable, `cannot connect to ${this.#target}: ${describeError(e)}`, "destroy");
      } else {
        this.end(CloseCode.tcpFailed, `TCP connection to ${this.#target} failed: ${describeError(e)}`, "destroy");
      }
    }));
    // A graceful end emits "end" first; a close without it was abrupt.
    tcp.on("close", this.#guard(() => this.end(CloseCode.tcpFailed, `TCP connection to ${this.#target} closed without FIN`, "fin")));

    ws.on("message", this.#guard((data: Buffer, isBinary: boolean) => this.#towardsTcp(data, isBinary)));
    ws.on("close", this.#guard((code: number) => this.#clientClosed(code)));
    // ws reports a client's protocol violation here, then closes (1002/1007/1009).
    ws.on("error", this.#guard((e: Error) => this.#options.report({ event: "protocol-error", target: this.#target, reason: e.message })));
  }

  /** TCP -> WebSocket, in order; stop reading TCP while the WebSocket is backed up or the budget is spent. */
  #towardsWebSocket(data: Buffer): void {
    if (this.#finished) return; // the WebSocket is closing: nothing more goes to it
    this.#touch();
    this.#bytesDown += data.length;
    this.#ws.send(data, { binary: true }, this.#guard(() => this.#afterWebSocketWrite()));
    const buffered = this.#ws.bufferedAmount;
    if (buffered > this.#options.maxBufferedBytes) {
      return this.end(CloseCode.bufferLimit, `buffer limit: more than ${this.#options.maxBufferedBytes} bytes waiting for the WebSocket client`, "destroy");
    }
    if (buffered > this.#options.highWaterMark) this.#tcpReads.hold("backlog");
    this.#throttle(this.#tcpReads, data.length);
  }

  /** Each chunk's send callback: read TCP again once the WebSocket's backlog fell below a quarter of the mark. */
  #afterWebSocketWrite(): void {
    if (this.#tcpReads.holds("backlog") && this.#ws.bufferedAmount <= this.#options.highWaterMark / 4) {
      this.#tcpReads.release("backlog");
    }
  }

  /** WebSocket -> TCP, in order; stop reading the WebSocket while TCP is backed up or the budget is spent. */
  #towardsTcp(data: Buffer, isBinary: boolean): void {
    // TCP is ended or destroyed: drop what the client still sends, and never
    // pause the WebSocket again, or its close reply could not be read.
    if (this.#finished) return;
    this.#touch();
    if (!isBinary) return this.end(CloseCode.unsupportedData, "binary messages only", "destroy");
    this.#bytesUp += data.length;
    const belowMark = this.#tcp.write(data);
    if (this.#tcp.writableLength > this.#options.maxBufferedBytes) {
      return this.end(CloseCode.bufferLimit, `buffer limit: more than ${this.#options.maxBufferedBytes} bytes waiting for ${this.#target}`, "destroy");
    }
    if (!belowMark && !this.#wsReads.holds("backlog")) {
      this.#wsReads.hold("backlog");
      this.#tcp.once("drain", this.#guard(() => this.#wsReads.release("backlog")));
    }
    this.#throttle(this.#wsReads, data.length);
  }

  /** Charges relayed bytes to the bandwidth budget; pauses the reader while it is overdrawn. */
  #throttle(reader: Valve, bytes: number): void {
    const waitMs = this.#options.bandwidth?.take(bytes) ?? 0;
    if (waitMs === 0 || reader.holds("bandwidth")) return;
    reader.hold("bandwidth");
    const timer = setTimeout(this.#guard(() => {
      this.#timers.delete(timer);
      reader.release("bandwidth");
    }), waitMs);
    this.#timers.add(timer);
  }

  /** The client closed the WebSocket first. */
  #clientClosed(code: number): void {
    if (this.#finished) return;
    this.#stop();
    // A normal close ends TCP after every relayed byte (FIN); anything else
    // resets it, as does any close before TCP was dialled (end() would wait
    // for a connect that never comes).
    if ((code === 1000 || code === 1005) && this.#dialed) this.#tcp.end();
    else this.#tcp.destroy();
    this.#reportClosed(code, "the client closed the WebSocket");
  }

  #touch(): void {
    this.#idle?.refresh();
  }

  #stop(): void {
    this.#finished = true;
    clearTimeout(this.#idle);
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
  }

  #reportClosed(code: number, reason: string): void {
    this.#options.report({
      event: "closed", target: this.#target, code, reason,
      bytesUp: this.#bytesUp, bytesDown: this.#bytesDown, durationMs: Math.round(performance.now() - this.#startedAt),
    });
  }

  /** A handler whose exception is reported and ends this tunnel (1011) instead of escaping into the emitter. */
  #guard<A extends unknown[]>(handler: (...args: A) => void): (...args: A) => void {
    return guarded(handler, (e) => {
      this.#options.report({ event: "internal-error", target: this.#target, reason: describeError(e) });
      this.#abort();
    });
  }

  /** Ends everything after an internal error, trying the polite way first. */
  #abort(): void {
    const wasFinished = this.#finished;
    this.#stop();
    this.#tcp.destroy();
    try {
      this.#ws.close(CloseCode.internalError, "internal error");
    } catch {
      this.#ws.terminate();
    }
    if (!wasFinished) this.#reportClosed(CloseCode.internalError, "internal error");
  }
}

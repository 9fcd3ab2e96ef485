/**
 * WebSocket-to-TCP tunnel (Node): one WebSocket per TCP connection, binary
 * frames carry raw bytes, the destination is the URL path `/<host>:<port>`
 * (the "wsproxy" convention). It lets browsers reach TCP hosts, and it is
 * never an open proxy: every destination is denied unless allowed.
 *
 * It is meant to face the Internet, so every resource a client can make it
 * hold is bounded: connections that are not tunnels yet (count, per client
 * address, and a deadline), live tunnels (count, per client address, idle
 * timeout), bytes buffered per tunnel (pause at a high-water mark, close at
 * a hard cap), message size, and optionally total bandwidth. No input may
 * throw out of an event handler: errors are caught, reported as events and
 * end only the connection concerned.
 *
 * Close codes the client sees (see CloseCode in close.ts):
 * ```text
 *   1000 the TCP peer closed (FIN), after every byte it sent was relayed
 *   1001 idle timeout, or the tunnel is shutting down
 *   1003 a text message (binary only)
 *   1008 refused: destination or origin not allowed (for a `public` rule:
 *        an address it resolved to is not public), or a malformed path
 *   1009 a message larger than maxFrameBytes
 *   1011 an internal error (a bug; reported as an "internal-error" event)
 *   1013 too many connections, in total or from this client's address
 *   4001 the TCP connection failed or was reset (the reason says how)
 *   4002 the TCP connection could not be opened, or a `public` rule's
 *        destination could not be resolved (the reason says why)
 *   4003 more than maxBufferedBytes waited for the slower side
 * ```
 *
 * Wisp v1 (when created with `wisp: true`): a WebSocket whose path ends
 * with "/" carries many TCP streams (see wisp-session.ts), each checked
 * against the same allowlist; without the option such a path is refused
 * with 1008.
 *
 * Plain HTTP on the same port: `GET /healthz` answers 200
 * `{"ok":true,"connections":N,"pending":M}` (503 and "ok":false while
 * draining); any other request 426 Upgrade Required.
 *
 * @module openssl-tls-wasm/tunnel
 */
import * as http from "node:http";
import type * as net from "node:net";
import { Duplex } from "node:stream";
import { WebSocket, WebSocketServer } from "ws";
import { CloseCode, closeReason } from "./close.js";
import { formatHostPort, isAllowed, needsAddressCheck, parseDestination, type Destination } from "./destination.js";
import { createReporter, describeError, guarded, type EventFields, type Report } from "./events.js";
import { ClientCounter, clientKey, MAX_TIMER_MS, TokenBucket } from "./limits.js";
import { resolveOptions, type ResolvedOptions, type TunnelOptions } from "./options.js";
import { Relay } from "./relay.js";
import { WISP_STREAM_CREDIT, isWispPath } from "./wisp-packets.js";
import { WispSession } from "./wisp-session.js";
import { addressCheck, screenHost, systemResolver, type ScreenOptions } from "./resolve.js";

export { parseDestination } from "./destination.js";
export { CloseCode, closeReason } from "./close.js";
export { TUNNEL_DEFAULTS, type TunnelOptions } from "./options.js";
export type { TunnelEvent, TunnelEventName } from "./events.js";

/** How to close a tunnel. */
export interface CloseOptions {
  /**
   * Graceful: stop taking new tunnels (they get 1001, /healthz answers 503),
   * let live ones finish for up to this long, then close the rest with 1001
   * "going away". Without it, every connection is dropped at once.
   */
  drainTimeoutMs?: number;
}

/** A running tunnel (createTunnel()). */
export interface Tunnel {
  /** The port it listens on. */
  readonly port: number;
  /** ws://host:port, to which `/<host>:<port>` is appended. */
  readonly url: string;
  /** Live tunnels (including ones whose close handshake is under way); a Wisp WebSocket counts as one. */
  readonly connections: number;
  /** Wisp streams open now, over every Wisp WebSocket (each holds a TCP connection). */
  readonly streams: number;
  /** Connections that are not tunnels: before the upgrade, plain HTTP, refused and closing. */
  readonly pending: number;
  /** Whether a graceful close is under way. */
  readonly draining: boolean;
  /** Drops every TCP connection at once (RST), e.g. to demonstrate truncation. */
  killAll(): void;
  /**
   * Stops the tunnel; resolves once nothing is left. Calling it again while
   * a graceful close runs without `drainTimeoutMs` cuts the drain short.
   */
  close(options?: CloseOptions): Promise<void>;
}

/** How long a close handshake may take before the socket is destroyed (ws's own default is 30 s). */
const CLOSE_HANDSHAKE_TIMEOUT_MS = 5_000;

/**
 * One request per connection: a plain HTTP connection counts as pending
 * until it closes, so it should close right after its answer.
 */
const ONE_SHOT = { Connection: "close" } as const;

/** One accepted client connection, from accept to close. */
interface ClientConnection {
  readonly id: number;
  readonly socket: net.Socket;
  /** What per-client limits count under (see clientKey). */
  readonly key: string;
  /** address:port, for events. */
  readonly client: string;
  /** Pending until it becomes a live tunnel; counted as one or the other until its socket closes. */
  phase: "pending" | "live";
  /** Destroys it if it is not a tunnel by upgradeTimeoutMs after accept. */
  deadline: ReturnType<typeof setTimeout> | undefined;
  relay: Relay | WispSession | undefined;
}


/** Listens and returns the running tunnel. Throws TypeError/RangeError on bad options. */
export async function createTunnel(options: TunnelOptions): Promise<Tunnel> {
  const service = new TunnelService(resolveOptions(options));
  await service.listen();
  return service.api();
}

/**
 * The listening side: accepts sockets and accounts for them (pending, then
 * live, until they close), answers plain HTTP, upgrades and admits
 * WebSockets, and hands each admitted one to a {@link Relay}.
 */
class TunnelService {
  readonly #options: ResolvedOptions;
  readonly #report: Report;
  readonly #server: http.Server;
  readonly #wss: WebSocketServer;
  readonly #bandwidth: TokenBucket | null;
  readonly #screening: ScreenOptions;
  readonly #connections = new Map<net.Socket, ClientConnection>();
  readonly #pendingPerClient = new ClientCounter();
  readonly #livePerClient = new ClientCounter();
  #pending = 0;
  #live = 0;
  /** Live Wisp WebSockets (counted in #live too) and their streams. */
  #wispSessions = 0;
  #wispStreams = 0;
  #nextId = 1;
  #closing: Promise<void> | undefined;
  /** Set while draining: cuts the drain short. */
  #hurry: (() => void) | undefined;
  /** Called whenever a connection closes, for the drain to notice the last one. */
  #onConnectionClosed: (() => void) | undefined;

  constructor(options: ResolvedOptions) {
    this.#options = options;
    this.#report = createReporter(options.onEvent, options.log);
    this.#bandwidth = options.maxBytesPerSecond > 0 ? new TokenBucket(options.maxBytesPerSecond) : null;
    this.#screening = {
      resolve: options.resolve ?? systemResolver,
      whyNot: addressCheck(options.isPublicAddress),
      timeoutMs: options.resolveTimeoutMs,
    };
    this.#server = http.createServer({
      // Node's own slow-request guards, a second line behind our deadline.
      headersTimeout: options.upgradeTimeoutMs,
      requestTimeout: options.upgradeTimeoutMs,
    });
    this.#wss = new WebSocketServer({
      noServer: true,
      clientTracking: false, // we track connections ourselves
      maxPayload: options.maxFrameBytes,
      perMessageDeflate: false, // TLS records do not compress; and no compression oracle
      // A Wisp v1 server must not select a subprotocol (offering one is how a
      // client asks for Wisp v2); a wsproxy path keeps ws's default, the first offered.
      handleProtocols: (protocols: Set<string>, req: http.IncomingMessage) =>
        isWispPath(req.url) ? false : (protocols.values().next().value ?? false),
      // Bounds how long a refused or finished WebSocket can hold its socket
      // by never answering the close frame. In ws 8.23's options, not yet in its types.
      ...{ closeTimeout: CLOSE_HANDSHAKE_TIMEOUT_MS },
    });
    this.#wire();
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen(this.#options.port, this.#options.host, () => {
        this.#server.off("error", reject);
        resolve();
      });
    });
    // After listening, an error (e.g. EMFILE on accept) must not end the process.
    this.#server.on("error", (e) => this.#report({ event: "server-error", reason: describeError(e) }));
  }

  api(): Tunnel {
    const address = this.#server.address() as net.AddressInfo;
    const host = this.#options.host;
    const service = this;
    return {
      port: address.port,
      url: `ws://${host.includes(":") ? `[${host}]` : host}:${address.port}`,
      get connections() {
        return service.#live;
      },
      get streams() {
        return service.#wispStreams;
      },
      get pending() {
        return service.#pending;
      },
      get draining() {
        return service.#closing !== undefined;
      },
      killAll: () => service.#killAll(),
      close: (closeOptions?: CloseOptions) => service.#close(closeOptions),
    };
  }

  #wire(): void {
    const server = this.#server;
    server.on("connection", this.#guard((socket: net.Socket) => this.#accept(socket)));
    server.on("upgrade", this.#guard((req: http.IncomingMessage, socket: Duplex, head: Buffer) =>
      this.#upgrade(req, socket as net.Socket, head)));
    server.on("request", this.#guard((req: http.IncomingMessage, res: http.ServerResponse) => this.#plainHttp(req, res)));
    server.on("clientError", this.#guard((e: NodeJS.ErrnoException, socket: Duplex) => this.#badHttp(e, socket as net.Socket)));
    // ws found the handshake malformed (bad key, version, method...): answer it ourselves, with an event.
    this.#wss.on("wsClientError", this.#guard((e: Error & { code?: string }, socket: Duplex) => {
      const status = /method/i.test(e.message) ? 405 : 400;
      this.#answerAndClose(socket as net.Socket, status, e.message, /Version/.test(e.message) ? { "Sec-WebSocket-Version": "13, 8" } : {});
    }));
    this.#wss.on("error", (e) => this.#report({ event: "server-error", reason: describeError(e) }));
  }

  /** A new TCP connection: admitted as pending (with a deadline) or dropped at once. */
  #accept(socket: net.Socket): void {
    // Errors surface through clientError, ws or the relay, each with an
    // event; this listener only guarantees no "error" is ever unhandled.
    socket.on("error", () => {});
    const id = this.#nextId++;
    const key = clientKey(socket.remoteAddress);
    const client = formatHostPort(socket.remoteAddress ?? "unknown", socket.remotePort ?? 0);
    const refusal = this.#pending >= this.#options.maxPending
      ? `too many pending connections (${this.#options.maxPending})`
      : this.#pendingPerClient.count(key) >= this.#options.maxPendingPerClient
        ? `too many pending connections from ${key} (${this.#options.maxPendingPerClient})`
        : null;
    if (refusal) {
      this.#report({ event: "rejected", id, client, reason: refusal });
      socket.destroy();
      return;
    }
    const connection: ClientConnection = { id, socket, key, client, phase: "pending", deadline: undefined, relay: undefined };
    connection.deadline = setTimeout(this.#guard(() => {
      this.#report({ event: "timeout", id, client, reason: `not a tunnel after ${this.#options.upgradeTimeoutMs} ms` });
      socket.destroy();
    }), this.#options.upgradeTimeoutMs);
    this.#connections.set(socket, connection);
    this.#pending++;
    this.#pendingPerClient.add(key);
    socket.once("close", this.#guard(() => this.#forget(connection)));
  }

  /** The socket closed: it no longer counts, whatever phase it was in. */
  #forget(connection: ClientConnection): void {
    if (!this.#connections.delete(connection.socket)) return;
    clearTimeout(connection.deadline);
    if (connection.phase === "pending") {
      this.#pending--;
      this.#pendingPerClient.remove(connection.key);
    } else {
      this.#live--;
      this.#livePerClient.remove(connection.key);
      if (connection.relay instanceof WispSession) this.#wispSessions--;
    }
    this.#onConnectionClosed?.();
  }

  #upgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
    const connection = this.#connections.get(socket);
    if (!connection || socket.destroyed) {
      socket.destroy();
      return;
    }
    this.#wss.handleUpgrade(req, socket, head, this.#guard((ws: WebSocket) => this.#open(ws, req, connection)));
  }

  /** A WebSocket is open: refuse it with a close code, or make it a live tunnel. */
  #open(ws: WebSocket, req: http.IncomingMessage, connection: ClientConnection): void {
    const { id, client } = connection;
    // First, so a protocol violation during a refusal's close handshake is
    // handled and reported; a tunnel's relay reports its own.
    ws.on("error", (e: Error) => {
      if (!connection.relay) this.#report({ event: "protocol-error", id, client, reason: e.message });
    });
    if (!this.#connections.has(connection.socket)) {
      ws.terminate(); // it timed out or closed while upgrading
      return;
    }
    const admission = this.#admission(req, connection);
    if ("refused" in admission) {
      const { code, reason } = admission.refused;
      this.#report({ event: "refused", id, client, code, reason });
      ws.close(code, closeReason(reason));
      return; // it stays pending, under its deadline, until its socket closes
    }
    clearTimeout(connection.deadline);
    connection.phase = "live";
    this.#pending--;
    this.#pendingPerClient.remove(connection.key);
    this.#live++;
    this.#livePerClient.add(connection.key);
    const report = (fields: EventFields) => this.#report({ id, client, ...fields });
    if ("wisp" in admission) {
      this.#wispSessions++;
      const o = this.#options;
      connection.relay = new WispSession(ws, {
        rules: o.rules,
        credit: WISP_STREAM_CREDIT,
        maxStreams: o.maxStreamsPerConnection,
        idleTimeoutMs: o.idleTimeoutMs,
        connectTimeoutMs: o.connectTimeoutMs,
        highWaterMark: o.highWaterMark,
        maxBufferedBytes: o.maxBufferedBytes,
        bandwidth: this.#bandwidth,
        report,
        screen: (host) => screenHost(host, this.#screening),
        acquire: () => {
          if (this.#outbound() >= o.maxConnections) return false;
          this.#wispStreams++;
          return true;
        },
        release: () => void this.#wispStreams--,
        draining: () => this.#closing !== undefined,
      });
      return;
    }
    const { destination, checkAddress } = admission;
    connection.relay = new Relay(ws, {
      destination,
      // Counted live while it resolves: lookups in flight are bounded by maxConnections.
      screen: checkAddress ? () => screenHost(destination.host, this.#screening) : undefined,
      idleTimeoutMs: this.#options.idleTimeoutMs,
      connectTimeoutMs: this.#options.connectTimeoutMs,
      highWaterMark: this.#options.highWaterMark,
      maxBufferedBytes: this.#options.maxBufferedBytes,
      bandwidth: this.#bandwidth,
      report,
    });
  }

  /** Where this WebSocket may tunnel to, or why it may not (in the order the checks are made). */
  #admission(req: http.IncomingMessage, connection: ClientConnection):
    { destination: Destination; checkAddress: boolean } | { wisp: true } | { refused: { code: number; reason: string } } {
    const o = this.#options;
    const refuse = (code: number, reason: string) => ({ refused: { code, reason } });
    if (this.#closing) return refuse(CloseCode.goingAway, "the tunnel is shutting down");
    const origin = req.headers.origin;
    if (o.origins && (!origin || !o.origins.has(origin))) {
      return refuse(CloseCode.policyViolation, `origin not allowed: ${origin === undefined ? "(none)" : JSON.stringify(origin)}`);
    }
    const limits = () => this.#live >= o.maxConnections
      ? refuse(CloseCode.tryAgainLater, `too many connections (${o.maxConnections})`)
      : this.#livePerClient.count(connection.key) >= o.maxConnectionsPerClient
        ? refuse(CloseCode.tryAgainLater, `too many connections from ${connection.key} (${o.maxConnectionsPerClient})`)
        : null;
    if (isWispPath(req.url)) {
      if (!o.wisp) return refuse(CloseCode.policyViolation, "Wisp is not enabled on this tunnel (a path ending with \"/\")");
      return limits() ?? { wisp: true };
    }
    const destination = parseDestination(req.url ?? "");
    if (!destination) {
      return refuse(CloseCode.policyViolation, `malformed destination path ${JSON.stringify(req.url)}: want /<host>:<port>`);
    }
    // A name an exact or subdomains rule allows goes as it is; otherwise a
    // public rule may take it, once its addresses are checked (in the relay).
    const checkAddress = !isAllowed(o.rules, destination);
    if (checkAddress && !needsAddressCheck(o.rules, destination)) {
      return refuse(CloseCode.policyViolation, `destination not allowed: ${formatHostPort(destination.host, destination.port)}`);
    }
    if (this.#outbound() >= o.maxConnections) return refuse(CloseCode.tryAgainLater, `too many connections (${o.maxConnections})`);
    return limits() ?? { destination, checkAddress };
  }

  /**
   * TCP connections to destinations: one per wsproxy tunnel, one per Wisp
   * stream. maxConnections bounds these and, separately, live WebSockets.
   */
  #outbound(): number {
    return this.#live - this.#wispSessions + this.#wispStreams;
  }

  /** A request without an upgrade: /healthz, or 426 for anything else; then the connection closes. */
  #plainHttp(req: http.IncomingMessage, res: http.ServerResponse): void {
    req.on("error", () => {}); // an aborted request is the socket's business
    const path = (req.url ?? "").replace(/[?#].*$/, "");
    if (req.method === "GET" && path === "/healthz") {
      const draining = this.#closing !== undefined;
      const body = JSON.stringify({ ok: !draining, ...(draining ? { draining } : {}), connections: this.#live, pending: this.#pending });
      res.writeHead(draining ? 503 : 200, { ...ONE_SHOT, "Content-Type": "application/json", "Cache-Control": "no-store" }).end(`${body}\n`);
      return;
    }
    const connection = this.#connections.get(req.socket as net.Socket);
    this.#report({ event: "http", id: connection?.id, client: connection?.client, status: 426,
      reason: closeReason(`${req.method} ${JSON.stringify(req.url)}`) });
    res.writeHead(426, { ...ONE_SHOT, "Content-Type": "text/plain", Upgrade: "websocket" })
      .end("This is a WebSocket-to-TCP tunnel: connect with a WebSocket to /<host>:<port>\n");
  }

  /** Node's HTTP parser rejected the request (or the socket failed before one was complete). */
  #badHttp(e: NodeJS.ErrnoException, socket: net.Socket): void {
    const status = e.code === "HPE_HEADER_OVERFLOW" ? 431 : e.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : 400;
    if (e.code === "ECONNRESET" || e.code === "EPIPE" || !socket.writable) {
      socket.destroy();
      return;
    }
    this.#answerAndClose(socket, status, describeError(e));
  }

  /** Writes a minimal HTTP error response on a raw socket and closes it. */
  #answerAndClose(socket: net.Socket, status: number, reason: string, headers: Record<string, string> = {}): void {
    const connection = this.#connections.get(socket);
    this.#report({ event: "bad-request", id: connection?.id, client: connection?.client, status, reason: closeReason(reason) });
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("");
    socket.once("finish", () => socket.destroy());
    socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nConnection: close\r\nContent-Length: 0\r\n${extra}\r\n`);
  }

  #killAll(): void {
    for (const { relay } of [...this.#connections.values()]) relay?.kill();
  }

  #close(options: CloseOptions | undefined): Promise<void> {
    const drainTimeoutMs = options?.drainTimeoutMs;
    if (drainTimeoutMs !== undefined && (!Number.isInteger(drainTimeoutMs) || drainTimeoutMs < 0 || drainTimeoutMs > MAX_TIMER_MS)) {
      return Promise.reject(new RangeError(`tunnel: drainTimeoutMs must be an integer from 0 to ${MAX_TIMER_MS}, got ${drainTimeoutMs}`));
    }
    if (this.#closing) {
      if (drainTimeoutMs === undefined) this.#hurry?.();
      return this.#closing;
    }
    this.#closing = drainTimeoutMs === undefined ? this.#stopNow() : this.#drain(drainTimeoutMs);
    return this.#closing;
  }

  /** Graceful: live tunnels may finish for up to drainTimeoutMs; the rest get 1001. */
  async #drain(drainTimeoutMs: number): Promise<void> {
    this.#report({ event: "draining", connections: this.#live, pending: this.#pending, reason: `for up to ${drainTimeoutMs} ms` });
    const hurried = new Promise<void>((resolve) => (this.#hurry = resolve));
    // A Wisp WebSocket with no stream open goes now; the others once their last stream ends.
    for (const { relay } of [...this.#connections.values()]) if (relay instanceof WispSession) relay.drainCheck();
    await Promise.race([this.#until(() => this.#live === 0), delay(drainTimeoutMs), hurried]);
    for (const { relay } of this.#connections.values()) relay?.end(CloseCode.goingAway, "going away: the tunnel is shutting down", "destroy");
    // Close handshakes (ours and refusals in flight) get a moment before the sockets go.
    await Promise.race([this.#until(() => this.#live === 0), delay(CLOSE_HANDSHAKE_TIMEOUT_MS), hurried]);
    await this.#stopNow();
  }

  /** Drops every connection and stops listening. */
  async #stopNow(): Promise<void> {
    const stopped = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const { socket, relay } of [...this.#connections.values()]) {
      relay?.end(CloseCode.goingAway, "the tunnel stopped", "destroy");
      socket.destroy();
    }
    await stopped;
    this.#report({ event: "stopped", connections: this.#live, pending: this.#pending });
  }

  /** Resolves once `condition` holds, checked after each connection closes. */
  #until(condition: () => boolean): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (!condition()) return;
        this.#onConnectionClosed = undefined;
        resolve();
      };
      this.#onConnectionClosed = check;
      check();
    });
  }

  /**
   * A server-level handler whose exception is reported, and whose connection
   * (a socket, request, response or WebSocket among its arguments) is
   * destroyed, instead of the exception ending the process.
   */
  #guard<A extends unknown[]>(handler: (...args: A) => void): (...args: A) => void {
    return guarded(handler, (e, args) => {
      this.#report({ event: "internal-error", reason: describeError(e) });
      for (const arg of args) destroyConnectionOf(arg);
    });
  }
}

/** Destroys the connection a handler argument belongs to, if it belongs to one. */
function destroyConnectionOf(arg: unknown): void {
  if (arg instanceof WebSocket) arg.terminate();
  else if (arg instanceof http.IncomingMessage) arg.socket.destroy();
  else if (arg instanceof http.ServerResponse) arg.socket?.destroy();
  else if (arg instanceof Duplex) arg.destroy();
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

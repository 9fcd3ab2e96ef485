/**
 * TlsSocket: an async TLS connection over any Transport, on the synchronous
 * engine. It only pumps bytes: every decision is OpenSSL's, and the results
 * of the OpenSSL calls it makes are reported as they were.
 *
 * - A slow reader stops the transport being read (input is pulled only when
 *   an OpenSSL call wants it, and handed to OpenSSL at most FEED_LIMIT bytes
 *   at a time, so a peer's bytes never pile up in the wasm heap); a slow
 *   transport stops writes (each write waits for the transport to accept
 *   its records).
 * - Ending `writable` sends close_notify (half-close); `readable` ends on
 *   the peer's close_notify, and errors with TlsTruncationError when the
 *   transport ends without one (unless the context ignores unexpected EOF).
 * @see https://docs.openssl.org/3.5/man3/SSL_shutdown/
 */
import * as C from "./generated/constants.js";
import type {
  CertificateSummary, Connection, ConnectionInfo, ConnectionOptions, ProtocolMessage, Result, ShutdownState,
} from "./engine/connection.js";
import type { Context, ContextOptions } from "./engine/context.js";
import { OpenSSLError } from "./engine/errors.js";
import { OpenSSL } from "./engine/openssl.js";
import type { Session } from "./engine/session.js";
import { contextCacheOf, shareKey } from "./context-cache.js";
import { sessionCacheOf, sessionReuse } from "./session-cache.js";
import { iterable, type IterableReadableStream } from "./transports/iterable.js";
import { toBytes, type Transport } from "./transports/types.js";
import {
  CertificateVerificationError, TlsClosedError, TlsHandshakeError, TlsTimeoutError, TlsTruncationError, type Ending,
} from "./errors.js";

export type { Transport, Ending };

export interface TlsSocketOptions extends Partial<Omit<ContextOptions, "role">> {
  /**
   * A context to use (its role must match). Otherwise the socket makes one
   * from the other options: a client whose options are plain data with no
   * private key shares it with other such sockets with equal options (kept
   * for the next one when unused: TlsSocket.clearContextCache()); a server,
   * or a client with a key, SNI table or callbacks, owns its own.
   */
  context?: Context;
  /** The OpenSSL instance (default: OpenSSL.load()). */
  openssl?: OpenSSL;
  /** Client: SNI and the name the certificate must match. */
  servername?: string;
  /** Client: check the certificate against this name instead of `servername`. */
  host?: string;
  /** Client: resume this session. */
  session?: Session;
  /**
   * Clients on a context of their own (no `context` given): resume the last
   * session kept from an earlier connection with the same options to the same
   * server name, and keep this connection's sessions for the next one.
   * Default true (reconnects are abbreviated handshakes); false: always a
   * full handshake. See TlsSocket.clearSessionCache().
   */
  reuseSessions?: boolean;
  /**
   * Keep the connection's session when it ends (in `closed`), for a later
   * resumption. The caller then owns it: dispose() it.
   */
  keepSession?: boolean;
  /** Every step of the connection's life, as it happens (for timelines and logs). */
  onTrace?: (event: TraceEvent) => void;
  /**
   * Inspect each certificate of the peer's chain as OpenSSL verifies it and
   * decide (see Connection's onVerify); default: OpenSSL's verdict.
   */
  onVerify?: ConnectionOptions["onVerify"];
  /** Clients: each new session (TLS 1.3 ticket) as it arrives; the listener owns it. */
  onSession?: ConnectionOptions["onSession"];
  /**
   * Milliseconds the handshake may take, from connect()/accept() to its end
   * (default 30000; 0: no limit). Beyond it the transport is closed and the
   * promise rejects with TlsTimeoutError (phase "handshake"): a peer that
   * sends half a ClientHello and stops holds nothing for long.
   */
  handshakeTimeout?: number;
  /**
   * Milliseconds without any byte received or written by the application
   * after which the connection is destroyed with TlsTimeoutError (phase
   * "idle"; the peer sees the transport close without close_notify).
   * Default 0: no limit (like Node's sockets; servers should set one).
   */
  idleTimeout?: number;
  /**
   * Aborting it destroys the socket (no close_notify): during the handshake
   * connect()/accept() rejects with the signal's reason, afterwards the
   * readable errors with it.
   */
  signal?: AbortSignal;
}

/** A step in a connection's life, reported to `onTrace`. */
export type TraceEvent =
  | { type: "handshake"; ms: number }
  /** An OpenSSL call whose result matters to how the connection ends. */
  | { type: "call"; call: "SSL_shutdown" | "SSL_read"; ret: number; error: string; reason?: string; state: ShutdownState }
  /** An alert sent or received (close_notify is one), from OpenSSL's message callback. */
  | { type: "alert"; direction: "sent" | "received"; level: "warning" | "fatal"; name: string }
  /** The transport: its end of input ("eof"), an error, or our closing it. */
  | { type: "transport"; event: "eof" | "error" | "closed" | "aborted"; detail?: string }
  | { type: "closed"; ending: Ending; state: ShutdownState };

export interface CloseInfo {
  ending: Ending;
  /** SSL_get_shutdown at the end. */
  state: ShutdownState;
  /** The error, for "truncated" and "error". */
  error?: Error;
  /** With `keepSession`: the session as it ended (resumable only after a clean end). Dispose it. */
  session?: Session;
}

export type ShutdownMode = "unidirectional" | "bidirectional" | "quiet";

/** One OpenSSL call made while shutting down, with what it returned. */
export interface ShutdownStep extends Result {
  call: "SSL_shutdown" | "SSL_read";
  state: ShutdownState;
  /** For SSL_read: bytes of application data it returned (delivered to `readable`). */
  bytes?: number;
}

export interface ShutdownReport {
  mode: ShutdownMode;
  /** The last SSL_shutdown's return value: 0 (one-way: sent), 1 (complete). */
  ret: number;
  steps: ShutdownStep[];
  ending: Ending;
}

const CHUNK = 16384;
/**
 * Most bytes of transport input handed to OpenSSL at once: more than one
 * whole record (at most 18 KiB + 5), so every read can make progress, and the
 * rest of a large transport chunk waits in JS until OpenSSL wants it.
 */
const FEED_LIMIT = 32 * 1024;
const DEFAULT_HANDSHAKE_TIMEOUT = 30_000;
/** How long closing the transport may take before the socket stops waiting for it. */
const TRANSPORT_CLOSE_GRACE = 10_000;
const EMPTY = new Uint8Array(0);

function timeoutOption(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (Number.isSafeInteger(value) && value >= 0) return value;
  throw new RangeError(`${name} must be a non-negative integer number of milliseconds (0: none), got ${String(value)}`);
}

function asError(reason: unknown): Error {
  return reason instanceof Error ? reason : new Error(String(reason));
}

/** Sessions waiting for nextSession(), and its callers waiting for sessions. */
interface SessionInbox {
  waiters: ((s: Session) => void)[];
  unclaimed: Session | undefined;
}

/** A user callback that must not break the socket if it throws. */
function safe<T>(fn: (e: T) => void): (e: T) => void {
  return (e) => {
    try {
      fn(e);
    } catch (err) {
      console.error("openssl-wasm: an onTrace callback threw", err);
    }
  };
}

export class TlsSocket {
  /** Connects as a client: resolves once the handshake completed. */
  static connect(transport: Transport, options: TlsSocketOptions = {}): Promise<TlsSocket> {
    return TlsSocket.#open("client", transport, options);
  }

  /** Accepts as a server: resolves once the handshake completed. */
  static accept(transport: Transport, options: TlsSocketOptions = {}): Promise<TlsSocket> {
    return TlsSocket.#open("server", transport, options);
  }

  static async #open(role: "client" | "server", transport: Transport, options: TlsSocketOptions): Promise<TlsSocket> {
    if (!transport || !(transport.readable instanceof ReadableStream) || !(transport.writable instanceof WritableStream)) {
      throw new TypeError("transport must be { readable: ReadableStream, writable: WritableStream }");
    }
    const {
      context, openssl, servername, host, session, reuseSessions, keepSession, onTrace, onVerify, onSession,
      handshakeTimeout, idleTimeout, signal, ...contextOptions
    } = options;
    const limits = {
      handshake: timeoutOption("handshakeTimeout", handshakeTimeout, DEFAULT_HANDSHAKE_TIMEOUT),
      idle: timeoutOption("idleTimeout", idleTimeout, 0),
    };
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw new TypeError("signal must be an AbortSignal");
    signal?.throwIfAborted();
    let ctx = context;
    let ownsContext = false;
    let releaseContext: (() => void) | undefined;
    if (ctx) {
      if (ctx.role !== role) throw new TypeError(`the context is a ${ctx.role} context; ${role === "client" ? "connect" : "accept"} needs a ${role} one`);
    } else {
      const ossl = openssl ?? await OpenSSL.load();
      // A client with no `ca` trusts the default root store (loaded now, once).
      if (role === "client" && contextOptions.ca === undefined) await OpenSSL.loadDefaultRoots();
      // Its own client contexts collect sessions (nextSession; single-use TLS 1.3 tickets).
      const make = () => ossl.createContext({ ...(role === "client" ? { collectSessions: true } : {}), ...contextOptions, role });
      // Clients with equal plain-data options (no private key) share one (context-cache.ts).
      const key = role === "client" ? shareKey(contextOptions as Record<string, unknown>) : undefined;
      if (key !== undefined) {
        const lease = contextCacheOf(ossl).acquire(key, make);
        ctx = lease.context;
        releaseContext = lease.release;
      } else {
        const own = make();
        ctx = own;
        releaseContext = () => own.dispose();
      }
      ownsContext = true;
    }
    let conn: Connection;
    const trace = onTrace ? safe(onTrace) : undefined;
    const socketRef: SessionInbox = { waiters: [], unclaimed: undefined };
    const reuse = role === "client" && ownsContext && reuseSessions !== false
      ? sessionReuse(ctx.ossl, contextOptions, servername, host) : undefined;
    const resume = session ?? reuse?.take();
    try {
      conn = ctx.createConnection({
        servername, host, session: resume, trace: true, ...(onVerify ? { onVerify } : {}),
        // Sessions go to the listener, else to whoever awaits nextSession(),
        // else they wait for it (the newest one only); the reuse cache keeps its own reference.
        ...(ctx.collectsSessions || onSession ? {
          onSession: (s: Session) => {
            reuse?.offer(s);
            if (onSession) onSession(s);
            else if (socketRef.waiters.length) socketRef.waiters.shift()!(s);
            else {
              socketRef.unclaimed?.dispose();
              socketRef.unclaimed = s;
            }
          },
        } : {}),
        ...(trace ? {
          onMessage: (m: ProtocolMessage) => {
            if (m.alert) {
              trace({ type: "alert", direction: m.direction, level: m.alert.level === 2 ? "fatal" : "warning", name: m.alert.name });
            }
          },
        } : {}),
      });
    } catch (e) {
      releaseContext?.();
      throw e;
    } finally {
      if (resume !== session) resume?.dispose(); // the connection holds its own reference (SSL_set_session)
    }
    const socket = new TlsSocket(transport, conn, releaseContext, trace, keepSession === true, socketRef);
    socket.#idleTimeout = limits.idle;
    socket.#watch(signal);
    const started = Date.now();
    await socket.#handshake(limits.handshake);
    reuse?.established(conn);
    trace?.({ type: "handshake", ms: Date.now() - started });
    return socket;
  }

  /**
   * Forgets the sessions TlsSocket clients kept for resumption (reuseSessions)
   * on this OpenSSL instance (default: the memoized one), e.g. when a user
   * logs out or the trust configuration changes.
   */
  static async clearSessionCache(openssl?: OpenSSL): Promise<void> {
    sessionCacheOf(openssl ?? await OpenSSL.load()).clear();
  }

  /**
   * Disposes the client contexts TlsSocket keeps for sockets made without a
   * `context` (shared between sockets with equal plain-data options; the
   * most recently used few are kept after their sockets end) on this OpenSSL
   * instance (default: the memoized one). Contexts still in use stay until
   * their sockets end. Returns how many contexts are left (those in use).
   */
  static async clearContextCache(openssl?: OpenSSL): Promise<number> {
    const cache = contextCacheOf(openssl ?? await OpenSSL.load());
    cache.clear();
    return cache.stats.contexts;
  }

  readonly #conn: Connection;
  /** Gives back the context the socket made or borrowed for itself (none when the caller passed one). */
  readonly #releaseContext: (() => void) | undefined;
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  #input: Promise<void> | null = null;
  /** The part of the last transport chunk not handed to OpenSSL yet. */
  #inbox: Uint8Array = EMPTY;
  #outputError: unknown;
  #inputEnded = false;
  #transportError: unknown;
  /** We sent close_notify (tracked here: OpenSSL may clear SSL_SENT_SHUTDOWN, scenario 16). */
  #sentCloseNotify = false;
  #peerClosed = false;
  #fatal: Error | undefined;
  #ending: CloseInfo | undefined;
  #readableDone = false;
  #shutdownRunning: Promise<ShutdownReport> | undefined;
  #inShutdown = false;
  /** The readable's SSL_read in progress, if any (shutdown() lets it finish rather than race it). */
  #pulling: Promise<Result | undefined> | null = null;
  /** shutdown({ acceptEof }) is waiting: the transport ending after our close_notify answers it. */
  #acceptEof = false;
  /** The transport ended after our close_notify without the peer's, and acceptEof took that as the answer. */
  #eofAnswered = false;
  /** The transport had already ended when our close_notify went out: that EOF cannot be an answer to it. */
  #eofBeforeCloseNotify = false;
  /** What the handshake negotiated, and the peer's chain (kept once read, and at the end: the SSL object is freed). */
  #info: ConnectionInfo | undefined;
  #chain: CertificateSummary[] | undefined;
  #established = false;
  #idleTimeout = 0;
  #lastActivity = 0;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  #unwatch: (() => void) | undefined;
  /** Settles when the socket ends, so no wait on a stuck transport outlives it. */
  #markEnded!: () => void;
  readonly #ended = new Promise<void>((resolve) => (this.#markEnded = resolve));
  #resolveClosed!: (info: CloseInfo) => void;
  #handshakeSettled!: () => void;
  readonly #handshaken = new Promise<void>((resolve) => (this.#handshakeSettled = resolve));
  #readController!: ReadableStreamDefaultController<Uint8Array>;

  /** Decrypted bytes from the peer. Ends on its close_notify. `for await` reads it in every engine. */
  readonly readable: IterableReadableStream<Uint8Array>;
  /** Bytes to send. Closing it sends close_notify. */
  readonly writable: WritableStream<Uint8Array>;
  /** Settles once the connection is over (never rejects), with how it ended. */
  readonly closed: Promise<CloseInfo>;

  readonly #trace: ((e: TraceEvent) => void) | undefined;
  readonly #keepSession: boolean;

  readonly #sessions: SessionInbox;

  private constructor(transport: Transport, conn: Connection, releaseContext: (() => void) | undefined,
    trace: ((e: TraceEvent) => void) | undefined, keepSession: boolean, sessions: SessionInbox) {
    this.#sessions = sessions;
    this.#conn = conn;
    this.#releaseContext = releaseContext;
    this.#trace = trace;
    this.#keepSession = keepSession;
    this.#reader = transport.readable.getReader();
    this.#writer = transport.writable.getWriter();
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    this.readable = iterable(new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#readController = controller;
      },
      pull: (controller) => this.#pull(controller),
      cancel: () => {
        this.#readableDone = true;
      },
    }, { highWaterMark: 1 }));
    this.writable = new WritableStream<Uint8Array>({
      write: (chunk) => this.#write(chunk),
      close: async () => {
        await this.shutdown({ mode: "unidirectional", keepTransport: true });
      },
      abort: (reason) => this.#fail(reason instanceof Error ? reason : new Error(String(reason)), true),
    });
  }

  /** What the handshake negotiated (still readable after the end). */
  get info(): ConnectionInfo {
    return this.#info ??= this.#conn.info;
  }

  /** The certificate chain the peer sent (see Connection.peerChain; still readable after the end). */
  get peerChain(): CertificateSummary[] {
    return this.#chain ??= this.#conn.peerChain;
  }

  /** SSL_get_shutdown. */
  get shutdownState(): ShutdownState {
    return this.#stateNow();
  }

  /** The session (for resumption), once established. The caller owns it. */
  get session(): Session | null {
    return this.#conn.session;
  }

  /**
   * Clients: the newest session OpenSSL established that nobody took yet,
   * or else the next one (TLS 1.3: NewSessionTickets are read as the
   * readable is, which starts as soon as the handshake is done). The caller
   * owns it. Rejects if the connection ends first. (Not with an onSession
   * listener, which takes them all.)
   */
  nextSession(): Promise<Session> {
    if (!this.#conn.context.collectsSessions) {
      return Promise.reject(new TypeError("nextSession needs a client context created with collectSessions: true"));
    }
    const inbox = this.#sessions;
    if (inbox.unclaimed) {
      const s = inbox.unclaimed;
      inbox.unclaimed = undefined;
      return Promise.resolve(s);
    }
    if (this.#ending) return Promise.reject(new Error("the connection is over: no more sessions"));
    return new Promise((resolve, reject) => {
      inbox.waiters.push(resolve);
      void this.closed.then(() => {
        const i = inbox.waiters.indexOf(resolve);
        if (i >= 0) {
          inbox.waiters.splice(i, 1);
          reject(new Error("the connection ended before a new session arrived"));
        }
      });
    });
  }

  /** The engine connection underneath (for inspection; do not drive it yourself). */
  get connection(): Connection {
    return this.#conn;
  }

  // ---- pumping

  /**
   * Sends whatever OpenSSL has written; the bytes are queued in call order.
   * A transport that no longer takes bytes is remembered (#outputError):
   * reading may go on (the peer may still be sending), writing may not.
   */
  async #flush(): Promise<void> {
    if (this.#outputError !== undefined) {
      this.#conn.drain(); // nowhere to send it
      return;
    }
    const out = this.#conn.drain();
    if (!out.length) return;
    try {
      await this.#writer.write(out);
    } catch (e) {
      this.#outputError = e ?? new Error("the transport stopped accepting bytes");
    }
  }

  /**
   * Hands OpenSSL more input: the rest of the last transport chunk, up to
   * FEED_LIMIT bytes, or else the next chunk (one read shared by all waiters).
   */
  #moreInput(): Promise<void> {
    if (this.#inbox.length) {
      this.#feedInbox();
      return Promise.resolve();
    }
    if (this.#inputEnded) return Promise.resolve();
    this.#input ??= this.#reader.read().then(
      ({ value, done }) => {
        if (this.#conn.disposed) return; // the socket ended while the read was pending
        if (done) {
          this.#inputEnded = true;
          this.#trace?.({ type: "transport", event: "eof" });
          this.#conn.transportClosed(); // every received byte was fed: EOF from here on
        } else {
          this.#inbox = toBytes(value);
          this.#lastActivity = Date.now();
          this.#feedInbox();
        }
      },
      (e: unknown) => {
        if (this.#conn.disposed) return;
        this.#inputEnded = true;
        this.#transportError = e;
        this.#trace?.({ type: "transport", event: "error", detail: String((e as Error)?.message ?? e) });
        this.#conn.transportClosed();
      },
    ).finally(() => {
      this.#input = null;
    });
    return this.#input;
  }

  /**
   * Feeds the inbox, keeping OpenSSL's unread input within FEED_LIMIT. (It
   * wants input only when it lacks a whole record, so there is always room;
   * were there none, a little more is fed so the call makes progress, and
   * the engine's inputCapacity still bounds it.)
   */
  #feedInbox(): void {
    const room = Math.max(FEED_LIMIT - this.#conn.pendingInput, 4096);
    const n = Math.min(room, this.#inbox.length);
    this.#conn.feed(this.#inbox.subarray(0, n));
    this.#inbox = this.#inbox.subarray(n);
  }

  /**
   * Runs one OpenSSL call until it no longer wants I/O, flushing its output.
   * Throws TlsClosedError if the socket ends while it waits (a timeout,
   * destroy(), a shutdown that closed the transport): the SSL object is gone.
   */
  async #drive<R extends Result>(op: () => R): Promise<R> {
    for (let spins = 0; ; spins++) {
      this.#assertOpen();
      const r = op();
      await Promise.race([this.#flush(), this.#ended]);
      this.#assertOpen();
      if (r.error === "want_write") continue; // memory BIOs accept everything once flushed
      if (r.error !== "want_read") return r;
      if (this.#inputEnded && !this.#inbox.length && spins > 2) return r; // cannot happen with an EOF-marked BIO; never spin
      await Promise.race([this.#moreInput(), this.#ended]);
    }
  }

  #assertOpen(): void {
    if (this.#ending) throw this.#fatal ?? new TlsClosedError(this.#ending.ending);
  }

  async #handshake(timeoutMs: number): Promise<void> {
    const timer = timeoutMs > 0
      ? setTimeout(() => void this.#fail(new TlsTimeoutError("handshake", timeoutMs), true), timeoutMs)
      : undefined;
    try {
      await this.#handshakeSteps();
      this.#established = true;
      this.#lastActivity = Date.now();
      this.#armIdleTimer();
    } catch (e) {
      throw this.#fatal ?? e; // a timeout or abort ended it first: that is the reason
    } finally {
      clearTimeout(timer);
      this.#handshakeSettled();
    }
  }

  /** Destroys the socket once `idleTimeout` passes with no byte received or written. */
  #armIdleTimer(): void {
    if (!this.#idleTimeout || this.#ending) return;
    const left = this.#lastActivity + this.#idleTimeout - Date.now();
    this.#idleTimer = setTimeout(() => {
      if (Date.now() - this.#lastActivity >= this.#idleTimeout) void this.#fail(new TlsTimeoutError("idle", this.#idleTimeout), true);
      else this.#armIdleTimer();
    }, Math.max(left, 1));
  }

  /** Aborting `signal` destroys the socket. */
  #watch(signal: AbortSignal | undefined): void {
    if (!signal) return;
    const onAbort = () => void this.#fail(asError(signal.reason), true);
    if (signal.aborted) return onAbort(); // while the socket was being set up
    signal.addEventListener("abort", onAbort, { once: true });
    this.#unwatch = () => signal.removeEventListener("abort", onAbort);
  }

  async #handshakeSteps(): Promise<void> {
    const conn = this.#conn;
    const r = await this.#drive(() => conn.handshake());
    if (r.ret === 1) return;
    const verify = conn.info.verifyResult;
    let error: Error;
    if (conn.context.ocsp === "require" && conn.ocspStatus !== undefined && conn.ocspStatus !== "good") {
      const revoked = conn.ocspStatus === "revoked";
      error = new CertificateVerificationError(revoked ? C.X509_V_ERR_CERT_REVOKED : C.X509_V_ERR_OCSP_VERIFY_FAILED,
        revoked ? "certificate revoked (stapled OCSP response)" : `no valid OCSP response stapled (${conn.ocspStatus})`,
        undefined, { cause: r.failure });
    } else if (r.failure?.reason === C.SSL_R_CERTIFICATE_VERIFY_FAILED && verify !== C.X509_V_OK) {
      error = new CertificateVerificationError(verify, conn.info.verifyResultString, conn.verifyFailure, { cause: r.failure });
    } else if (r.error === "zero_return" || r.failure?.reason === C.SSL_R_UNEXPECTED_EOF_WHILE_READING) {
      // Scenario 17: with IGNORE_UNEXPECTED_EOF OpenSSL says ZERO_RETURN here; it is still a failed handshake.
      const why = this.#transportError === undefined ? "" : `: ${(this.#transportError as Error)?.message ?? this.#transportError}`;
      error = new TlsHandshakeError(`the transport closed during the handshake${why}`, { cause: this.#transportError ?? r.failure });
    } else {
      error = new TlsHandshakeError(`handshake failed: ${r.failure?.message ?? r.error}`, { cause: r.failure });
    }
    await this.#fail(error);
    throw error;
  }

  async #pull(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    // The stream asks for data as soon as it exists; SSL_read must not run
    // (and take over the handshake and its errors) before the handshake is done.
    await this.#handshaken;
    if (this.#fatal) {
      controller.error(this.#fatal);
      return;
    }
    if (this.#ending || this.#peerClosed || this.#eofAnswered) return; // nothing more will come
    const step = this.#pullStep(controller);
    const settled = step.then((r) => r, () => undefined);
    this.#pulling = settled;
    try {
      await step;
    } catch (e) {
      // The socket ended while this read waited: #finish/#fail already ended the readable.
      if (!this.#ending) throw e;
    } finally {
      if (this.#pulling === settled) this.#pulling = null;
    }
  }

  /** One SSL_read for the readable, and what its result means. */
  async #pullStep(controller: ReadableStreamDefaultController<Uint8Array>): Promise<Result> {
    const r = await this.#drive(() => this.#conn.read(CHUNK));
    if (r.ret > 0) controller.enqueue(r.data);
    else this.#onReadEnd(r);
    return r;
  }

  /** Reports an OpenSSL call to onTrace. */
  #traceCall(call: "SSL_shutdown" | "SSL_read", r: Result): void {
    if (!this.#trace) return;
    this.#trace({ type: "call", call, ret: r.ret, error: r.error, state: this.#conn.shutdownState,
      ...(r.failure ? { reason: r.failure.reasonString } : {}) });
  }

  /** A read that returned <= 0: the peer's close_notify, truncation, or a fatal error. */
  #onReadEnd(r: Result): void {
    this.#traceCall("SSL_read", r);
    if (r.error === "zero_return") {
      this.#peerClosed = true;
      this.#closeReadable();
      // Both close_notifys exchanged outside shutdown() (writable closed, peer answered): done.
      if (this.#sentCloseNotify && !this.#inShutdown) void this.#finish(this.#conn.closeNotifyReceived > 0 ? "clean" : "truncated");
      return;
    }
    const eof = r.failure?.reason === C.SSL_R_UNEXPECTED_EOF_WHILE_READING;
    if (eof && this.#acceptEof && this.#sentCloseNotify && !this.#eofBeforeCloseNotify && this.#transportError === undefined) {
      // shutdown({ acceptEof }): the peer answered our close_notify by closing
      // the transport (what HTTP servers such as nginx do). OpenSSL still
      // calls it an unexpected EOF (the step says so); the caller accepted it.
      this.#eofAnswered = true;
      this.#closeReadable();
      return;
    }
    const error = eof
      ? new TlsTruncationError({ cause: this.#transportError ?? r.failure })
      : r.failure ?? new OpenSSLError(`read failed: ${r.error}`, []);
    void this.#fail(error);
  }

  /** Ends the readable (after the chunks already queued), once. */
  #closeReadable(): void {
    if (this.#readableDone) return;
    this.#readableDone = true;
    this.#readController.close();
  }

  async #write(chunk: Uint8Array): Promise<void> {
    const bytes = toBytes(chunk);
    this.#assertOpen();
    this.#lastActivity = Date.now();
    for (let at = 0; at < bytes.length; at += CHUNK) {
      const piece = bytes.subarray(at, Math.min(bytes.length, at + CHUNK));
      const r = await this.#drive(() => this.#conn.write(piece));
      if (this.#outputError !== undefined) {
        const error = new Error("the transport closed: cannot send", { cause: this.#outputError });
        void this.#fail(error);
        throw error;
      }
      if (r.ret <= 0) {
        const error = r.failure ?? new OpenSSLError(`write failed: ${r.error}`, []);
        if (r.failure?.reason !== C.SSL_R_PROTOCOL_IS_SHUTDOWN) void this.#fail(error);
        throw error;
      }
    }
  }

  // ---- closing

  /**
   * SSL_shutdown, the man page's way:
   * - "unidirectional": send close_notify; resolves once it is written to the
   *   transport (SSL_shutdown returned 0, or 1 if the peer's came first);
   * - "bidirectional": then read until the peer's close_notify (SSL_read to
   *   ZERO_RETURN; data arriving first still goes to `readable`) and call
   *   SSL_shutdown again for its 1;
   * - "quiet": no alert at all (SSL_set_quiet_shutdown; returns 1).
   * Never after a fatal error; never a second close_notify. The transport is
   * closed afterwards.
   *
   * A bidirectional shutdown whose peer answers our close_notify by closing
   * the transport without its own (nginx and many HTTP servers do) rejects
   * with TlsTruncationError and ends "truncated", as SSL_read reports it
   * natively (SSL_R_UNEXPECTED_EOF_WHILE_READING). With `acceptEof: true`
   * that end is the expected answer: the report resolves with ending
   * "one-way" (its last step is that SSL_read, as OpenSSL returned it).
   * An EOF before our close_notify, or a broken transport, stays an error.
   */
  shutdown(options: { mode?: ShutdownMode; keepTransport?: boolean; acceptEof?: boolean } = {}): Promise<ShutdownReport> {
    const mode = options.mode ?? "bidirectional";
    if (mode !== "unidirectional" && mode !== "bidirectional" && mode !== "quiet") {
      return Promise.reject(new TypeError(`shutdown mode must be "unidirectional", "bidirectional" or "quiet"`));
    }
    const previous = this.#shutdownRunning ?? Promise.resolve(undefined);
    const run = previous.then(() => {
      this.#acceptEof = options.acceptEof === true;
      return this.#shutdown(mode, options.keepTransport === true);
    });
    this.#shutdownRunning = run.catch(() => undefined as never);
    return run;
  }

  async #shutdown(mode: ShutdownMode, keepTransport: boolean): Promise<ShutdownReport> {
    this.#inShutdown = true;
    try {
      return await this.#shutdownSteps(mode, keepTransport);
    } catch (e) {
      await this.#fail(e instanceof Error ? e : new Error(String(e)));
      throw e;
    } finally {
      this.#inShutdown = false;
    }
  }

  async #shutdownSteps(mode: ShutdownMode, keepTransport: boolean): Promise<ShutdownReport> {
    const conn = this.#conn;
    const steps: ShutdownStep[] = [];
    if (this.#fatal) throw this.#fatal; // "don't call SSL_shutdown after a fatal error"
    if (this.#ending) return { mode, ret: this.#ending.ending === "clean" ? 1 : 0, steps, ending: this.#ending.ending };
    const sd = async (): Promise<ShutdownStep> => {
      const r = await this.#drive(() => conn.shutdown());
      const step: ShutdownStep = { call: "SSL_shutdown", ret: r.ret, error: r.error, failure: r.failure, state: conn.shutdownState };
      steps.push(step);
      this.#traceCall("SSL_shutdown", r);
      return step;
    };
    if (mode === "quiet") {
      conn.quietShutdown = true;
      const s = await sd();
      await this.#finish("one-way");
      return { mode, ret: s.ret, steps, ending: "one-way" };
    }
    let last: ShutdownStep | undefined;
    if (!this.#sentCloseNotify) {
      last = await sd();
      if (last.ret < 0) {
        await this.#fail(last.failure ?? new OpenSSLError(`SSL_shutdown failed: ${last.error}`, []));
        throw this.#fatal;
      }
      this.#sentCloseNotify = true;
      this.#eofBeforeCloseNotify = this.#inputEnded;
    }
    if (mode === "unidirectional") {
      const ret = last?.ret ?? (this.#peerClosed ? 1 : 0);
      if (this.#peerClosed) await this.#finish("clean");
      else if (!keepTransport) await this.#finish("one-way");
      return { mode, ret, steps, ending: this.#endingSoFar() ?? "one-way" };
    }
    // bidirectional: read up to the peer's close_notify (scenario 7), delivering data first
    while (!this.#peerClosed && !this.#eofAnswered && !this.#fatal) {
      if (this.#pulling) {
        // The readable is already waiting in SSL_read: its result (data, or the
        // peer's close_notify) is ours too; a second SSL_read would only repeat it.
        const r = await this.#pulling;
        if (r && r.ret <= 0) steps.push({ call: "SSL_read", ret: r.ret, error: r.error, failure: r.failure, state: this.#stateNow() });
        continue;
      }
      const r = await this.#drive(() => conn.read(CHUNK));
      steps.push({ call: "SSL_read", ret: r.ret, error: r.error, failure: r.failure, state: conn.shutdownState,
        ...(r.ret > 0 ? { bytes: r.ret } : {}) });
      if (r.ret > 0) {
        this.#traceCall("SSL_read", r); // (an ending read is traced by #onReadEnd)
        if (!this.#readableDone) this.#readController.enqueue(r.data);
        continue;
      }
      this.#onReadEnd(r);
      if (r.error !== "zero_return" && !this.#eofAnswered) throw this.#fatal ?? r.failure;
    }
    if (this.#fatal) throw this.#fatal; // truncation or a fatal error while waiting (the readable's read found it)
    if (this.#eofAnswered) {
      await this.#finish("one-way");
      return { mode, ret: last?.ret ?? 0, steps, ending: "one-way" };
    }
    // The 1: unless OpenSSL cleared SENT (scenario 16), where another call would send a second close_notify.
    if (conn.shutdownState.sent) last = await sd();
    await this.#finish(conn.closeNotifyReceived > 0 ? "clean" : "truncated");
    return { mode, ret: last?.ret ?? 1, steps, ending: this.#endingSoFar()! };
  }

  /** SSL_get_shutdown, or what it was when the connection was freed. */
  #stateNow(): ShutdownState {
    return this.#conn.disposed ? this.#ending?.state ?? { sent: this.#sentCloseNotify, received: this.#peerClosed } : this.#conn.shutdownState;
  }

  #endingSoFar(): Ending | undefined {
    return this.#ending?.ending;
  }

  /** A fatal error: no more SSL calls; errors the streams and closes the transport. */
  async #fail(error: Error, abortTransport = false): Promise<void> {
    if (this.#ending) return;
    this.#fatal ??= error;
    if (!this.#readableDone) {
      this.#readableDone = true;
      this.#readController.error(error);
    }
    await this.#finish(error instanceof TlsTruncationError ? "truncated" : "error", error, abortTransport);
  }

  /**
   * Records how the connection ended, frees the SSL object at once (its
   * output was already handed to the transport), then closes the transport
   * once: gracefully, so bytes already written (a close_notify, a fatal
   * alert) still arrive, or aborted when the application aborted `writable`
   * or a timeout or signal ended it. A transport that does not finish closing
   * within TRANSPORT_CLOSE_GRACE is left behind, so `closed` always settles.
   */
  async #finish(ending: Ending, error?: Error, abortTransport = false): Promise<void> {
    if (this.#ending) return;
    const state = this.#conn.shutdownState;
    const session = this.#keepSession ? this.#conn.session ?? undefined : undefined;
    if (this.#established) {
      this.#info ??= this.#conn.info;
      this.#chain ??= this.#conn.peerChain;
    }
    this.#ending = { ending, state, ...(error ? { error } : {}), ...(session ? { session } : {}) };
    this.#markEnded();
    clearTimeout(this.#idleTimer);
    this.#unwatch?.();
    this.#inbox = EMPTY;
    // Ended here (one-way, quiet): nothing more will be read. (Errors have already errored it.)
    this.#closeReadable();
    this.#conn.dispose();
    this.#releaseContext?.();
    this.#sessions.unclaimed?.dispose(); // nobody asked for it
    this.#sessions.unclaimed = undefined;
    if (abortTransport) {
      // At once: an abort waits for nothing (not even a write the peer never takes).
      void this.#writer.abort(error).catch(() => {});
    } else {
      let grace: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        this.#writer.close().catch(() => {}),
        new Promise((resolve) => (grace = setTimeout(resolve, TRANSPORT_CLOSE_GRACE))),
      ]);
      clearTimeout(grace);
    }
    void this.#reader.cancel().catch(() => {});
    this.#trace?.({ type: "transport", event: abortTransport ? "aborted" : "closed" });
    this.#trace?.({ type: "closed", ending, state });
    this.#resolveClosed(this.#ending);
  }

  /**
   * Ends the connection at once, without close_notify: the transport is
   * closed (what the peer sees is a truncation).
   */
  async destroy(reason?: Error): Promise<void> {
    await this.#fail(reason ?? new Error("the TLS socket was destroyed"));
  }
}

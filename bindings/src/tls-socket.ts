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
import type { ConnectionOptions, TlsConnection } from "./engine/connection.js";
import type { ContextOptions, TlsContext } from "./engine/context.js";
import { OpenSSLError } from "./engine/errors.js";
import { OpenSSL } from "./engine/openssl.js";
import type { TlsSession } from "./engine/session.js";
import type {
  CertificateSummary, ConnectionInfo, ProtocolMessage, Result, ShutdownState, SslErrorName,
} from "./engine/types.js";
import { contextCacheOf, shareKey } from "./context-cache.js";
import { sessionCacheOf, sessionReuse, type SessionReuse } from "./session-cache.js";
import { iterable, type IterableReadableStream } from "./transports/iterable.js";
import { toBytes, type Transport } from "./transports/types.js";
import {
  CertificateVerificationError, TlsCallbackError, TlsClosedError, TlsHandshakeError, TlsTimeoutError, TlsTruncationError, type Ending,
} from "./errors.js";

export type { Transport, Ending };

/**
 * Options of TlsSocket.connect() and accept(): the context's options (when
 * the socket makes its context), the connection's, and the socket's own
 * limits and listeners.
 */
export interface TlsSocketOptions extends Partial<Omit<ContextOptions, "role">> {
  /**
   * A context to use (its role must match). Otherwise the socket makes one
   * from the other options: a client whose options are plain data with no
   * private key shares it with other such sockets with equal options (kept
   * for the next one when unused: TlsSocket.clearContextCache()); a server,
   * or a client with a key, SNI table or callbacks, owns its own.
   */
  context?: TlsContext;
  /** The OpenSSL instance (default: OpenSSL.load()). */
  openssl?: OpenSSL;
  /** Client: SNI and the name the certificate must match. */
  servername?: string;
  /** Client: check the certificate against this name instead of `servername` (see TlsConnection's checkHost). */
  checkHost?: string | false;
  /** Client: resume this session (the socket takes its own reference; the caller keeps theirs). */
  session?: TlsSession;
  /**
   * What happens when the peer's close_notify arrives before ours was sent
   * (the peer finished first, as `s_server -www` and HTTP/1.0 servers do).
   * false (the default, as Node's sockets): once no write is in progress,
   * the socket answers with its own close_notify, closes the transport and
   * ends "clean". true: a half-close: `readable` ends, `writable` stays
   * usable, and the socket ends when you shut it down.
   */
  allowHalfOpen?: boolean;
  /**
   * Clients on a context of their own (no `context` given): resume the last
   * session kept from an earlier connection with the same options to the same
   * server name, and keep this connection's sessions for the next one.
   * Default true (reconnects are abbreviated handshakes); false: always a
   * full handshake. With `onVerify` the default is false: a resumed session
   * skips certificate verification, so the listener (a pin, a policy) would
   * not run; true resumes anyway. See TlsSocket.clearSessionCache().
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
   * decide (see TlsConnection's onVerify); default: OpenSSL's verdict.
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
   * Milliseconds shutdown() may take (default 30000; 0: no limit; each
   * call's own `timeout` overrides it). Beyond it the connection is
   * destroyed and shutdown() rejects with TlsTimeoutError (phase
   * "shutdown"): a bidirectional shutdown against a silent peer ends.
   */
  shutdownTimeout?: number;
  /**
   * Aborting it destroys the socket (no close_notify): during the handshake
   * connect()/accept() rejects with the signal's reason, afterwards the
   * readable errors with it.
   */
  signal?: AbortSignal;
}

/** Options of TlsSocket.shutdown(). */
export interface ShutdownOptions {
  /** "bidirectional" (default), "unidirectional" or "quiet"; see shutdown(). */
  mode?: ShutdownMode;
  /** Unidirectional: leave the transport open after our close_notify (a half-close). */
  keepTransport?: boolean;
  /**
   * Bidirectional: a transport EOF after our close_notify answers it (servers
   * such as nginx close without sending theirs): the report resolves with
   * ending "one-way" instead of rejecting with TlsTruncationError.
   */
  acceptEof?: boolean;
  /** Aborting it destroys the connection and rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Milliseconds this shutdown may take (default: the socket's shutdownTimeout). */
  timeout?: number;
}

/** A step in a connection's life, reported to `onTrace`. */
export type TraceEvent =
  | {
    /** The handshake completed. */
    type: "handshake";
    /** How long it took, from connect()/accept(). */
    ms: number;
  }
  | {
    /** An OpenSSL call whose result matters to how the connection ends. */
    type: "call";
    /** Which OpenSSL call. */
    call: "SSL_shutdown" | "SSL_read";
    /** What it returned. */
    ret: number;
    /** SSL_get_error's name for it. */
    sslError: SslErrorName;
    /** The primary error's reason text, for a failure. */
    reason?: string;
    /** SSL_get_shutdown after the call. */
    state: ShutdownState;
  }
  | {
    /** An alert sent or received (close_notify is one), from OpenSSL's message callback. */
    type: "alert";
    /** Sent by this end, or received. */
    direction: "sent" | "received";
    /** The alert's level. */
    level: "warning" | "fatal";
    /** OpenSSL's long name, e.g. "close notify". */
    name: string;
  }
  | {
    /** The transport: its end of input, an error, or our closing or aborting it. */
    type: "transport";
    /** "eof", "error", "closed" or "aborted". */
    event: "eof" | "error" | "closed" | "aborted";
    /** For "error": the transport's message. */
    detail?: string;
  }
  | {
    /** The connection ended. */
    type: "closed";
    /** How. */
    ending: Ending;
    /** SSL_get_shutdown at the end. */
    state: ShutdownState;
  };

/** How a connection ended (TlsSocket.closed). */
export interface CloseInfo {
  /** "clean", "one-way", "truncated" or "error" (README: the table of endings). */
  ending: Ending;
  /** SSL_get_shutdown at the end. */
  state: ShutdownState;
  /** The error, for "truncated" and "error". */
  error?: Error;
  /** With `keepSession`: the session as it ended (resumable only after a clean end). Dispose it. */
  session?: TlsSession;
}

/** How shutdown() closes: send close_notify and stop, also wait for the peer's, or send nothing. */
export type ShutdownMode = "unidirectional" | "bidirectional" | "quiet";

/** One OpenSSL call made while shutting down, with what it returned. */
export interface ShutdownStep extends Result {
  /** Which OpenSSL call. */
  call: "SSL_shutdown" | "SSL_read";
  /** SSL_get_shutdown after it. */
  state: ShutdownState;
  /** For SSL_read: bytes of application data it returned (delivered to `readable`). */
  bytes?: number;
}

/** What shutdown() did: each OpenSSL call with its result, and how the connection ended. */
export interface ShutdownReport {
  /** The mode asked for. */
  mode: ShutdownMode;
  /** The last SSL_shutdown's return value: 0 (one-way: sent), 1 (complete). */
  ret: number;
  /** The OpenSSL calls, in order (the ones that ended the connection, if it had ended already). */
  steps: ShutdownStep[];
  /** How the connection ended. */
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
const DEFAULT_SHUTDOWN_TIMEOUT = 30_000;
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

/**
 * The error a failed handshake gets: OCSP or certificate verification,
 * the transport closing, or OpenSSL's failure. A listener's exception
 * (`listenerCause`) is the cause when there is one, else OpenSSL's queue.
 */
function handshakeError(conn: TlsConnection, r: Result, transportError: unknown, listenerCause?: unknown): Error {
  const cause = listenerCause !== undefined ? listenerCause : r.failure;
  if (conn.context.ocsp === "require" && conn.ocspStatus !== undefined && conn.ocspStatus !== "good") {
    const revoked = conn.ocspStatus === "revoked";
    return new CertificateVerificationError(revoked ? C.X509_V_ERR_CERT_REVOKED : C.X509_V_ERR_OCSP_VERIFY_FAILED,
      revoked ? "certificate revoked (stapled OCSP response)" : `no valid OCSP response stapled (${conn.ocspStatus})`,
      undefined, { cause });
  }
  if (r.failure?.reason === C.SSL_R_CERTIFICATE_VERIFY_FAILED) {
    const info = conn.info;
    if (info.verifyResult !== C.X509_V_OK) {
      return new CertificateVerificationError(info.verifyResult, info.verifyResultString, conn.verifyFailure, { cause });
    }
  }
  if (r.sslError === "zero_return" || r.failure?.reason === C.SSL_R_UNEXPECTED_EOF_WHILE_READING) {
    // Scenario 17: with IGNORE_UNEXPECTED_EOF OpenSSL says ZERO_RETURN here; it is still a failed handshake.
    const why = transportError === undefined ? "" : `: ${(transportError as Error)?.message ?? transportError}`;
    return new TlsHandshakeError(`the transport closed during the handshake${why}`, { cause: transportError ?? cause });
  }
  return new TlsHandshakeError(`handshake failed: ${r.failure?.message ?? r.sslError}`, { cause });
}

/**
 * Sessions for nextSession(): the newest one nobody took yet, or the callers
 * waiting for the next one.
 */
class SessionInbox {
  #waiters: { resolve: (s: TlsSession) => void; reject: (e: Error) => void }[] = [];
  #unclaimed: TlsSession | undefined;
  #closed = false;

  /** A new session: to the first waiter, else kept (replacing an older unclaimed one). */
  deliver(session: TlsSession): void {
    const waiter = this.#waiters.shift();
    if (waiter) return waiter.resolve(session);
    this.#unclaimed?.dispose();
    this.#unclaimed = session;
  }

  next(): Promise<TlsSession> {
    const s = this.#unclaimed;
    if (s) {
      this.#unclaimed = undefined;
      return Promise.resolve(s);
    }
    if (this.#closed) return Promise.reject(new Error("the connection is over: no more sessions"));
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** The connection ended: waiters are refused, an unclaimed session is disposed. */
  close(): void {
    this.#closed = true;
    for (const w of this.#waiters.splice(0)) w.reject(new Error("the connection ended before a new session arrived"));
    this.#unclaimed?.dispose();
    this.#unclaimed = undefined;
  }
}

/** What #open settles for the socket's life. */
interface SocketSettings {
  /** Gives back the context the socket made or borrowed for itself (none when the caller passed one). */
  releaseContext: (() => void) | undefined;
  trace: ((e: TraceEvent) => void) | undefined;
  keepSession: boolean;
  allowHalfOpen: boolean;
  idleTimeout: number;
  shutdownTimeout: number;
  sessions: SessionInbox;
  /** The first exception of a user listener (onVerify, onSession), as TlsCallbackError. */
  listener: { error?: TlsCallbackError };
}

/** A user listener whose exception is recorded (and rethrown, so the engine sees it too). */
function recorded<A extends unknown[], R>(name: string, fn: (...args: A) => R, into: { error?: TlsCallbackError }): (...args: A) => R {
  return (...args) => {
    try {
      return fn(...args);
    } catch (e) {
      into.error ??= new TlsCallbackError(name, { cause: e });
      throw e;
    }
  };
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

/**
 * A TLS connection over any Transport: the engine's OpenSSL calls, pumped
 * asynchronously. `readable` and `writable` carry the plaintext; `closed`
 * says how it ended. Create one with TlsSocket.connect() or TlsSocket.accept().
 * @see https://docs.openssl.org/3.5/man3/SSL_shutdown/
 */
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
    if (options === null || typeof options !== "object") throw new TypeError("options must be an object");
    const {
      context, openssl, servername, checkHost, session, reuseSessions, keepSession, allowHalfOpen, onTrace, onVerify, onSession,
      handshakeTimeout, idleTimeout, shutdownTimeout, signal, ...contextOptions
    } = options;
    const handshakeMs = timeoutOption("handshakeTimeout", handshakeTimeout, DEFAULT_HANDSHAKE_TIMEOUT);
    const settings: Omit<SocketSettings, "releaseContext"> = {
      trace: onTrace ? safe(onTrace) : undefined,
      keepSession: keepSession === true,
      allowHalfOpen: allowHalfOpen === true,
      idleTimeout: timeoutOption("idleTimeout", idleTimeout, 0),
      shutdownTimeout: timeoutOption("shutdownTimeout", shutdownTimeout, DEFAULT_SHUTDOWN_TIMEOUT),
      sessions: new SessionInbox(),
      listener: {},
    };
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw new TypeError("signal must be an AbortSignal");
    signal?.throwIfAborted();
    const { ctx, ownsContext, releaseContext } = await TlsSocket.#context(role, context, openssl, contextOptions);
    // A resumed session skips certificate verification, so an onVerify (a pin, a policy) would not run:
    // with one, cached sessions are neither used nor kept unless reuseSessions is explicitly true.
    const reuseWanted = onVerify ? reuseSessions === true : reuseSessions !== false;
    const reuse = role === "client" && ownsContext && reuseWanted
      ? sessionReuse(ctx.openssl, contextOptions, servername, checkHost) : undefined;
    let conn: TlsConnection;
    const resume = session ?? reuse?.take();
    try {
      conn = ctx.createConnection(TlsSocket.#connectionOptions(ctx, { servername, checkHost, session: resume, onVerify, onSession }, reuse, settings));
    } catch (e) {
      releaseContext?.();
      throw e;
    } finally {
      if (resume !== session) resume?.dispose(); // the connection holds its own reference (SSL_set_session)
    }
    const socket = new TlsSocket(transport, conn, { ...settings, releaseContext });
    socket.#watch(signal);
    const started = Date.now();
    await socket.#handshake(handshakeMs);
    reuse?.established(conn);
    settings.trace?.({ type: "handshake", ms: Date.now() - started });
    return socket;
  }

  /** The caller's context (its role checked), or one the socket makes or shares for itself. */
  static async #context(role: "client" | "server", context: TlsContext | undefined, openssl: OpenSSL | undefined,
    contextOptions: Omit<ContextOptions, "role">): Promise<{ ctx: TlsContext; ownsContext: boolean; releaseContext?: () => void }> {
    if (context) {
      if (context.role !== role) throw new TypeError(`the context is a ${context.role} context; ${role === "client" ? "connect" : "accept"} needs a ${role} one`);
      return { ctx: context, ownsContext: false };
    }
    const ossl = openssl ?? await OpenSSL.load();
    // A client with no `ca` trusts the default root store (loaded now, once).
    if (role === "client" && contextOptions.ca === undefined) await OpenSSL.loadDefaultRoots();
    // Its own client contexts collect sessions (nextSession; single-use TLS 1.3 tickets).
    const make = () => ossl.createContext({ ...(role === "client" ? { collectSessions: true } : {}), ...contextOptions, role });
    // Clients with equal plain-data options (no private key) share one (context-cache.ts).
    const key = role === "client" ? shareKey(contextOptions as Record<string, unknown>) : undefined;
    if (key !== undefined) {
      const lease = contextCacheOf(ossl).acquire(key, make);
      return { ctx: lease.context, ownsContext: true, releaseContext: lease.release };
    }
    const own = make();
    return { ctx: own, ownsContext: true, releaseContext: () => own.dispose() };
  }

  /** The engine connection's options: names, session, the listeners wrapped, alerts to the trace. */
  static #connectionOptions(ctx: TlsContext, o: Pick<TlsSocketOptions, "servername" | "checkHost" | "session" | "onVerify" | "onSession">,
    reuse: SessionReuse | undefined, settings: Omit<SocketSettings, "releaseContext">): ConnectionOptions {
    const { trace, sessions, listener } = settings;
    const onSession = o.onSession ? recorded("onSession", o.onSession, listener) : undefined;
    return {
      servername: o.servername, checkHost: o.checkHost, session: o.session, trace: true,
      ...(o.onVerify ? { onVerify: recorded("onVerify", o.onVerify, listener) } : {}),
      // Sessions go to the listener, else to whoever awaits nextSession(),
      // else they wait for it (the newest one only); the reuse cache keeps its own reference.
      ...(ctx.collectsSessions || onSession ? {
        onSession: (s: TlsSession) => {
          reuse?.offer(s);
          if (onSession) onSession(s);
          else sessions.deliver(s);
        },
      } : {}),
      ...(trace ? {
        onMessage: (m: ProtocolMessage) => {
          if (m.alert) trace({ type: "alert", direction: m.direction, level: m.alert.level === 2 ? "fatal" : "warning", name: m.alert.name });
        },
      } : {}),
    };
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

  readonly #conn: TlsConnection;
  readonly #settings: SocketSettings;
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
  /** The OpenSSL calls of the shutdown that ended the socket (reported again to later shutdown() calls). */
  #endingSteps: ShutdownStep[] | undefined;
  /** The write the writable's sink is running, if any (the answer to a peer's close_notify waits for it). */
  #writing: Promise<void> | undefined;
  #lastActivity = 0;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  #unwatch: (() => void) | undefined;
  /** The waits of #orEnd, each let go when the socket ends, so no wait on a stuck transport outlives it. */
  readonly #endWaiters = new Set<() => void>();
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

  private constructor(transport: Transport, conn: TlsConnection, settings: SocketSettings) {
    this.#conn = conn;
    this.#settings = settings;
    this.#trace = settings.trace;
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
      write: (chunk) => {
        const writing = this.#write(chunk);
        this.#writing = writing;
        return writing;
      },
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

  /** The certificate chain the peer sent (see TlsConnection.peerChain; still readable after the end). */
  get peerChain(): CertificateSummary[] {
    return this.#chain ??= this.#conn.peerChain;
  }

  /** SSL_get_shutdown. */
  get shutdownState(): ShutdownState {
    return this.#stateNow();
  }

  /**
   * The current session (for resumption), or null (also once the connection
   * has ended: use `keepSession` for the session as it ended). A new
   * reference the caller owns: dispose it.
   */
  getSession(): TlsSession | null {
    return this.#conn.disposed ? null : this.#conn.getSession();
  }

  /**
   * Clients: the newest session OpenSSL established that nobody took yet,
   * or else the next one (TLS 1.3: NewSessionTickets are read as the
   * readable is, which starts as soon as the handshake is done). The caller
   * owns it. Rejects if the connection ends first. (Not with an onSession
   * listener, which takes them all.)
   */
  nextSession(): Promise<TlsSession> {
    if (!this.#conn.context.collectsSessions) {
      return Promise.reject(new TypeError("nextSession needs a client context created with collectSessions: true"));
    }
    return this.#settings.sessions.next();
  }

  /** The engine connection underneath (for inspection; do not drive it yourself). */
  get connection(): TlsConnection {
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
          this.#conn.closeInput(); // every received byte was fed: EOF from here on
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
        this.#conn.closeInput();
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
      const listenerError = this.#settings.listener.error;
      if (listenerError && this.#established) {
        // onSession threw while a read delivered a session: the socket fails with it.
        await this.#fail(listenerError);
        throw listenerError;
      }
      await this.#orEnd(this.#flush());
      this.#assertOpen();
      if (r.sslError === "want_write") continue; // memory BIOs accept everything once flushed
      if (r.sslError !== "want_read") return r;
      if (this.#inputEnded && !this.#inbox.length && spins > 2) return r; // cannot happen with an EOF-marked BIO; never spin
      await this.#orEnd(this.#moreInput());
    }
  }

  /**
   * `p`, or the socket's end if that comes first. Not Promise.race with a
   * promise of the end: every race leaves a reaction on that promise until
   * it settles, so a long-lived socket would keep one per read and write
   * (measured: 2.5 KB an exchange, 125 MB per 50,000).
   */
  #orEnd<T>(p: Promise<T>): Promise<T | void> {
    if (this.#ending) return Promise.resolve();
    return new Promise<T | void>((resolve, reject) => {
      const letGo = () => resolve();
      this.#endWaiters.add(letGo);
      p.then((v) => {
        this.#endWaiters.delete(letGo);
        resolve(v);
      }, (e: unknown) => {
        this.#endWaiters.delete(letGo);
        reject(e);
      });
    });
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
    if (!this.#settings.idleTimeout || this.#ending) return;
    const left = this.#lastActivity + this.#settings.idleTimeout - Date.now();
    this.#idleTimer = setTimeout(() => {
      if (Date.now() - this.#lastActivity >= this.#settings.idleTimeout) void this.#fail(new TlsTimeoutError("idle", this.#settings.idleTimeout), true);
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
    const listenerError = this.#settings.listener.error;
    if (r.ret === 1 && !listenerError) return;
    const error = r.ret === 1 ? listenerError! : handshakeError(conn, r, this.#transportError, listenerError?.cause);
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
    this.#trace({ type: "call", call, ret: r.ret, sslError: r.sslError, state: this.#conn.shutdownState,
      ...(r.failure ? { reason: r.failure.reasonString } : {}) });
  }

  /** A read that returned <= 0: the peer's close_notify, truncation, or a fatal error. */
  #onReadEnd(r: Result): void {
    this.#traceCall("SSL_read", r);
    if (r.sslError === "zero_return") {
      this.#peerClosed = true;
      this.#closeReadable();
      // Both close_notifys exchanged outside shutdown() (writable closed, peer answered): done.
      if (this.#sentCloseNotify && !this.#inShutdown) void this.#finish(this.#peerEnding());
      else if (!this.#sentCloseNotify && !this.#inShutdown && !this.#settings.allowHalfOpen) void this.#answerCloseNotify();
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
      : r.failure ?? new OpenSSLError(`read failed: ${r.sslError}`, []);
    void this.#fail(error);
  }

  /**
   * allowHalfOpen false: the peer finished first; once no write is in
   * progress, answer with our close_notify and end (SSL_shutdown returns 1:
   * "clean"). A failure is the socket's (closed says so), not a rejection
   * nobody awaits.
   */
  async #answerCloseNotify(): Promise<void> {
    await this.#writing?.catch(() => {});
    if (this.#ending || this.#sentCloseNotify) return;
    await this.shutdown({ mode: "unidirectional" }).catch(() => {});
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
        const error = r.failure ?? new OpenSSLError(`write failed: ${r.sslError}`, []);
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
  shutdown(options: ShutdownOptions = {}): Promise<ShutdownReport> {
    if (options === null || typeof options !== "object") return Promise.reject(new TypeError("shutdown options must be an object"));
    const mode = options.mode ?? "bidirectional";
    if (mode !== "unidirectional" && mode !== "bidirectional" && mode !== "quiet") {
      return Promise.reject(new TypeError(`shutdown mode must be "unidirectional", "bidirectional" or "quiet"`));
    }
    const { signal } = options;
    let timeoutMs: number;
    try {
      timeoutMs = timeoutOption("timeout", options.timeout, this.#settings.shutdownTimeout);
      if (signal !== undefined && !(signal instanceof AbortSignal)) throw new TypeError("signal must be an AbortSignal");
      signal?.throwIfAborted();
    } catch (e) {
      return Promise.reject(e);
    }
    const previous = this.#shutdownRunning ?? Promise.resolve(undefined);
    const run = previous.then(() => this.#bounded(signal, timeoutMs, () => {
      this.#acceptEof = options.acceptEof === true;
      return this.#shutdown(mode, options.keepTransport === true);
    }));
    this.#shutdownRunning = run.catch(() => undefined as never);
    return run;
  }

  /**
   * Runs a shutdown within `timeoutMs` (0: none) and until `signal` aborts:
   * either destroys the connection (no further wait; the peer sees the
   * transport close), which makes the shutdown reject with that reason.
   */
  async #bounded<T>(signal: AbortSignal | undefined, timeoutMs: number, run: () => Promise<T>): Promise<T> {
    const destroy = (reason: Error) => void this.#fail(reason, true);
    const onAbort = () => destroy(asError(signal!.reason));
    const timer = timeoutMs > 0 ? setTimeout(() => destroy(new TlsTimeoutError("shutdown", timeoutMs)), timeoutMs) : undefined;
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      return await run();
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /**
   * Closes the connection without waiting for the peer: our close_notify
   * (unless the connection failed or this side already sent one), then the
   * transport. A bidirectional shutdown still waiting for the peer's
   * close_notify stops waiting (it rejects with TlsClosedError). Never
   * rejects: resolves with how the connection ended (`closed`).
   */
  async close(): Promise<CloseInfo> {
    if (!this.#ending) {
      if (this.#sentCloseNotify) {
        await this.#finish(this.#peerClosed ? this.#peerEnding() : "one-way");
      } else {
        await this.#writing?.catch(() => {});
        if (!this.#ending) await this.#bounded(undefined, this.#settings.shutdownTimeout, () => this.#shutdown("unidirectional", false)).catch(() => {});
      }
    }
    return this.closed;
  }


  async #shutdown(mode: ShutdownMode, keepTransport: boolean): Promise<ShutdownReport> {
    this.#inShutdown = true;
    try {
      const report = await this.#shutdownSteps(mode, keepTransport);
      if (this.#ending) this.#endingSteps ??= report.steps;
      return report;
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
    // Already over (the answer to the peer's close_notify, close(), an earlier shutdown):
    // the calls that ended it, so the report reads the same whichever ran first.
    if (this.#ending) {
      return { mode, ret: this.#ending.ending === "clean" ? 1 : 0, steps: [...(this.#endingSteps ?? [])], ending: this.#ending.ending };
    }
    const sd = async (): Promise<ShutdownStep> => {
      const r = await this.#drive(() => conn.shutdown());
      const step: ShutdownStep = { call: "SSL_shutdown", ret: r.ret, sslError: r.sslError, failure: r.failure, state: conn.shutdownState };
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
        await this.#fail(last.failure ?? new OpenSSLError(`SSL_shutdown failed: ${last.sslError}`, []));
        throw this.#fatal;
      }
      this.#sentCloseNotify = true;
      this.#eofBeforeCloseNotify = this.#inputEnded;
    }
    if (mode === "unidirectional") {
      const ret = last?.ret ?? (this.#peerClosed ? 1 : 0);
      if (this.#peerClosed) await this.#finish(this.#peerEnding());
      else if (!keepTransport) await this.#finish("one-way");
      return { mode, ret, steps, ending: this.#endingSoFar() ?? "one-way" };
    }
    await this.#readToPeerCloseNotify(steps);
    if (this.#eofAnswered) {
      await this.#finish("one-way");
      return { mode, ret: last?.ret ?? 0, steps, ending: "one-way" };
    }
    // The 1: unless OpenSSL cleared SENT (scenario 16), where another call would send a second close_notify.
    if (conn.shutdownState.sent) last = await sd();
    await this.#finish(this.#peerEnding());
    return { mode, ret: last?.ret ?? 1, steps, ending: this.#endingSoFar()! };
  }

  /**
   * How an end after the peer's ZERO_RETURN went: "clean" if its
   * close_notify really arrived, "truncated" if the ZERO_RETURN was a
   * transport EOF that IGNORE_UNEXPECTED_EOF reads as one.
   */
  #peerEnding(): "clean" | "truncated" {
    return this.#conn.closeNotifyReceived > 0 ? "clean" : "truncated";
  }

  /**
   * Bidirectional shutdown's middle: SSL_read up to the peer's close_notify
   * (scenario 7), data arriving first still going to `readable`; each read
   * that ends something is a step. Throws on truncation or a fatal error.
   */
  async #readToPeerCloseNotify(steps: ShutdownStep[]): Promise<void> {
    const conn = this.#conn;
    while (!this.#peerClosed && !this.#eofAnswered && !this.#fatal) {
      if (this.#pulling) {
        // The readable is already waiting in SSL_read: its result (data, or the
        // peer's close_notify) is ours too; a second SSL_read would only repeat it.
        const r = await this.#pulling;
        if (r && r.ret <= 0) steps.push({ call: "SSL_read", ret: r.ret, sslError: r.sslError, failure: r.failure, state: this.#stateNow() });
        continue;
      }
      const r = await this.#drive(() => conn.read(CHUNK));
      steps.push({ call: "SSL_read", ret: r.ret, sslError: r.sslError, failure: r.failure, state: conn.shutdownState,
        ...(r.ret > 0 ? { bytes: r.ret } : {}) });
      if (r.ret > 0) {
        this.#traceCall("SSL_read", r); // (an ending read is traced by #onReadEnd)
        if (!this.#readableDone) this.#readController.enqueue(r.data);
        continue;
      }
      this.#onReadEnd(r);
      if (r.sslError !== "zero_return" && !this.#eofAnswered) throw this.#fatal ?? r.failure;
    }
    if (this.#fatal) throw this.#fatal; // truncation or a fatal error while waiting (the readable's read found it)
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
    const session = this.#settings.keepSession ? this.#conn.getSession() ?? undefined : undefined;
    if (this.#established) {
      this.#info ??= this.#conn.info;
      this.#chain ??= this.#conn.peerChain;
    }
    this.#ending = { ending, state, ...(error ? { error } : {}), ...(session ? { session } : {}) };
    for (const letGo of this.#endWaiters) letGo();
    this.#endWaiters.clear();
    clearTimeout(this.#idleTimer);
    this.#unwatch?.();
    this.#inbox = EMPTY;
    // Ended here (one-way, quiet): nothing more will be read. (Errors have already errored it.)
    this.#closeReadable();
    this.#conn.dispose();
    this.#settings.releaseContext?.();
    this.#settings.sessions.close(); // waiters refused; an unclaimed session disposed
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

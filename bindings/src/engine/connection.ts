/**
 * TlsConnection: one SSL object between two memory BIOs. Synchronous and
 * non-blocking: every OpenSSL-call method makes one OpenSSL call and returns
 * what OpenSSL returned (the `ret` value and the SSL_get_error code), having
 * cleared the error queue first. Bytes move only through feed() (network ->
 * OpenSSL) and drain() (OpenSSL -> network).
 */
import * as C from "../generated/constants.js";
import type { AnyPtr, Ptr } from "../generated/ffi.js";
import type { TlsContext } from "./context.js";
import { disposable } from "./dispose.js";
import { OpenSSLError, UseAfterFreeError } from "./errors.js";
import type { OpenSSL } from "./openssl.js";
import { nameText, summarizeCertificate } from "./pki.js";
import { MAX_IO, type Runtime } from "./runtime.js";
import { TlsSession } from "./session.js";
import type {
  CertificateSummary, ConnectionInfo, OcspStatus, ProtocolMessage, ReadResult, Result, ShutdownResult, ShutdownState,
  SslErrorName, VerifyDetail,
} from "./types.js";

const ERROR_NAMES: Record<number, SslErrorName> = {
  [C.SSL_ERROR_NONE]: "none",
  [C.SSL_ERROR_SSL]: "ssl",
  [C.SSL_ERROR_WANT_READ]: "want_read",
  [C.SSL_ERROR_WANT_WRITE]: "want_write",
  [C.SSL_ERROR_WANT_X509_LOOKUP]: "want_x509_lookup",
  [C.SSL_ERROR_SYSCALL]: "syscall",
  [C.SSL_ERROR_ZERO_RETURN]: "zero_return",
  [C.SSL_ERROR_WANT_CONNECT]: "want_connect",
  [C.SSL_ERROR_WANT_ACCEPT]: "want_accept",
  [C.SSL_ERROR_WANT_ASYNC]: "want_async",
  [C.SSL_ERROR_WANT_ASYNC_JOB]: "want_async_job",
  [C.SSL_ERROR_WANT_CLIENT_HELLO_CB]: "want_client_hello_cb",
  [C.SSL_ERROR_WANT_RETRY_VERIFY]: "want_retry_verify",
};

/** Options of TlsContext.createConnection(). */
export interface ConnectionOptions {
  /** Client: SNI and the host name (or IP address) the certificate must match. */
  servername?: string;
  /**
   * Client: check the certificate against this name (SSL_set1_host, or the
   * IP address) instead of `servername`; false: no name check.
   */
  checkHost?: string | false;
  /** Client: resume this session (SSL_set_session). The connection takes its own reference. */
  session?: TlsSession;
  /**
   * Which handshake role to set: the context's by default ("connect" for
   * clients, "accept" for servers); "none" leaves the SSL object without one
   * (SSL_shutdown then reports SSL_R_UNINITIALIZED).
   */
  state?: "connect" | "accept" | "none";
  /**
   * Limit on undrained output bytes; OpenSSL gets SSL_ERROR_WANT_WRITE
   * beyond it (0: output blocked; Infinity: unlimited, but still changeable
   * by setOutputCapacity()). Default: no limit and not changeable (a plain
   * memory BIO).
   */
  outputCapacity?: number;
  /**
   * Limit on bytes fed in and not yet consumed by OpenSSL (the read BIO's
   * backlog): feed() refuses input beyond it with a RangeError, so the wasm
   * heap never holds more than this of one peer's unprocessed bytes (a
   * stalled or failed connection cannot grow it). Default 1 MiB
   * (DEFAULT_INPUT_CAPACITY): a TLS record is at most ~18 KiB. Infinity: unlimited.
   */
  inputCapacity?: number;
  /**
   * SSL_OP_IGNORE_UNEXPECTED_EOF for this connection only (SSL_set_options;
   * the context's `ignoreUnexpectedEof` sets it for all): a transport EOF
   * without close_notify reads as a clean close. Only safe when the
   * application protocol detects truncation itself.
   */
  ignoreUnexpectedEof?: boolean;
  /**
   * Called for every protocol message and alert sent or received (OpenSSL's
   * message callback). Costs a call into JS per message: off unless given
   * (or `trace` is set).
   */
  onMessage?: (message: ProtocolMessage) => void;
  /** Turn the message callback on without a listener, for closeNotifySent/Received. */
  trace?: boolean;
  /**
   * Clients whose context has collectSessions: called with each new session
   * as OpenSSL establishes it (TLS 1.3: each NewSessionTicket as it is read;
   * TLS 1.2: at the end of the handshake). The listener owns the TlsSession:
   * dispose it.
   */
  onSession?: (session: TlsSession) => void;
  /**
   * Called for each certificate the chain verification visits; return
   * whether to accept it. Default: OpenSSL's verdict (`preverifyOk`). An
   * exception rejects the certificate and becomes the `cause` of the failure.
   */
  onVerify?: (preverifyOk: boolean, detail: VerifyDetail) => boolean;
}

const EMPTY = new Uint8Array(0);

/** The default `inputCapacity`: far more than one TLS record (at most 18 KiB + 5 bytes). */
export const DEFAULT_INPUT_CAPACITY = 1 << 20;

/** A capacity option: a non-negative safe integer or Infinity. */
function capacity(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (value === Infinity || (Number.isSafeInteger(value) && value >= 0)) return value;
  throw new RangeError(`${name} must be a non-negative integer or Infinity, got ${String(value)}`);
}

/** A BIO capacity: -1 for unlimited, else at most INT_MAX. */
const bioCapacity = (n: number) => (n === Infinity ? -1 : Math.min(n, 0x7fffffff));

function optionalFunction(name: string, fn: unknown): void {
  if (fn !== undefined && typeof fn !== "function") throw new TypeError(`${name} must be a function`);
}

/**
 * Checks every option before anything is allocated (nothing to free on a
 * bad one) and returns the settled values.
 */
function validate(context: TlsContext, o: ConnectionOptions, rt: Runtime) {
  if (o === null || typeof o !== "object") throw new TypeError("createConnection: options must be an object");
  const state = o.state ?? (context.role === "client" ? "connect" : "accept");
  if (state !== "connect" && state !== "accept" && state !== "none") {
    throw new TypeError(`state must be "connect", "accept" or "none", got ${JSON.stringify(state)}`);
  }
  if (o.servername !== undefined && (typeof o.servername !== "string" || o.servername === "")) {
    throw new TypeError("servername must be a non-empty string");
  }
  const checkHost = o.checkHost ?? o.servername;
  if (checkHost !== undefined && checkHost !== false && (typeof checkHost !== "string" || checkHost === "")) {
    throw new TypeError("checkHost must be a non-empty string or false");
  }
  if (o.session !== undefined) {
    if (!(o.session instanceof TlsSession)) throw new TypeError("session must be a TlsSession");
    if (o.session.runtime !== rt) throw new TypeError("session belongs to another OpenSSL instance");
  }
  if (o.ignoreUnexpectedEof !== undefined && typeof o.ignoreUnexpectedEof !== "boolean") {
    throw new TypeError("ignoreUnexpectedEof must be a boolean");
  }
  optionalFunction("onMessage", o.onMessage);
  optionalFunction("onVerify", o.onVerify);
  optionalFunction("onSession", o.onSession);
  if (o.onSession && !context.collectsSessions) throw new TypeError("onSession needs a context created with collectSessions: true");
  return {
    state,
    checkHost,
    output: o.outputCapacity === undefined ? undefined : capacity("outputCapacity", o.outputCapacity, Infinity),
    input: capacity("inputCapacity", o.inputCapacity, DEFAULT_INPUT_CAPACITY),
  };
}

/**
 * An SSL object between memory BIOs: one TLS connection, driven by hand.
 * Dispose it when done (SSL_free; `using` works).
 * @see https://docs.openssl.org/3.5/man3/SSL_new/
 */
export class TlsConnection {
  /** The context it was created from. */
  readonly context: TlsContext;
  readonly #rt: Runtime;
  #ptr: Ptr<"SSL"> | 0;
  readonly #rbio: Ptr<"BIO">;
  readonly #wbio: Ptr<"BIO">;
  readonly #limited: boolean;
  readonly #inputCapacity: number;
  #inputClosed = false;
  readonly #onMessage: ((m: ProtocolMessage) => void) | undefined;
  readonly #onVerify: ConnectionOptions["onVerify"];
  readonly #onSession: ConnectionOptions["onSession"];
  #closeNotifySent = 0;
  #closeNotifyReceived = 0;
  #fatalError: OpenSSLError | undefined;
  #callbackError: unknown;
  #hasCallbackError = false;
  #verifyFailure: VerifyDetail | undefined;
  #ocspStatus: OcspStatus | undefined;

  /** @internal Use TlsContext.createConnection(). */
  constructor(context: TlsContext, rt: Runtime, options: ConnectionOptions = {}) {
    const settled = validate(context, options, rt);
    const { ffi } = rt;
    this.context = context;
    this.#rt = rt;
    this.#inputCapacity = settled.input;
    this.#limited = settled.output !== undefined;
    this.#onMessage = options.onMessage;
    this.#onVerify = options.onVerify;
    this.#onSession = options.onSession;
    ffi.ERR_clear_error();
    const ssl = ffi.SSL_new(context.ptr);
    if (!ssl) throw rt.error("SSL_new failed");
    // Memory BIOs that free their storage once drained (wasm/bio.c): an idle connection holds none.
    const rbio = ffi.BIO_new_buffer();
    const wbio = ffi.BIO_new_buffer();
    if (!rbio || !wbio) {
      ffi.SSL_free(ssl);
      if (rbio) ffi.BIO_free(rbio);
      if (wbio) ffi.BIO_free(wbio);
      throw rt.error("BIO_new failed");
    }
    if (settled.output !== undefined) ffi.BIO_buffer_set_capacity(wbio, bioCapacity(settled.output));
    // An empty memory BIO means "no data yet, retry" until closeInput().
    ffi.BIO_set_mem_eof_return(rbio, -1);
    ffi.BIO_set_mem_eof_return(wbio, -1);
    ffi.SSL_set_bio(ssl, rbio, wbio); // the SSL owns both BIOs now
    this.#ptr = ssl;
    this.#rbio = rbio;
    this.#wbio = wbio;
    if (options.onMessage || options.trace) ffi.SSL_set_msg_callback(ssl, 1);
    rt.register(ssl, this.#callbacks());
    context._adopt(this);
    try {
      this.#configure(options, settled.state, settled.checkHost);
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  #configure(o: ConnectionOptions, state: "connect" | "accept" | "none", checkHost: string | false | undefined): void {
    const rt = this.#rt;
    const { ffi } = rt;
    const ssl = this.ptr;
    if (state === "connect") ffi.SSL_set_connect_state(ssl);
    else if (state === "accept") ffi.SSL_set_accept_state(ssl);
    // SNI carries host names only, never IP addresses (RFC 6066).
    if (o.servername !== undefined && !isIP(o.servername) && !rt.withCString(o.servername, (p) => ffi.SSL_set_tlsext_host_name(ssl, p))) {
      throw rt.error(`invalid servername "${o.servername}"`);
    }
    if (checkHost !== undefined && checkHost !== false) {
      const ok = isIP(checkHost)
        ? rt.withCString(checkHost, (p) => ffi.X509_VERIFY_PARAM_set1_ip_asc(ffi.SSL_get0_param(ssl), p))
        : rt.withCString(checkHost, (p) => ffi.SSL_set1_host(ssl, p));
      if (!ok) throw rt.error(`invalid host name to check "${checkHost}"`);
    }
    if (o.ignoreUnexpectedEof === true) ffi.SSL_set_options(ssl, C.SSL_OP_IGNORE_UNEXPECTED_EOF);
    else if (o.ignoreUnexpectedEof === false) ffi.SSL_clear_options(ssl, C.SSL_OP_IGNORE_UNEXPECTED_EOF);
    if (this.context.ocsp !== "off" && !ffi.SSL_set_tlsext_status_type(ssl, C.TLSEXT_STATUSTYPE_ocsp)) {
      throw rt.error("SSL_set_tlsext_status_type failed");
    }
    if (o.session !== undefined && !ffi.SSL_set_session(ssl, o.session.ptr)) throw rt.error("SSL_set_session failed");
  }

  /** @internal The SSL pointer; throws UseAfterFreeError after dispose(). */
  get ptr(): Ptr<"SSL"> {
    if (!this.#ptr) throw new UseAfterFreeError("TlsConnection");
    return this.#ptr;
  }

  /** The OpenSSL instance it belongs to. */
  get openssl(): OpenSSL {
    return this.context.openssl;
  }

  /** Whether dispose() was called. */
  get disposed(): boolean {
    return this.#ptr === 0;
  }

  // ---- what happened so far (read-only)

  /**
   * close_notify alerts sent, as the message callback reported them (counted
   * only with `onMessage` or `trace`). OpenSSL does not report an alert whose
   * write was blocked and later retried (ssl3_dispatch_alert), so use
   * shutdownState for what was sent.
   */
  get closeNotifySent(): number {
    return this.#closeNotifySent;
  }

  /** close_notify alerts received (counted only with `onMessage` or `trace`). */
  get closeNotifyReceived(): number {
    return this.#closeNotifyReceived;
  }

  /** The first fatal failure (SSL_ERROR_SSL / SYSCALL) any call reported, if any. */
  get fatalError(): OpenSSLError | undefined {
    return this.#fatalError;
  }

  /**
   * The first exception an onMessage, onVerify or onSession listener threw
   * (the call it interrupted failed with it as the `cause`), if any.
   */
  get callbackError(): unknown {
    return this.#callbackError;
  }

  /** The first certificate the verification rejected, if any. */
  get verifyFailure(): VerifyDetail | undefined {
    return this.#verifyFailure;
  }

  /** Clients with ocsp on: what the stapled OCSP response said (undefined until checked). */
  get ocspStatus(): OcspStatus | undefined {
    return this.#ocspStatus;
  }

  // ---- transport side

  /**
   * Hands bytes received from the network to OpenSSL (written into the read
   * BIO). All or nothing: a RangeError, and nothing fed, when they would
   * take the backlog OpenSSL has not consumed past `inputCapacity`.
   */
  feed(bytes: Uint8Array): void {
    if (!(bytes instanceof Uint8Array)) throw new TypeError(`feed: expected a Uint8Array, got ${describe(bytes)}`);
    this.#alive();
    if (this.#inputClosed) throw new RangeError("feed: the input was already closed (closeInput())");
    const backlog = this.pendingInput;
    if (backlog + bytes.length > this.#inputCapacity) {
      throw new RangeError(`feed: ${bytes.length} more bytes would exceed inputCapacity (${this.#inputCapacity}): ` +
        `${backlog} bytes fed earlier are not consumed yet; let OpenSSL read them first (handshake/read)`);
    }
    const rt = this.#rt;
    for (let at = 0; at < bytes.length; at += MAX_IO) {
      const chunk = bytes.subarray(at, Math.min(bytes.length, at + MAX_IO));
      const io = rt.ensureIO(chunk.length);
      rt.heap.set(chunk, io);
      // A memory BIO takes everything (it grows), or the heap is exhausted.
      if (rt.ffi.BIO_write_ex(this.#rbio, io as AnyPtr, chunk.length, rt.slot(0) as Ptr<"size_t">) !== 1) {
        throw rt.error("feed: BIO_write_ex failed");
      }
    }
  }

  /** Bytes OpenSSL has written for the network and drain() has not taken yet. */
  get pendingOutput(): number {
    this.#alive();
    return this.#rt.ffi.BIO_ctrl_pending(this.#wbio);
  }

  /** Bytes fed in that OpenSSL has not consumed yet. */
  get pendingInput(): number {
    this.#alive();
    return this.#rt.ffi.BIO_ctrl_pending(this.#rbio);
  }

  /** Takes every byte OpenSSL has written for the network, up to `max` (empty if none). */
  drain(max = Infinity): Uint8Array {
    const rt = this.#rt;
    this.#alive();
    const n = Math.min(max, rt.ffi.BIO_ctrl_pending(this.#wbio));
    if (n <= 0) return EMPTY;
    const out = new Uint8Array(n);
    let at = 0;
    while (at < n) {
      const want = Math.min(n - at, MAX_IO);
      const io = rt.ensureIO(want);
      if (rt.ffi.BIO_read_ex(this.#wbio, io as AnyPtr, want, rt.slot(0) as Ptr<"size_t">) !== 1) break;
      const got = rt.u32(rt.slot(0));
      out.set(rt.heap.subarray(io, io + got), at);
      at += got;
    }
    return at === n ? out : out.subarray(0, at);
  }

  /**
   * The transport delivered its last byte: once OpenSSL has consumed what was
   * fed, reads see EOF (BIO_set_mem_eof_return(rbio, 0)) instead of "retry".
   * Without close_notify that is truncation (SSL_R_UNEXPECTED_EOF_WHILE_READING).
   */
  closeInput(): void {
    this.#alive();
    if (this.#inputClosed) return;
    this.#inputClosed = true;
    this.#rt.ffi.BIO_set_mem_eof_return(this.#rbio, 0);
  }

  /** Whether closeInput() was called. */
  get inputClosed(): boolean {
    return this.#inputClosed;
  }

  /**
   * Sets how many undrained output bytes OpenSSL may write before it gets
   * SSL_ERROR_WANT_WRITE (0: blocked; Infinity: unlimited). Only for
   * connections created with `outputCapacity`.
   */
  setOutputCapacity(capacity: number): void {
    this.#alive();
    if (!this.#limited) throw new TypeError("setOutputCapacity: create the connection with outputCapacity to limit its output");
    if (!(capacity === Infinity || (Number.isSafeInteger(capacity) && capacity >= 0))) {
      throw new RangeError(`capacity must be a non-negative integer or Infinity, got ${String(capacity)}`);
    }
    this.#rt.ffi.BIO_buffer_set_capacity(this.#wbio, bioCapacity(capacity));
  }

  // ---- OpenSSL calls

  /** `ret` and SSL_get_error's name for it; for SSL_ERROR_SSL / SYSCALL the drained queue. */
  #result(ret: number, what: string): Result {
    if (ret > 0) return { ret, sslError: "none" };
    const rt = this.#rt;
    const code = rt.ffi.SSL_get_error(this.ptr, ret);
    const sslError = ERROR_NAMES[code] ?? "ssl";
    if (code === C.SSL_ERROR_SSL || code === C.SSL_ERROR_SYSCALL) {
      const failure = rt.error(what, sslError, this.#hasCallbackError ? { cause: this.#callbackError } : undefined);
      this.#fatalError ??= failure;
      return { ret, sslError, failure };
    }
    rt.ffi.ERR_clear_error();
    return { ret, sslError };
  }

  #call(what: string, fn: (ssl: Ptr<"SSL">) => number): Result {
    const ssl = this.ptr;
    this.#rt.ffi.ERR_clear_error();
    return this.#result(fn(ssl), what);
  }

  /** SSL_do_handshake. @see https://docs.openssl.org/3.5/man3/SSL_do_handshake/ */
  handshake(): Result {
    return this.#call("handshake failed", (ssl) => this.#rt.ffi.SSL_do_handshake(ssl));
  }

  /** SSL_connect (sets the connect state, then handshakes). @see https://docs.openssl.org/3.5/man3/SSL_connect/ */
  connect(): Result {
    return this.#call("SSL_connect failed", (ssl) => this.#rt.ffi.SSL_connect(ssl));
  }

  /** SSL_accept (sets the accept state, then handshakes). @see https://docs.openssl.org/3.5/man3/SSL_accept/ */
  accept(): Result {
    return this.#call("SSL_accept failed", (ssl) => this.#rt.ffi.SSL_accept(ssl));
  }

  /** SSL_set_connect_state. @see https://docs.openssl.org/3.5/man3/SSL_set_connect_state/ */
  setConnectState(): void {
    this.#rt.ffi.SSL_set_connect_state(this.ptr);
  }

  /** SSL_set_accept_state. @see https://docs.openssl.org/3.5/man3/SSL_set_connect_state/ */
  setAcceptState(): void {
    this.#rt.ffi.SSL_set_accept_state(this.ptr);
  }

  /**
   * SSL_read of at most `max` bytes: `ret` is the byte count, or 0 / -1 with
   * the reason in `sslError` ("zero_return": the peer's close_notify; "ssl"
   * with SSL_R_UNEXPECTED_EOF_WHILE_READING: truncation).
   * @see https://docs.openssl.org/3.5/man3/SSL_read/
   */
  read(max = 16384): ReadResult {
    if (!Number.isSafeInteger(max) || max < 1) throw new RangeError("read: max must be a positive integer");
    const n = Math.min(max, MAX_IO);
    const io = this.#rt.ensureIO(n);
    const r = this.#read(io, n);
    return { ...r, data: r.ret > 0 ? this.#rt.heap.slice(io, io + r.ret) : EMPTY };
  }

  /**
   * SSL_read into `target` (no allocation): `ret` is the byte count written
   * to its start, or 0 / -1 as for read().
   * @see https://docs.openssl.org/3.5/man3/SSL_read/
   */
  readInto(target: Uint8Array): Result {
    if (!(target instanceof Uint8Array) || target.length === 0) throw new TypeError("readInto: expected a non-empty Uint8Array");
    const n = Math.min(target.length, MAX_IO);
    const io = this.#rt.ensureIO(n);
    const r = this.#read(io, n);
    if (r.ret > 0) target.set(this.#rt.heap.subarray(io, io + r.ret));
    return r;
  }

  /** SSL_read into the shared scratch buffer (wiped when it is replaced or freed). */
  #read(io: number, n: number): Result {
    return this.#call("read failed", (ssl) => this.#rt.ffi.SSL_read(ssl, io as AnyPtr, n));
  }

  /**
   * SSL_write of `data` (at most MAX_IO bytes per call): `ret` is the byte
   * count (all of it: partial writes are off) or <= 0 with `sslError`. After
   * "want_write", call again with the same bytes.
   * @see https://docs.openssl.org/3.5/man3/SSL_write/
   */
  write(data: Uint8Array): Result {
    const rt = this.#rt;
    this.#alive();
    if (!(data instanceof Uint8Array)) throw new TypeError(`write: expected a Uint8Array, got ${describe(data)}`);
    if (data.length > MAX_IO) throw new RangeError(`write: at most ${MAX_IO} bytes per call`);
    const io = rt.ensureIO(data.length);
    rt.heap.set(data, io);
    return this.#call("write failed", (ssl) => rt.ffi.SSL_write(ssl, io as AnyPtr, data.length));
  }

  /** SSL_pending: decrypted bytes ready to read without more input. @see https://docs.openssl.org/3.5/man3/SSL_pending/ */
  get pending(): number {
    return this.#rt.ffi.SSL_pending(this.ptr);
  }

  /**
   * SSL_shutdown. 1: both close_notifys were exchanged; 0: ours was sent and
   * the peer's has not arrived; -1: failed, with `sslError` ("want_read": the
   * peer's close_notify is not here yet; "want_write": output blocked).
   * `sslError` is SSL_get_error's answer for every return value, 0 included,
   * as native code gets it: there it is usually "syscall" (OpenSSL's queue is
   * empty, the man page calls the value meaningless after a 0), and no
   * `failure` is attached since nothing failed.
   * @see https://docs.openssl.org/3.5/man3/SSL_shutdown/
   */
  shutdown(): ShutdownResult {
    const rt = this.#rt;
    const ssl = this.ptr;
    rt.ffi.ERR_clear_error();
    const ret = rt.ffi.SSL_shutdown(ssl);
    let result: Result;
    if (ret === 0) {
      const code = rt.ffi.SSL_get_error(ssl, 0);
      rt.ffi.ERR_clear_error();
      result = { ret, sslError: ERROR_NAMES[code] ?? "ssl" };
    } else {
      result = this.#result(ret, "shutdown failed");
    }
    return { ...result, state: this.shutdownState };
  }

  /** SSL_get_shutdown. @see https://docs.openssl.org/3.5/man3/SSL_set_shutdown/ */
  get shutdownState(): ShutdownState {
    const f = this.#rt.ffi.SSL_get_shutdown(this.ptr);
    return { sent: (f & C.SSL_SENT_SHUTDOWN) !== 0, received: (f & C.SSL_RECEIVED_SHUTDOWN) !== 0 };
  }

  /** SSL_set_shutdown: sets the flags without sending anything. @see https://docs.openssl.org/3.5/man3/SSL_set_shutdown/ */
  setShutdown(state: Partial<ShutdownState>): void {
    this.#rt.ffi.SSL_set_shutdown(this.ptr,
      (state.sent ? C.SSL_SENT_SHUTDOWN : 0) | (state.received ? C.SSL_RECEIVED_SHUTDOWN : 0));
  }

  /** SSL_get_quiet_shutdown / SSL_set_quiet_shutdown. @see https://docs.openssl.org/3.5/man3/SSL_CTX_set_quiet_shutdown/ */
  get quietShutdown(): boolean {
    return this.#rt.ffi.SSL_get_quiet_shutdown(this.ptr) === 1;
  }
  /** SSL_set_quiet_shutdown: SSL_shutdown then sends nothing. */
  set quietShutdown(on: boolean) {
    this.#rt.ffi.SSL_set_quiet_shutdown(this.ptr, on ? 1 : 0);
  }

  /** SSL_get_options: the SSL_OP_* bits in effect for this connection. @see https://docs.openssl.org/3.5/man3/SSL_CTX_set_options/ */
  get options(): bigint {
    return this.#rt.ffi.SSL_get_options(this.ptr);
  }

  /**
   * SSL_clear: resets the object for a new connection (keeps the session).
   * 1 on success; 0 with SSL_get_error's name and the queue otherwise.
   * @see https://docs.openssl.org/3.5/man3/SSL_clear/
   */
  clear(): Result {
    const r = this.#call("SSL_clear failed", (ssl) => this.#rt.ffi.SSL_clear(ssl));
    if (r.ret === 1) this.#fatalError = undefined;
    return r;
  }

  /**
   * SSL_key_update (TLS 1.3): `requestPeer` asks the peer to update its keys too.
   * @see https://docs.openssl.org/3.5/man3/SSL_key_update/
   */
  keyUpdate(requestPeer: boolean): Result {
    const type = requestPeer ? C.SSL_KEY_UPDATE_REQUESTED : C.SSL_KEY_UPDATE_NOT_REQUESTED;
    return this.#call("SSL_key_update failed", (ssl) => this.#rt.ffi.SSL_key_update(ssl, type));
  }

  /** SSL_is_init_finished: the handshake completed. @see https://docs.openssl.org/3.5/man3/SSL_in_init/ */
  get handshakeDone(): boolean {
    return this.#rt.ffi.SSL_is_init_finished(this.ptr) === 1;
  }

  /** SSL_in_init: a handshake is in progress (or not started). @see https://docs.openssl.org/3.5/man3/SSL_in_init/ */
  get inInit(): boolean {
    return this.#rt.ffi.SSL_in_init(this.ptr) === 1;
  }

  /** SSL_state_string_long. @see https://docs.openssl.org/3.5/man3/SSL_state_string/ */
  get stateString(): string {
    return this.#rt.string(this.#rt.ffi.SSL_state_string_long(this.ptr));
  }

  /** SSL_session_reused. @see https://docs.openssl.org/3.5/man3/SSL_session_reused/ */
  get sessionReused(): boolean {
    return this.#rt.ffi.SSL_session_reused(this.ptr) === 1;
  }

  /**
   * The current session (SSL_get1_session), or null. It is a new reference
   * the caller owns: dispose it (`using` works).
   * @see https://docs.openssl.org/3.5/man3/SSL_get_session/
   */
  getSession(): TlsSession | null {
    const p = this.#rt.ffi.SSL_get1_session(this.ptr);
    return p ? new TlsSession(this.#rt, p) : null;
  }

  /** SSL_set_session: resume `session` on the next handshake. @see https://docs.openssl.org/3.5/man3/SSL_set_session/ */
  setSession(session: TlsSession): Result {
    if (!(session instanceof TlsSession)) throw new TypeError("setSession: expected a TlsSession");
    if (session.runtime !== this.#rt) throw new TypeError("setSession: the session belongs to another OpenSSL instance");
    return this.#call("SSL_set_session failed", (ssl) => this.#rt.ffi.SSL_set_session(ssl, session.ptr));
  }

  /** What the handshake negotiated, and the peer's certificate (read afresh on each access). */
  get info(): ConnectionInfo {
    const rt = this.#rt;
    const { ffi } = rt;
    const ssl = this.ptr;
    const cipher = ffi.SSL_get_current_cipher(ssl);
    const group = ffi.SSL_get0_group_name(ssl);
    const dataP = rt.slot(0), lenP = rt.slot(1);
    ffi.SSL_get0_alpn_selected(ssl, dataP as never, lenP as never);
    const alpnLen = rt.u32(lenP);
    const alpnProtocol = alpnLen ? rt.text(rt.u32(dataP), alpnLen) : null; // before other calls reuse the slots
    const sni = ffi.SSL_get_servername(ssl, C.TLSEXT_NAMETYPE_host_name);
    const verifyResult = ffi.SSL_get_verify_result(ssl);
    const peer = ffi.SSL_get1_peer_certificate(ssl);
    let peerCertificate: ConnectionInfo["peerCertificate"] = null;
    if (peer) {
      peerCertificate = summarizeCertificate(rt, peer);
      ffi.X509_free(peer);
    }
    return {
      protocol: rt.string(ffi.SSL_get_version(ssl)),
      cipher: cipher ? rt.string(ffi.SSL_CIPHER_get_name(cipher)) : "",
      group: group ? rt.string(group) : null,
      alpnProtocol,
      servername: sni ? rt.string(sni) : null,
      sessionReused: ffi.SSL_session_reused(ssl) === 1,
      verification: this.context.verificationDisabled ? "disabled" : !peerCertificate ? "no certificate"
        : verifyResult === C.X509_V_OK && ffi.SSL_get_verify_mode(ssl) !== C.SSL_VERIFY_NONE ? "verified" : "failed",
      verifyResult,
      verifyResultString: rt.string(ffi.X509_verify_cert_error_string(verifyResult)),
      peerCertificate,
      ...(this.#ocspStatus ? { ocsp: this.#ocspStatus } : {}),
    };
  }

  /**
   * The certificate chain the peer sent (SSL_get_peer_cert_chain): on a
   * client, the server's certificate first, then its intermediates; on a
   * server, the client's chain without its certificate.
   * @see https://docs.openssl.org/3.5/man3/SSL_get_peer_cert_chain/
   */
  get peerChain(): CertificateSummary[] {
    const rt = this.#rt;
    const chain = rt.ffi.SSL_get_peer_cert_chain(this.ptr);
    if (!chain) return [];
    const out: CertificateSummary[] = [];
    for (let i = 0, n = rt.ffi.sk_X509_num(chain); i < n; i++) out.push(summarizeCertificate(rt, rt.ffi.sk_X509_value(chain, i)));
    return out;
  }

  /** Frees the SSL object and its BIOs (SSL_free). Idempotent. @see https://docs.openssl.org/3.5/man3/SSL_free/ */
  dispose(): void {
    const ssl = this.#ptr;
    if (!ssl) return;
    this.#ptr = 0;
    this.#rt.ffi.SSL_free(ssl);
    this.#rt.unregister(ssl);
    this.context._release(this);
  }

  /** Throws UseAfterFreeError after dispose(). */
  #alive(): void {
    if (!this.#ptr) throw new UseAfterFreeError("TlsConnection");
  }

  /** Records the first exception a listener threw. */
  #listenerThrew(e: unknown): void {
    if (this.#hasCallbackError) return;
    this.#hasCallbackError = true;
    this.#callbackError = e;
  }

  // ---- OpenSSL's callbacks for this SSL object (runtime.ts dispatches them)

  #callbacks() {
    return {
      onMessage: (writeP: number, version: number, contentType: number, buf: number, len: number) =>
        this.#message(writeP, version, contentType, buf, len),
      onVerify: (preverifyOk: number, store: Ptr<"X509_STORE_CTX">) => this.#verify(preverifyOk, store),
      onNewSession: (session: Ptr<"SSL_SESSION">) => this.#newSession(session),
      onAlpnSelect: (inp: number, inlen: number) => this.context._selectAlpn(inp, inlen),
      onServername: () => this.context._selectSni(this.ptr),
      onStatus: () => {
        const { ret, status } = this.context._onStatus(this.ptr);
        if (status) this.#ocspStatus = status;
        return ret;
      },
    };
  }

  #message(writeP: number, version: number, contentType: number, buf: number, len: number): void {
    const rt = this.#rt;
    const h = rt.heap;
    const message: ProtocolMessage = { direction: writeP ? "sent" : "received", contentType, version, length: len };
    if (contentType === C.SSL3_RT_ALERT && len >= 2) {
      const level = h[buf]!, description = h[buf + 1]!;
      message.alert = { level, description, name: rt.string(rt.ffi.SSL_alert_desc_string_long((level << 8) | description)) };
      if (description === C.SSL_AD_CLOSE_NOTIFY) {
        if (writeP) this.#closeNotifySent++;
        else this.#closeNotifyReceived++;
      }
    } else if (contentType === C.SSL3_RT_HANDSHAKE && len >= 1) {
      message.handshakeType = h[buf];
    }
    try {
      this.#onMessage?.(message);
    } catch (e) {
      this.#listenerThrew(e);
    }
  }

  /** New-session callback: 1 when the listener took the reference OpenSSL hands over. */
  #newSession(session: Ptr<"SSL_SESSION">): number {
    if (!this.#onSession) return 0;
    try {
      this.#onSession(new TlsSession(this.#rt, session));
    } catch (e) {
      this.#listenerThrew(e);
    }
    return 1;
  }

  #verify(preverifyOk: number, store: Ptr<"X509_STORE_CTX">): number {
    const { ffi } = this.#rt;
    const verifyResult = ffi.X509_STORE_CTX_get_error(store);
    const cert = ffi.X509_STORE_CTX_get_current_cert(store);
    const detail: VerifyDetail = {
      verifyResult,
      verifyResultString: this.#rt.string(ffi.X509_verify_cert_error_string(verifyResult)),
      depth: ffi.X509_STORE_CTX_get_error_depth(store),
      subject: cert ? nameText(this.#rt, ffi.X509_get_subject_name(cert)) : "",
    };
    let ok: boolean;
    try {
      ok = this.#onVerify ? this.#onVerify(preverifyOk === 1, detail) === true : preverifyOk === 1;
    } catch (e) {
      this.#listenerThrew(e);
      ok = false;
    }
    if (!ok) {
      this.#verifyFailure ??= detail;
      if (verifyResult === C.X509_V_OK) ffi.X509_STORE_CTX_set_error(store, C.X509_V_ERR_APPLICATION_VERIFICATION);
    }
    return ok ? 1 : 0;
  }
}

// `[Symbol.dispose]()`, for `using` (engine/dispose.ts: keyed so that it works where Symbol.dispose is missing)
export interface TlsConnection extends Disposable {}
disposable(TlsConnection);

function isIP(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(":");
}

function describe(v: unknown): string {
  return v === null ? "null" : typeof v === "object" ? (v.constructor?.name ?? "object") : typeof v;
}

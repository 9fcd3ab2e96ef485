/**
 * Connection: one SSL object between two memory BIOs. Synchronous and
 * non-blocking: every method makes one OpenSSL call and returns what OpenSSL
 * returned (the `ret` value and the SSL_get_error code), having cleared the
 * error queue first. Bytes move only through feed() (network -> OpenSSL) and
 * drain() (OpenSSL -> network).
 * @see https://docs.openssl.org/3.5/man3/SSL_shutdown/
 */
import * as C from "../generated/constants.js";
import type { AnyPtr, Ptr } from "../generated/ffi.js";
import type { Context, OcspStatus } from "./context.js";
import { disposable } from "./dispose.js";
import { OpenSSLError, UseAfterFreeError } from "./errors.js";
import { MAX_IO, type OpenSSL } from "./openssl.js";
import { Session } from "./session.js";

/** SSL_get_error's codes, by name. */
export type SslErrorName =
  | "none" | "ssl" | "want_read" | "want_write" | "want_x509_lookup" | "syscall" | "zero_return"
  | "want_connect" | "want_accept" | "want_async" | "want_async_job" | "want_client_hello_cb"
  | "want_retry_verify";

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

/** What one OpenSSL call returned. */
export interface Result {
  /** The function's return value, as OpenSSL returned it. */
  ret: number;
  /** SSL_get_error(ssl, ret) for ret <= 0 ("none" for success). */
  error: SslErrorName;
  /** For "ssl" and "syscall": the drained error queue. */
  failure?: OpenSSLError;
}

export interface ReadResult extends Result {
  /** The plaintext read (empty unless ret > 0). */
  data: Uint8Array;
}

export interface ShutdownState {
  /** SSL_SENT_SHUTDOWN: our close_notify was sent (or we set the flag). */
  sent: boolean;
  /** SSL_RECEIVED_SHUTDOWN: the peer's close_notify was received (or we set the flag). */
  received: boolean;
}

export interface ShutdownResult extends Result {
  /** SSL_get_shutdown after the call. */
  state: ShutdownState;
}

/** A TLS protocol message or alert, from the message callback. */
export interface ProtocolMessage {
  direction: "sent" | "received";
  /** SSL3_RT_* content type (SSL3_RT_ALERT, SSL3_RT_HANDSHAKE, ...; SSL3_RT_HEADER for record headers). */
  contentType: number;
  /** Protocol version of the record. */
  version: number;
  /** Handshake message type (SSL3_MT_*) for handshake messages. */
  handshakeType?: number;
  /** For alerts: level (1 warning, 2 fatal), description code and OpenSSL's long name. */
  alert?: { level: number; description: number; name: string };
  /** Length of the message body. */
  length: number;
}

export interface ConnectionOptions {
  /** Client: SNI and the host name (or IP address) the certificate must match. */
  servername?: string;
  /** Client: check the certificate against this name instead of `servername`; false: no name check. */
  host?: string | false;
  /** Client: resume this session (SSL_set_session). */
  session?: Session;
  /**
   * Which handshake role to set: the context's by default ("connect" for
   * clients, "accept" for servers); "none" leaves the SSL object without one
   * (SSL_shutdown then reports SSL_R_UNINITIALIZED).
   */
  state?: "connect" | "accept" | "none";
  /**
   * Limit on undrained output bytes; OpenSSL gets SSL_ERROR_WANT_WRITE
   * beyond it (0: output blocked; Infinity: unlimited). Default: unlimited
   * (a plain memory BIO).
   */
  outputCapacity?: number;
  /**
   * Limit on bytes fed in and not yet consumed by OpenSSL (the read BIO's
   * backlog): feed() refuses input beyond it with a RangeError, so the wasm
   * heap never holds more than this of one peer's unprocessed bytes (a
   * stalled or failed connection cannot grow it). Default 1 MiB (DEFAULT_INPUT_CAPACITY):
   * a TLS record is at most ~18 KiB. Infinity: unlimited.
   */
  inputCapacity?: number;
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
   * TLS 1.2: at the end of the handshake). The listener owns the Session:
   * dispose it.
   */
  onSession?: (session: Session) => void;
  /**
   * Called for each certificate the chain verification visits; return
   * whether to accept it. Default: OpenSSL's verdict (`preverifyOk`).
   */
  onVerify?: (preverifyOk: boolean, detail: VerifyDetail) => boolean;
}

export interface VerifyDetail {
  /** X509_STORE_CTX_get_error: X509_V_OK or an X509_V_ERR_* code. */
  error: number;
  /** X509_verify_cert_error_string. */
  errorString: string;
  /** Depth in the chain (0: the peer's own certificate). */
  depth: number;
  /** The certificate's subject (X509_NAME_oneline). */
  subject: string;
}

export interface ConnectionInfo {
  /** SSL_get_version, e.g. "TLSv1.3". */
  protocol: string;
  /** SSL_CIPHER_get_name of the current cipher. */
  cipher: string;
  /** The negotiated key-exchange group (SSL_get0_group_name), e.g. "X25519MLKEM768". */
  group: string | null;
  /** ALPN protocol selected (SSL_get0_alpn_selected), or null. */
  alpn: string | null;
  /** SNI the client sent (SSL_get_servername), or null. */
  servername: string | null;
  /** SSL_session_reused. */
  sessionReused: boolean;
  /**
   * "verified" (the peer's certificate checked out), "failed", "no certificate"
   * (a server whose client sent none), or "disabled" (a client created with
   * verify: false and ca: "none": nothing about the peer was checked).
   */
  verification: "verified" | "failed" | "no certificate" | "disabled";
  /** SSL_get_verify_result and its text. */
  verifyResult: number;
  verifyResultString: string;
  /** The peer's certificate, if any. */
  peerCertificate: CertificateSummary | null;
  /** Clients with ocsp on: what the stapled OCSP response said. */
  ocsp?: OcspStatus;
}

/** What a certificate says, for display. */
export interface CertificateSummary {
  /** X509_NAME_oneline of the subject and issuer, e.g. "/CN=example.org". */
  subject: string;
  issuer: string;
  /** Validity (ASN1_TIME_print), e.g. "Nov 26 12:00:00 2026 GMT". */
  notBefore: string;
  notAfter: string;
  /** Public key type (EVP_PKEY_get0_type_name: "EC", "RSA", "ED25519", ...) and size in bits. */
  keyType: string;
  keyBits: number;
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

/** An SSL object between memory BIOs. Dispose it when done (SSL_free). */
export class Connection {
  readonly context: Context;
  readonly ossl: OpenSSL;
  #ptr: Ptr<"SSL"> | 0;
  readonly #rbio: Ptr<"BIO">;
  readonly #wbio: Ptr<"BIO">;
  readonly #limited: boolean;
  readonly #inputCapacity: number;
  #inputClosed = false;
  #onMessage: ((m: ProtocolMessage) => void) | undefined;
  #onVerify: ConnectionOptions["onVerify"];
  #onSession: ConnectionOptions["onSession"];
  /**
   * close_notify alerts sent and received, as the message callback reported
   * them (counted only with `onMessage` or `trace`). OpenSSL does not report
   * an alert whose write was blocked and later retried
   * (ssl3_dispatch_alert), so use shutdownState for what was sent.
   */
  closeNotifySent = 0;
  closeNotifyReceived = 0;
  /** The first fatal failure (SSL_ERROR_SSL / SYSCALL) any call reported, if any. */
  fatalError: OpenSSLError | undefined;
  /** An exception thrown by an onMessage/onVerify callback (the call it interrupted failed). */
  callbackError: unknown;
  /** The first certificate the verification rejected, if any. */
  verifyFailure: VerifyDetail | undefined;
  /** Clients with ocsp on: what the stapled OCSP response said (undefined until checked). */
  ocspStatus: OcspStatus | undefined;

  constructor(context: Context, options: ConnectionOptions = {}) {
    if (options === null || typeof options !== "object") throw new TypeError("createConnection: options must be an object");
    const ossl = context.ossl;
    const { ffi } = ossl;
    this.context = context;
    this.ossl = ossl;
    // Validate before allocating: nothing to free on a bad option.
    const cap = capacity("outputCapacity", options.outputCapacity, Infinity);
    this.#inputCapacity = capacity("inputCapacity", options.inputCapacity, DEFAULT_INPUT_CAPACITY);
    ffi.ERR_clear_error();
    const ssl = ffi.SSL_new(context.ptr);
    if (!ssl) throw ossl.error("SSL_new failed");
    // Memory BIOs that free their storage once drained (wasm/bio.c): an idle connection holds none.
    const rbio = ffi.BIO_new_buffer();
    this.#limited = options.outputCapacity !== undefined;
    const wbio = ffi.BIO_new_buffer();
    if (!rbio || !wbio) {
      ffi.SSL_free(ssl);
      if (rbio) ffi.BIO_free(rbio);
      if (wbio) ffi.BIO_free(wbio);
      throw ossl.error("BIO_new failed");
    }
    if (this.#limited) ffi.BIO_buffer_set_capacity(wbio, cap === Infinity ? -1 : Math.min(cap, 0x7fffffff));
    // An empty memory BIO means "no data yet, retry" until transportClosed().
    ffi.BIO_set_mem_eof_return(rbio, -1);
    ffi.BIO_set_mem_eof_return(wbio, -1);
    ffi.SSL_set_bio(ssl, rbio, wbio); // the SSL owns both BIOs now
    this.#ptr = ssl;
    this.#rbio = rbio;
    this.#wbio = wbio;
    this.#onMessage = options.onMessage;
    this.#onVerify = options.onVerify;
    this.#onSession = options.onSession;
    if (options.onSession && !context.collectsSessions) {
      ffi.SSL_free(ssl);
      throw new TypeError("onSession needs a context created with collectSessions: true");
    }
    if (options.onMessage || options.trace) ffi.SSL_set_msg_callback(ssl, 1);
    ossl.connections.set(ssl, this);
    context.connections.add(this);
    try {
      this.#configure(options);
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  #configure(o: ConnectionOptions): void {
    const { ossl } = this;
    const { ffi } = ossl;
    const ssl = this.ptr;
    const state = o.state ?? (this.context.role === "client" ? "connect" : "accept");
    if (state === "connect") ffi.SSL_set_connect_state(ssl);
    else if (state === "accept") ffi.SSL_set_accept_state(ssl);
    else if (state !== "none") throw new TypeError(`state must be "connect", "accept" or "none", got ${JSON.stringify(state)}`);
    if (o.servername !== undefined) {
      if (typeof o.servername !== "string" || o.servername === "") throw new TypeError("servername must be a non-empty string");
      // SNI carries host names only, never IP addresses (RFC 6066).
      if (!isIP(o.servername) && !ossl.withCString(o.servername, (p) => ffi.SSL_set_tlsext_host_name(ssl, p))) {
        throw ossl.error(`invalid servername "${o.servername}"`);
      }
    }
    const host = o.host ?? o.servername;
    if (host !== undefined && host !== false) {
      if (typeof host !== "string" || host === "") throw new TypeError("host must be a non-empty string or false");
      const ok = isIP(host)
        ? ossl.withCString(host, (p) => ffi.X509_VERIFY_PARAM_set1_ip_asc(ffi.SSL_get0_param(ssl), p))
        : ossl.withCString(host, (p) => ffi.SSL_set1_host(ssl, p));
      if (!ok) throw ossl.error(`invalid host "${host}"`);
    }
    if (this.context.ocsp !== "off" && !ffi.SSL_set_tlsext_status_type(ssl, C.TLSEXT_STATUSTYPE_ocsp)) {
      throw ossl.error("SSL_set_tlsext_status_type failed");
    }
    if (o.session !== undefined) {
      if (!(o.session instanceof Session)) throw new TypeError("session must be a Session");
      if (!ffi.SSL_set_session(ssl, o.session.ptr)) throw ossl.error("SSL_set_session failed");
    }
  }

  /** The SSL pointer; throws UseAfterFreeError after dispose(). */
  get ptr(): Ptr<"SSL"> {
    if (!this.#ptr) throw new UseAfterFreeError("Connection");
    return this.#ptr;
  }

  get disposed(): boolean {
    return this.#ptr === 0;
  }

  // ---- transport side

  /**
   * Hands bytes received from the network to OpenSSL (written into the read
   * BIO). All or nothing: a RangeError, and nothing fed, when they would
   * take the backlog OpenSSL has not consumed past `inputCapacity`.
   */
  feed(bytes: Uint8Array): void {
    if (!(bytes instanceof Uint8Array)) throw new TypeError(`feed: expected a Uint8Array, got ${describe(bytes)}`);
    this.ptr; // throws after dispose()
    if (this.#inputClosed) throw new RangeError("feed: the transport was already closed (transportClosed())");
    const backlog = this.pendingInput;
    if (backlog + bytes.length > this.#inputCapacity) {
      throw new RangeError(`feed: ${bytes.length} more bytes would exceed inputCapacity (${this.#inputCapacity}): ` +
        `${backlog} bytes fed earlier are not consumed yet; let OpenSSL read them first (handshake/read)`);
    }
    const { ossl } = this;
    for (let at = 0; at < bytes.length; at += MAX_IO) {
      const chunk = bytes.subarray(at, Math.min(bytes.length, at + MAX_IO));
      const io = ossl.ensureIO(chunk.length);
      ossl.heap.set(chunk, io);
      // A memory BIO takes everything (it grows), or the heap is exhausted.
      if (ossl.ffi.BIO_write_ex(this.#rbio, io as AnyPtr, chunk.length, ossl.slot(0) as Ptr<"size_t">) !== 1) {
        throw ossl.error("feed: BIO_write_ex failed");
      }
    }
  }

  /** Bytes OpenSSL has written for the network and drain() has not taken yet. */
  get pendingOutput(): number {
    this.ptr;
    return this.ossl.ffi.BIO_ctrl_pending(this.#wbio);
  }

  /** Bytes fed in that OpenSSL has not consumed yet. */
  get pendingInput(): number {
    this.ptr;
    return this.ossl.ffi.BIO_ctrl_pending(this.#rbio);
  }

  /** Takes every byte OpenSSL has written for the network (empty if none). */
  drain(max = Infinity): Uint8Array {
    const { ossl } = this;
    this.ptr;
    const n = Math.min(max, ossl.ffi.BIO_ctrl_pending(this.#wbio));
    if (n <= 0) return EMPTY;
    const out = new Uint8Array(n);
    let at = 0;
    while (at < n) {
      const want = Math.min(n - at, MAX_IO);
      const io = ossl.ensureIO(want);
      if (ossl.ffi.BIO_read_ex(this.#wbio, io as AnyPtr, want, ossl.slot(0) as Ptr<"size_t">) !== 1) break;
      const got = ossl.u32(ossl.slot(0));
      out.set(ossl.heap.subarray(io, io + got), at);
      at += got;
    }
    return at === n ? out : out.subarray(0, at);
  }

  /**
   * The transport delivered its last byte: once OpenSSL has consumed what was
   * fed, reads see EOF (BIO_set_mem_eof_return(rbio, 0)) instead of "retry".
   * Without close_notify that is truncation (SSL_R_UNEXPECTED_EOF_WHILE_READING).
   */
  transportClosed(): void {
    this.ptr;
    if (this.#inputClosed) return;
    this.#inputClosed = true;
    this.ossl.ffi.BIO_set_mem_eof_return(this.#rbio, 0);
  }

  /** Whether transportClosed() was called. */
  get inputClosed(): boolean {
    return this.#inputClosed;
  }

  /**
   * Sets how many undrained output bytes OpenSSL may write before it gets
   * SSL_ERROR_WANT_WRITE (0: blocked; Infinity: unlimited). Only for
   * connections created with `outputCapacity`.
   */
  setOutputCapacity(capacity: number): void {
    this.ptr;
    if (!this.#limited) throw new TypeError("setOutputCapacity: create the connection with outputCapacity to limit its output");
    if (!(capacity >= 0)) throw new RangeError("capacity must be >= 0");
    this.ossl.ffi.BIO_buffer_set_capacity(this.#wbio, capacity === Infinity ? -1 : Math.min(capacity, 0x7fffffff));
  }

  // ---- OpenSSL calls

  #result(ret: number, what: string): Result {
    if (ret > 0) return { ret, error: "none" };
    const code = this.ossl.ffi.SSL_get_error(this.ptr, ret);
    const error = ERROR_NAMES[code] ?? "ssl";
    if (code === C.SSL_ERROR_SSL || code === C.SSL_ERROR_SYSCALL) {
      const failure = this.ossl.error(what, error);
      this.fatalError ??= failure;
      return { ret, error, failure };
    }
    this.ossl.ffi.ERR_clear_error();
    return { ret, error };
  }

  #call(what: string, fn: (ssl: Ptr<"SSL">) => number): Result {
    const ssl = this.ptr;
    this.ossl.ffi.ERR_clear_error();
    return this.#result(fn(ssl), what);
  }

  /** SSL_do_handshake. @see https://docs.openssl.org/3.5/man3/SSL_do_handshake/ */
  handshake(): Result {
    return this.#call("handshake failed", (ssl) => this.ossl.ffi.SSL_do_handshake(ssl));
  }

  /** SSL_connect (sets the connect state, then handshakes). */
  connect(): Result {
    return this.#call("SSL_connect failed", (ssl) => this.ossl.ffi.SSL_connect(ssl));
  }

  /** SSL_accept (sets the accept state, then handshakes). */
  accept(): Result {
    return this.#call("SSL_accept failed", (ssl) => this.ossl.ffi.SSL_accept(ssl));
  }

  /** SSL_set_connect_state. */
  setConnectState(): void {
    this.ossl.ffi.SSL_set_connect_state(this.ptr);
  }

  /** SSL_set_accept_state. */
  setAcceptState(): void {
    this.ossl.ffi.SSL_set_accept_state(this.ptr);
  }

  /**
   * SSL_read of at most `max` bytes: `ret` is the byte count, or 0 / -1 with
   * the reason in `error` ("zero_return": the peer's close_notify; "ssl" with
   * SSL_R_UNEXPECTED_EOF_WHILE_READING: truncation).
   * @see https://docs.openssl.org/3.5/man3/SSL_read/
   */
  read(max = 16384): ReadResult {
    if (!Number.isSafeInteger(max) || max < 1) throw new RangeError("read: max must be a positive integer");
    const n = Math.min(max, MAX_IO);
    const io = this.ossl.ensureIO(n);
    const r = this.#read(io, n);
    return { ...r, data: r.ret > 0 ? this.ossl.heap.slice(io, io + r.ret) : EMPTY };
  }

  /**
   * SSL_read into `target` (no allocation): `ret` is the byte count written
   * to its start, or 0 / -1 as for read().
   */
  readInto(target: Uint8Array): Result {
    if (!(target instanceof Uint8Array) || target.length === 0) throw new TypeError("readInto: expected a non-empty Uint8Array");
    const n = Math.min(target.length, MAX_IO);
    const io = this.ossl.ensureIO(n);
    const r = this.#read(io, n);
    if (r.ret > 0) target.set(this.ossl.heap.subarray(io, io + r.ret));
    return r;
  }

  /** SSL_read into the shared scratch buffer (wiped when it is replaced or freed). */
  #read(io: number, n: number): Result {
    const ssl = this.ptr;
    const { ffi } = this.ossl;
    ffi.ERR_clear_error();
    const ret = ffi.SSL_read(ssl, io as AnyPtr, n);
    return ret > 0 ? { ret, error: "none" } : this.#result(ret, "read failed");
  }

  /**
   * SSL_write of `data` (at most MAX_IO bytes per call): `ret` is the byte
   * count (all of it: partial writes are off) or <= 0 with `error`. After
   * "want_write", call again with the same bytes.
   * @see https://docs.openssl.org/3.5/man3/SSL_write/
   */
  write(data: Uint8Array): Result {
    const { ossl } = this;
    const ssl = this.ptr;
    if (!(data instanceof Uint8Array)) throw new TypeError(`write: expected a Uint8Array, got ${describe(data)}`);
    if (data.length > MAX_IO) throw new RangeError(`write: at most ${MAX_IO} bytes per call`);
    const io = ossl.ensureIO(data.length);
    ossl.heap.set(data, io);
    ossl.ffi.ERR_clear_error();
    const ret = ossl.ffi.SSL_write(ssl, io as AnyPtr, data.length);
    return this.#result(ret, "write failed");
  }

  /** SSL_pending: decrypted bytes ready to read without more input. */
  get pending(): number {
    return this.ossl.ffi.SSL_pending(this.ptr);
  }

  /**
   * SSL_shutdown. 0: our close_notify was sent, the peer's has not arrived
   * (not an error: SSL_get_error is not consulted, its SYSCALL here is
   * meaningless); 1: both were; -1 with `error` otherwise ("want_read": the
   * peer's close_notify is not here yet; "want_write": output blocked).
   * @see https://docs.openssl.org/3.5/man3/SSL_shutdown/
   */
  shutdown(): ShutdownResult {
    const { ossl } = this;
    const ssl = this.ptr;
    ossl.ffi.ERR_clear_error();
    const ret = ossl.ffi.SSL_shutdown(ssl);
    const result: Result = ret >= 0 ? { ret, error: "none" } : this.#result(ret, "shutdown failed");
    return { ...result, state: this.shutdownState };
  }

  /** SSL_get_shutdown. */
  get shutdownState(): ShutdownState {
    const f = this.ossl.ffi.SSL_get_shutdown(this.ptr);
    return { sent: (f & C.SSL_SENT_SHUTDOWN) !== 0, received: (f & C.SSL_RECEIVED_SHUTDOWN) !== 0 };
  }

  /** SSL_set_shutdown: sets the flags without sending anything. */
  setShutdown(state: Partial<ShutdownState>): void {
    this.ossl.ffi.SSL_set_shutdown(this.ptr,
      (state.sent ? C.SSL_SENT_SHUTDOWN : 0) | (state.received ? C.SSL_RECEIVED_SHUTDOWN : 0));
  }

  /** SSL_get_quiet_shutdown / SSL_set_quiet_shutdown. */
  get quietShutdown(): boolean {
    return this.ossl.ffi.SSL_get_quiet_shutdown(this.ptr) === 1;
  }
  set quietShutdown(on: boolean) {
    this.ossl.ffi.SSL_set_quiet_shutdown(this.ptr, on ? 1 : 0);
  }

  /** SSL_clear: resets the object for a new connection (keeps the session). Returns OpenSSL's 1 / 0. */
  clear(): Result {
    const ssl = this.ptr;
    this.ossl.ffi.ERR_clear_error();
    const ret = this.ossl.ffi.SSL_clear(ssl);
    if (ret === 1) {
      this.fatalError = undefined;
      return { ret, error: "none" };
    }
    return { ret, error: "ssl", failure: this.ossl.error("SSL_clear failed") };
  }

  /** SSL_key_update (TLS 1.3): `requestPeer` asks the peer to update its keys too. */
  keyUpdate(requestPeer: boolean): Result {
    const type = requestPeer ? C.SSL_KEY_UPDATE_REQUESTED : C.SSL_KEY_UPDATE_NOT_REQUESTED;
    const ssl = this.ptr;
    this.ossl.ffi.ERR_clear_error();
    const ret = this.ossl.ffi.SSL_key_update(ssl, type);
    return ret === 1 ? { ret, error: "none" } : { ret, error: "ssl", failure: this.ossl.error("SSL_key_update failed") };
  }

  /** SSL_is_init_finished: the handshake completed. */
  get handshakeDone(): boolean {
    return this.ossl.ffi.SSL_is_init_finished(this.ptr) === 1;
  }

  /** SSL_in_init: a handshake is in progress (or not started). */
  get inInit(): boolean {
    return this.ossl.ffi.SSL_in_init(this.ptr) === 1;
  }

  /** SSL_state_string_long. */
  get stateString(): string {
    return this.ossl.string(this.ossl.ffi.SSL_state_string_long(this.ptr));
  }

  /** SSL_session_reused. */
  get sessionReused(): boolean {
    return this.ossl.ffi.SSL_session_reused(this.ptr) === 1;
  }

  /** The current session (SSL_get1_session), or null. The caller owns it: dispose it. */
  get session(): Session | null {
    const p = this.ossl.ffi.SSL_get1_session(this.ptr);
    return p ? new Session(this.ossl, p) : null;
  }

  /** SSL_set_session: resume `session` on the next handshake. */
  setSession(session: Session): Result {
    if (!(session instanceof Session)) throw new TypeError("setSession: expected a Session");
    return this.#call("SSL_set_session failed", (ssl) => this.ossl.ffi.SSL_set_session(ssl, session.ptr));
  }

  /** What the handshake negotiated. */
  get info(): ConnectionInfo {
    const { ossl } = this;
    const { ffi } = ossl;
    const ssl = this.ptr;
    const cipher = ffi.SSL_get_current_cipher(ssl);
    const group = ffi.SSL_get0_group_name(ssl);
    const dataP = ossl.slot(0), lenP = ossl.slot(1);
    ffi.SSL_get0_alpn_selected(ssl, dataP as never, lenP as never);
    const alpnLen = ossl.u32(lenP);
    const alpn = alpnLen ? new TextDecoder().decode(ossl.heap.subarray(ossl.u32(dataP), ossl.u32(dataP) + alpnLen)) : null;
    const sni = ffi.SSL_get_servername(ssl, C.TLSEXT_NAMETYPE_host_name);
    const verifyResult = ffi.SSL_get_verify_result(ssl);
    const peer = ffi.SSL_get1_peer_certificate(ssl);
    let peerCertificate: ConnectionInfo["peerCertificate"] = null;
    if (peer) {
      peerCertificate = this.#summary(peer);
      ffi.X509_free(peer);
    }
    return {
      protocol: ossl.string(ffi.SSL_get_version(ssl)),
      cipher: cipher ? ossl.string(ffi.SSL_CIPHER_get_name(cipher)) : "",
      group: group ? ossl.string(group) : null,
      alpn,
      servername: sni ? ossl.string(sni) : null,
      sessionReused: ffi.SSL_session_reused(ssl) === 1,
      verification: this.context.verificationDisabled ? "disabled" : !peerCertificate ? "no certificate"
        : verifyResult === C.X509_V_OK && ffi.SSL_get_verify_mode(ssl) !== C.SSL_VERIFY_NONE ? "verified" : "failed",
      verifyResult,
      verifyResultString: ossl.string(ffi.X509_verify_cert_error_string(verifyResult)),
      peerCertificate,
      ...(this.ocspStatus ? { ocsp: this.ocspStatus } : {}),
    };
  }

  /**
   * The certificate chain the peer sent (SSL_get_peer_cert_chain): on a
   * client, the server's certificate first, then its intermediates; on a
   * server, the client's chain without its certificate.
   */
  get peerChain(): CertificateSummary[] {
    const { ffi } = this.ossl;
    const chain = ffi.SSL_get_peer_cert_chain(this.ptr);
    if (!chain) return [];
    const out: CertificateSummary[] = [];
    for (let i = 0, n = ffi.sk_X509_num(chain); i < n; i++) out.push(this.#summary(ffi.sk_X509_value(chain, i)));
    return out;
  }

  #summary(x: Ptr<"X509">): CertificateSummary {
    const { ffi } = this.ossl;
    const key = ffi.X509_get0_pubkey(x);
    return {
      subject: this.#name(ffi.X509_get_subject_name(x)),
      issuer: this.#name(ffi.X509_get_issuer_name(x)),
      notBefore: this.#bioText((bio) => ffi.ASN1_TIME_print(bio, ffi.X509_get0_notBefore(x))),
      notAfter: this.#bioText((bio) => ffi.ASN1_TIME_print(bio, ffi.X509_get0_notAfter(x))),
      keyType: key ? this.ossl.string(ffi.EVP_PKEY_get0_type_name(key)) : "",
      keyBits: key ? ffi.EVP_PKEY_get_bits(key) : 0,
    };
  }

  /** Text an OpenSSL printer writes into a memory BIO. */
  #bioText(print: (bio: Ptr<"BIO">) => number): string {
    const { ossl } = this;
    const { ffi } = ossl;
    const bio = ffi.BIO_new(ffi.BIO_s_mem());
    if (!bio) return "";
    try {
      if (print(bio) !== 1) return "";
      const n = ffi.BIO_ctrl_pending(bio);
      const io = ossl.ensureIO(n);
      if (ffi.BIO_read_ex(bio, io as AnyPtr, n, ossl.slot(0) as Ptr<"size_t">) !== 1) return "";
      return new TextDecoder().decode(ossl.heap.subarray(io, io + ossl.u32(ossl.slot(0))));
    } finally {
      ffi.BIO_free(bio);
      ffi.ERR_clear_error();
    }
  }

  #name(name: Ptr<"X509_NAME">): string {
    const { ossl } = this;
    const p = ossl.ffi.X509_NAME_oneline(name, 0 as never, 0);
    const s = ossl.string(p);
    ossl.ffi.OPENSSL_free(p as AnyPtr);
    return s;
  }

  /** Frees the SSL object and its BIOs (SSL_free). Idempotent. */
  dispose(): void {
    const ssl = this.#ptr;
    if (!ssl) return;
    this.#ptr = 0;
    this.ossl.ffi.SSL_free(ssl);
    this.ossl.connections.delete(ssl);
    this.context.connections.delete(this);
  }

  // ---- callbacks (called from the trampolines; never let an exception unwind into wasm)

  /** @internal */
  _onMessage(writeP: number, version: number, contentType: number, buf: number, len: number): void {
    try {
      const h = this.ossl.heap;
      const message: ProtocolMessage = { direction: writeP ? "sent" : "received", contentType, version, length: len };
      if (contentType === C.SSL3_RT_ALERT && len >= 2) {
        const level = h[buf]!, description = h[buf + 1]!;
        message.alert = {
          level, description,
          name: this.ossl.string(this.ossl.ffi.SSL_alert_desc_string_long((level << 8) | description)),
        };
        if (description === C.SSL_AD_CLOSE_NOTIFY) {
          if (writeP) this.closeNotifySent++;
          else this.closeNotifyReceived++;
        }
      } else if (contentType === C.SSL3_RT_HANDSHAKE && len >= 1) {
        message.handshakeType = h[buf];
      }
      this.#onMessage?.(message);
    } catch (e) {
      this.callbackError ??= e;
    }
  }

  /** @internal New-session callback: 1 when the listener took the reference OpenSSL hands over. */
  _onNewSession(session: Ptr<"SSL_SESSION">): number {
    if (!this.#onSession) return 0;
    try {
      this.#onSession(new Session(this.ossl, session));
    } catch (e) {
      this.callbackError ??= e;
    }
    return 1;
  }

  /** @internal */
  _onVerify(preverifyOk: number, store: Ptr<"X509_STORE_CTX">): number {
    try {
      const { ffi } = this.ossl;
      const error = ffi.X509_STORE_CTX_get_error(store);
      const cert = ffi.X509_STORE_CTX_get_current_cert(store);
      const detail: VerifyDetail = {
        error,
        errorString: this.ossl.string(ffi.X509_verify_cert_error_string(error)),
        depth: ffi.X509_STORE_CTX_get_error_depth(store),
        subject: cert ? this.#name(ffi.X509_get_subject_name(cert)) : "",
      };
      const ok = this.#onVerify ? this.#onVerify(preverifyOk === 1, detail) === true : preverifyOk === 1;
      if (!ok) {
        this.verifyFailure ??= detail;
        if (error === C.X509_V_OK) ffi.X509_STORE_CTX_set_error(store, C.X509_V_ERR_APPLICATION_VERIFICATION);
      }
      return ok ? 1 : 0;
    } catch (e) {
      this.callbackError ??= e;
      return 0;
    }
  }
}

// `[Symbol.dispose]()`, for `using` (engine/dispose.ts: keyed so that it works where Symbol.dispose is missing)
export interface Connection extends Disposable {}
disposable(Connection);

function isIP(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(":");
}

function describe(v: unknown): string {
  return v === null ? "null" : typeof v === "object" ? (v.constructor?.name ?? "object") : typeof v;
}

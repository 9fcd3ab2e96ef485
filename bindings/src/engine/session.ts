/**
 * TlsSession: an SSL_SESSION (one owned reference), for resumption.
 */
import { NULL, type Ptr } from "../generated/ffi.js";
import { disposable } from "./dispose.js";
import { SessionNotResumableError, UseAfterFreeError } from "./errors.js";
import type { OpenSSL } from "./openssl.js";
import { runtimeOf, type Runtime } from "./runtime.js";

/**
 * A TLS session (SSL_SESSION) that a later connection can resume. Each
 * TlsSession object holds one reference: dispose() it when done (`using`
 * works). Get one from TlsConnection.getSession(), TlsSocket.getSession(),
 * an onSession listener, or TlsSession.import().
 * @see https://docs.openssl.org/3.5/man3/SSL_SESSION_is_resumable/
 */
export class TlsSession {
  readonly #rt: Runtime;
  #ptr: Ptr<"SSL_SESSION"> | 0;

  /** @internal Takes ownership of one reference to `ptr`. */
  constructor(rt: Runtime, ptr: Ptr<"SSL_SESSION">) {
    this.#rt = rt;
    this.#ptr = ptr;
  }

  /**
   * Parses bytes made by export() (d2i_SSL_SESSION) into a session of the
   * `openssl` instance (sessions resume only on connections of their own instance).
   * @see https://docs.openssl.org/3.5/man3/d2i_SSL_SESSION/
   */
  static import(openssl: OpenSSL, bytes: Uint8Array): TlsSession {
    const rt = runtimeOf(openssl);
    if (!(bytes instanceof Uint8Array)) throw new TypeError("TlsSession.import: expected a Uint8Array");
    const { ffi } = rt;
    ffi.ERR_clear_error();
    const p = rt.withD2iInput(bytes, (pp, n) => ffi.d2i_SSL_SESSION(NULL, pp as never, n));
    if (!p) throw rt.error("TlsSession.import: not a serialized SSL_SESSION");
    return new TlsSession(rt, p);
  }

  /** @internal The SSL_SESSION pointer; throws UseAfterFreeError after dispose(). */
  get ptr(): Ptr<"SSL_SESSION"> {
    if (!this.#ptr) throw new UseAfterFreeError("TlsSession");
    return this.#ptr;
  }

  /** @internal The runtime it belongs to. */
  get runtime(): Runtime {
    return this.#rt;
  }

  /** Whether dispose() was called. */
  get disposed(): boolean {
    return this.#ptr === 0;
  }

  /**
   * Serializes the session (i2d_SSL_SESSION). The bytes hold the session's
   * master secret: store them as carefully as a private key.
   *
   * Refuses a session that is not resumable: the serialized form does not
   * carry OpenSSL's not-resumable mark, so importing it would resume a
   * session OpenSSL had invalidated (after a truncation, a fatal alert, or
   * an SSL_free without SSL_shutdown; SHUTDOWN.md scenario 32).
   */
  export(): Uint8Array {
    const rt = this.#rt;
    const { ffi } = rt;
    if (!this.resumable) throw new SessionNotResumableError();
    const n = ffi.i2d_SSL_SESSION(this.ptr, NULL);
    if (n <= 0) throw rt.error("i2d_SSL_SESSION failed");
    const buf = rt.malloc(n);
    try {
      const pp = rt.slot(0);
      rt.setU32(pp, buf);
      if (ffi.i2d_SSL_SESSION(this.ptr, pp as never) !== n) throw rt.error("i2d_SSL_SESSION failed");
      return rt.heap.slice(buf, buf + n);
    } finally {
      rt.cleanseFree(buf, n);
    }
  }

  /** SSL_SESSION_is_resumable: a new connection may resume it. */
  get resumable(): boolean {
    return this.#rt.ffi.SSL_SESSION_is_resumable(this.ptr) === 1;
  }

  /** SSL_SESSION_has_ticket. */
  get hasTicket(): boolean {
    return this.#rt.ffi.SSL_SESSION_has_ticket(this.ptr) === 1;
  }

  /** SSL_SESSION_get_protocol_version (e.g. TLS1_3_VERSION). */
  get protocolVersion(): number {
    return this.#rt.ffi.SSL_SESSION_get_protocol_version(this.ptr);
  }

  /** SSL_SESSION_get_timeout, seconds. */
  get timeout(): number {
    return Number(this.#rt.ffi.SSL_SESSION_get_timeout(this.ptr));
  }

  /** SSL_SESSION_get_ticket_lifetime_hint, seconds. */
  get ticketLifetimeHint(): number {
    return Number(this.#rt.ffi.SSL_SESSION_get_ticket_lifetime_hint(this.ptr));
  }

  /**
   * SSL_SESSION_get_max_early_data: how much 0-RTT data this session would
   * allow. Servers here never offer early data (replayable), so it is 0.
   */
  get maxEarlyData(): number {
    return this.#rt.ffi.SSL_SESSION_get_max_early_data(this.ptr);
  }

  /** Another reference to the same session (SSL_SESSION_up_ref), owned by the caller: dispose each. */
  clone(): TlsSession {
    const ptr = this.ptr;
    if (this.#rt.ffi.SSL_SESSION_up_ref(ptr) !== 1) throw this.#rt.error("SSL_SESSION_up_ref failed");
    return new TlsSession(this.#rt, ptr);
  }

  /** Releases this reference (SSL_SESSION_free). Idempotent. */
  dispose(): void {
    if (!this.#ptr) return;
    this.#rt.ffi.SSL_SESSION_free(this.#ptr);
    this.#ptr = 0;
  }
}

// `[Symbol.dispose]()`, for `using` (engine/dispose.ts: keyed so that it works where Symbol.dispose is missing)
export interface TlsSession extends Disposable {}
disposable(TlsSession);

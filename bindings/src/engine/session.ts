/**
 * Session: an SSL_SESSION (owned reference), for resumption.
 * @see https://docs.openssl.org/3.5/man3/SSL_SESSION_is_resumable/
 */
import type { Ptr } from "../generated/ffi.js";
import { disposable } from "./dispose.js";
import { SessionNotResumableError, UseAfterFreeError } from "./errors.js";
import type { OpenSSL } from "./openssl.js";

export class Session {
  readonly ossl: OpenSSL;
  #ptr: Ptr<"SSL_SESSION"> | 0;

  /** @internal Takes ownership of one reference to `ptr`. */
  constructor(ossl: OpenSSL, ptr: Ptr<"SSL_SESSION">) {
    this.ossl = ossl;
    this.#ptr = ptr;
  }

  /** Parses bytes made by export() (d2i_SSL_SESSION). */
  static import(ossl: OpenSSL, bytes: Uint8Array): Session {
    if (!(bytes instanceof Uint8Array)) throw new TypeError("Session.import: expected a Uint8Array");
    const { ffi } = ossl;
    ffi.ERR_clear_error();
    const p = ossl.withD2iInput(bytes, (pp, n) => ffi.d2i_SSL_SESSION(0 as never, pp as never, n));
    if (!p) throw ossl.error("Session.import: not a serialized SSL_SESSION");
    return new Session(ossl, p);
  }

  /** @internal */
  get ptr(): Ptr<"SSL_SESSION"> {
    if (!this.#ptr) throw new UseAfterFreeError("Session");
    return this.#ptr;
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
    const { ossl } = this;
    const { ffi } = ossl;
    if (!this.resumable) throw new SessionNotResumableError();
    const n = ffi.i2d_SSL_SESSION(this.ptr, 0 as never);
    if (n <= 0) throw ossl.error("i2d_SSL_SESSION failed");
    const buf = ossl.malloc(n);
    try {
      const pp = ossl.slot(0);
      ossl.setU32(pp, buf);
      if (ffi.i2d_SSL_SESSION(this.ptr, pp as never) !== n) throw ossl.error("i2d_SSL_SESSION failed");
      return ossl.heap.slice(buf, buf + n);
    } finally {
      ossl.cleanseFree(buf, n);
    }
  }

  /** SSL_SESSION_is_resumable: a new connection may resume it. */
  get resumable(): boolean {
    return this.ossl.ffi.SSL_SESSION_is_resumable(this.ptr) === 1;
  }

  /** SSL_SESSION_has_ticket. */
  get hasTicket(): boolean {
    return this.ossl.ffi.SSL_SESSION_has_ticket(this.ptr) === 1;
  }

  /** SSL_SESSION_get_protocol_version (e.g. TLS1_3_VERSION). */
  get protocolVersion(): number {
    return this.ossl.ffi.SSL_SESSION_get_protocol_version(this.ptr);
  }

  /** SSL_SESSION_get_timeout, seconds. */
  get timeout(): number {
    return Number(this.ossl.ffi.SSL_SESSION_get_timeout(this.ptr));
  }

  /** SSL_SESSION_get_ticket_lifetime_hint, seconds. */
  get ticketLifetimeHint(): number {
    return Number(this.ossl.ffi.SSL_SESSION_get_ticket_lifetime_hint(this.ptr));
  }

  /**
   * SSL_SESSION_get_max_early_data: how much 0-RTT data this session would
   * allow. Servers here never offer early data (replayable), so it is 0.
   */
  get maxEarlyData(): number {
    return this.ossl.ffi.SSL_SESSION_get_max_early_data(this.ptr);
  }

  /** Another reference to the same session (SSL_SESSION_up_ref), owned by the caller: dispose each. */
  clone(): Session {
    const ptr = this.ptr;
    if (this.ossl.ffi.SSL_SESSION_up_ref(ptr) !== 1) throw this.ossl.error("SSL_SESSION_up_ref failed");
    return new Session(this.ossl, ptr);
  }

  /** Releases this reference (SSL_SESSION_free). Idempotent. */
  dispose(): void {
    if (!this.#ptr) return;
    this.ossl.ffi.SSL_SESSION_free(this.#ptr);
    this.#ptr = 0;
  }
}

// `[Symbol.dispose]()`, for `using` (engine/dispose.ts: keyed so that it works where Symbol.dispose is missing)
export interface Session extends Disposable {}
disposable(Session);

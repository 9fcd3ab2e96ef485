import { ERR_LIB_SSL } from "../generated/constants.js";
import type { SslErrorName } from "./types.js";

/**
 * Errors: one class per kind, each with its own `name`, never a shared
 * instance. OpenSSL failures carry the drained error queue.
 */

/** One entry of OpenSSL's thread error queue (ERR_get_error_all). */
export interface ErrorQueueEntry {
  /** The packed error code. */
  code: number;
  /** ERR_GET_LIB: the library number (ERR_LIB_SSL, ...). */
  library: number;
  /** ERR_lib_error_string: the library's name, e.g. "SSL routines". */
  libraryName: string;
  /** ERR_GET_REASON: the reason code (SSL_R_UNEXPECTED_EOF_WHILE_READING, ...). */
  reason: number;
  /** ERR_reason_error_string: e.g. "unexpected eof while reading". */
  reasonString: string;
  /** The function that raised it, when OpenSSL recorded one. */
  func: string;
  /** Extra text OpenSSL attached (ERR_add_error_data), if any. */
  data: string;
  /** ERR_SYSTEM_ERROR: `reason` is an errno value. */
  system: boolean;
}

/**
 * An OpenSSL operation failed. `library`, `reason` and `reasonString`
 * describe the primary error: the earliest one raised by libssl if there is
 * one (a TLS failure is reported by libssl on top of lower-level causes such
 * as a provider's "cipher operation failed"), else the earliest. `queue`
 * holds them all, earliest first.
 */
export class OpenSSLError extends Error {
  /** Always "OpenSSLError". */
  override name = "OpenSSLError";
  /** The primary error's packed code (ERR_get_error); 0 if the queue was empty. */
  readonly code: number;
  /** Its library (ERR_GET_LIB), e.g. ERR_LIB_SSL. */
  readonly library: number;
  /** Its reason code (ERR_GET_REASON), e.g. SSL_R_UNEXPECTED_EOF_WHILE_READING. */
  readonly reason: number;
  /** Its reason text (ERR_reason_error_string). */
  readonly reasonString: string;
  /** Every queued error, earliest first. */
  readonly queue: readonly ErrorQueueEntry[];
  /** The SSL_get_error name of the call that failed, when it was an SSL call. */
  readonly sslError: SslErrorName | undefined;

  constructor(message: string, queue: readonly ErrorQueueEntry[], sslError?: SslErrorName, options?: ErrorOptions) {
    const first = queue.find((e) => e.library === ERR_LIB_SSL && !e.system) ?? queue[0];
    super(first ? `${message}: ${first.reasonString || `reason ${first.reason}`}` +
      (first.data ? ` (${first.data})` : "") : message, options);
    this.queue = queue;
    this.code = first?.code ?? 0;
    this.library = first?.library ?? 0;
    this.reason = first?.reason ?? 0;
    this.reasonString = first?.reasonString ?? "";
    this.sslError = sslError;
  }

  /** Whether any queued error has this reason code (e.g. SSL_R_UNEXPECTED_EOF_WHILE_READING). */
  hasReason(reason: number): boolean {
    return this.queue.some((e) => e.reason === reason && !e.system);
  }
}

/** A method was called on an object whose C memory was already freed. */
export class UseAfterFreeError extends Error {
  /** Always "UseAfterFreeError". */
  override name = "UseAfterFreeError";
  constructor(what: string) {
    super(`${what} was used after dispose()`);
  }
}

/** Session.export() of a session OpenSSL will not resume (SSL_SESSION_is_resumable = 0). */
export class SessionNotResumableError extends Error {
  /** Always "SessionNotResumableError". */
  override name = "SessionNotResumableError";
  constructor() {
    super("the session is not resumable (not established, no ticket yet, or invalidated by an unclean close): refusing to export it");
  }
}

/**
 * The errors of the socket and transport layers, one class per kind, each
 * with its own `name`. (The engine's own, OpenSSLError and friends, are in
 * engine/errors.ts.)
 */
import type { VerifyDetail } from "./engine/types.js";

/** How a connection ended (the README's table says what each side sees). */
export type Ending =
  | "clean"       // close_notify both ways
  | "one-way"     // we sent ours and ended without waiting for the peer's (unidirectional, quiet), or the
                  // peer answered it by closing the transport and shutdown({ acceptEof }) accepted that
  | "truncated"   // the transport ended without the peer's close_notify
  | "error";      // a fatal TLS or transport error, destroy(), a timeout or an abort

/** The transport ended without the peer's close_notify (SSL_R_UNEXPECTED_EOF_WHILE_READING). */
export class TlsTruncationError extends Error {
  /** Always "TlsTruncationError". */
  override name = "TlsTruncationError";
  constructor(options?: ErrorOptions) {
    super("the connection was truncated: the transport ended without a TLS close_notify", options);
  }
}

/** The handshake failed. */
export class TlsHandshakeError extends Error {
  /** Always "TlsHandshakeError". */
  override name = "TlsHandshakeError";
}

/**
 * A limit of time ran out: `phase` says which (TlsSocketOptions
 * handshakeTimeout, idleTimeout, shutdownTimeout, or shutdown()'s `timeout`).
 */
export class TlsTimeoutError extends Error {
  /** Always "TlsTimeoutError". */
  override name = "TlsTimeoutError";
  /**
   * @param phase Which limit ran out: handshakeTimeout, idleTimeout, or shutdown's timeout.
   * @param timeoutMs That limit, in milliseconds.
   */
  constructor(readonly phase: "handshake" | "idle" | "shutdown", readonly timeoutMs: number) {
    super(phase === "handshake" ? `the TLS handshake did not complete within ${timeoutMs} ms`
      : phase === "shutdown" ? `the TLS shutdown did not complete within ${timeoutMs} ms: the connection was closed without waiting further`
      : `no data moved for ${timeoutMs} ms: the connection was closed as idle`);
  }
}

/** A transport did not open within its `timeout` (connectWebSocket, connectTcp). */
export class ConnectTimeoutError extends Error {
  /** Always "ConnectTimeoutError". */
  override name = "ConnectTimeoutError";
  /** @param timeoutMs The `timeout` that ran out, in milliseconds. */
  constructor(readonly timeoutMs: number) {
    super(`the connection did not open within ${timeoutMs} ms`);
  }
}

/**
 * The socket has ended (`ending` says how), so it can no longer write; or a
 * write was attempted after this side's close_notify.
 */
export class TlsClosedError extends Error {
  /** Always "TlsClosedError". */
  override name = "TlsClosedError";
  /** @param ending How the connection ended. */
  constructor(readonly ending: Ending) {
    super(`the TLS connection is closed (${ending}): nothing more can be written`);
  }
}

/** The peer's certificate failed verification. */
export class CertificateVerificationError extends TlsHandshakeError {
  /** Always "CertificateVerificationError". */
  override name = "CertificateVerificationError";
  /** X509_V_ERR_* code (SSL_get_verify_result). */
  readonly verifyResult: number;
  /** X509_verify_cert_error_string of verifyResult. */
  readonly verifyResultString: string;
  /** Depth in the chain of the certificate that failed (0: the peer's own). */
  readonly depth: number;
  /** That certificate's subject (X509_NAME_oneline). */
  readonly subject: string;
  constructor(result: number, resultString: string, detail: VerifyDetail | undefined, options?: ErrorOptions) {
    super(`certificate verification failed: ${resultString}` +
      (detail ? ` (depth ${detail.depth}, ${detail.subject})` : ""), options);
    this.verifyResult = result;
    this.verifyResultString = resultString;
    this.depth = detail?.depth ?? 0;
    this.subject = detail?.subject ?? "";
  }
}

/**
 * A listener the application gave (onVerify, onSession) threw: the `cause`
 * is its exception. During the handshake the handshake's own error carries
 * the exception as its cause instead.
 */
export class TlsCallbackError extends Error {
  /** Always "TlsCallbackError". */
  override name = "TlsCallbackError";
  /** @param callback Which listener threw ("onSession", "onVerify"). */
  constructor(readonly callback: string, options?: ErrorOptions) {
    super(`the ${callback} listener threw${options?.cause instanceof Error ? `: ${options.cause.message}` : ""}`, options);
  }
}

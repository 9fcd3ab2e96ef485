/**
 * The engine's plain data types: what OpenSSL calls return and what a
 * connection reports. A leaf module: types only.
 */
import type { OpenSSLError } from "./errors.js";

/** SSL_get_error's codes, by name (SSL_ERROR_WANT_READ is "want_read"). */
export type SslErrorName =
  | "none" | "ssl" | "want_read" | "want_write" | "want_x509_lookup" | "syscall" | "zero_return"
  | "want_connect" | "want_accept" | "want_async" | "want_async_job" | "want_client_hello_cb"
  | "want_retry_verify";

/** What one OpenSSL call returned. */
export interface Result {
  /** The function's return value, as OpenSSL returned it. */
  ret: number;
  /** SSL_get_error(ssl, ret) for ret <= 0 ("none" for success). */
  sslError: SslErrorName;
  /** For "ssl" and "syscall" with a failure queued: the drained error queue. */
  failure?: OpenSSLError;
}

/** What SSL_read returned, with the bytes it read. */
export interface ReadResult extends Result {
  /** The plaintext read (empty unless ret > 0). */
  data: Uint8Array;
}

/** SSL_get_shutdown's two flags. */
export interface ShutdownState {
  /** SSL_SENT_SHUTDOWN: our close_notify was sent (or we set the flag). */
  sent: boolean;
  /** SSL_RECEIVED_SHUTDOWN: the peer's close_notify was received (or we set the flag). */
  received: boolean;
}

/** What SSL_shutdown returned, with the flags after the call. */
export interface ShutdownResult extends Result {
  /** SSL_get_shutdown after the call. */
  state: ShutdownState;
}

/** A TLS protocol message or alert, from the message callback. */
export interface ProtocolMessage {
  /** Whether this end sent it or received it. */
  direction: "sent" | "received";
  /** SSL3_RT_* content type (SSL3_RT_ALERT, SSL3_RT_HANDSHAKE, ...; SSL3_RT_HEADER for record headers). */
  contentType: number;
  /** Protocol version of the record. */
  version: number;
  /** Handshake message type (SSL3_MT_*) for handshake messages. */
  handshakeType?: number;
  /** For alerts: level (1 warning, 2 fatal), description code and OpenSSL's long name (SSL_alert_desc_string_long). */
  alert?: {
    /** 1: warning, 2: fatal. */
    level: number;
    /** The alert's description code (SSL_AD_*). */
    description: number;
    /** OpenSSL's long name, e.g. "close notify". */
    name: string;
  };
  /** Length of the message body. */
  length: number;
}

/** One certificate the chain verification visited (the onVerify callback's argument). */
export interface VerifyDetail {
  /** X509_STORE_CTX_get_error: X509_V_OK or an X509_V_ERR_* code. */
  verifyResult: number;
  /** X509_verify_cert_error_string of it. */
  verifyResultString: string;
  /** Depth in the chain (0: the peer's own certificate). */
  depth: number;
  /** The certificate's subject (X509_NAME_oneline). */
  subject: string;
}

/** What a stapled OCSP response said about the server's certificate. */
export type OcspStatus = "good" | "revoked" | "unknown" | "none" | "invalid";

/** The protocol versions this build has. */
export type ProtocolVersion = "TLSv1.2" | "TLSv1.3";

/** What a handshake negotiated, and how the peer's certificate fared. */
export interface ConnectionInfo {
  /** SSL_get_version, e.g. "TLSv1.3". */
  protocol: string;
  /** SSL_CIPHER_get_name of the current cipher. */
  cipher: string;
  /** The negotiated key-exchange group (SSL_get0_group_name), e.g. "X25519MLKEM768". */
  group: string | null;
  /** The ALPN protocol selected (SSL_get0_alpn_selected), or null. */
  alpnProtocol: string | null;
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
  /** SSL_get_verify_result: X509_V_OK or an X509_V_ERR_* code. */
  verifyResult: number;
  /** X509_verify_cert_error_string of verifyResult. */
  verifyResultString: string;
  /** The peer's certificate, if any. */
  peerCertificate: CertificateSummary | null;
  /** Clients with ocsp on: what the stapled OCSP response said. */
  ocsp?: OcspStatus;
}

/** What a certificate says, for display. */
export interface CertificateSummary {
  /** X509_NAME_oneline of the subject, e.g. "/CN=example.org". */
  subject: string;
  /** X509_NAME_oneline of the issuer. */
  issuer: string;
  /** Start of validity (ASN1_TIME_print), e.g. "Nov 26 12:00:00 2026 GMT". */
  notBefore: string;
  /** End of validity (ASN1_TIME_print). */
  notAfter: string;
  /** Public key type (EVP_PKEY_get0_type_name: "EC", "RSA", "ED25519", ...). */
  keyType: string;
  /** Public key size in bits (EVP_PKEY_get_bits). */
  keyBits: number;
}

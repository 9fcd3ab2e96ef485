/**
 * openssl-wasm: real OpenSSL 3.5 in WebAssembly.
 *
 * ```ts
 * const ossl = await OpenSSL.load();
 * using ctx = ossl.createContext({ role: "client", ca: [pem] });
 * using conn = ctx.createConnection({ servername: "example.org" });
 * conn.handshake(); conn.drain(); conn.feed(bytes); ...
 * ```
 *
 * @module openssl-tls-wasm
 */
export { OpenSSL, MAX_IO, type LoadOptions } from "./engine/openssl.js";
export { Context, DEFAULT_CIPHERS, DEFAULT_CIPHERSUITES, type CaEntry, type ContextOptions, type OcspStatus, type ProtocolVersion } from "./engine/context.js";
export type { RootStoreInfo } from "./engine/roots.js";
export {
  Connection,
  type CertificateSummary,
  type ConnectionInfo,
  type ConnectionOptions,
  type ProtocolMessage,
  type ReadResult,
  type Result,
  type ShutdownResult,
  type ShutdownState,
  type SslErrorName,
  type VerifyDetail,
} from "./engine/connection.js";
export { Session } from "./engine/session.js";
export { OpenSSLError, SessionNotResumableError, UseAfterFreeError, type ErrorQueueEntry } from "./engine/errors.js";
export { WasmLoadError, type WasmSource } from "./engine/load.js";
export type { PemOrDer } from "./engine/pki.js";
/** OpenSSL's numeric constants under their C names (`SSL_ERROR_WANT_READ`, `TLS1_3_VERSION`, ...), generated from the headers. */
export * as constants from "./generated/constants.js";
export {
  TlsSocket,
  TlsTruncationError,
  TlsHandshakeError,
  TlsTimeoutError,
  TlsClosedError,
  CertificateVerificationError,
  type TlsSocketOptions,
  type CloseInfo,
  type Ending,
  type ShutdownMode,
  type ShutdownReport,
  type ShutdownStep,
  type Transport,
  type TraceEvent,
} from "./tls-socket.js";
export { memoryPair } from "./transports/memory.js";
export type { IterableReadableStream } from "./transports/iterable.js";
export { fromNodeSocket, connectTcp } from "./transports/node.js";
export {
  fromWebSocket, connectWebSocket, WebSocketClosedError, WebSocketLimitError, type WebSocketLike, type WebSocketTransportOptions,
} from "./transports/websocket.js";
export { connectDeno, connectBun, connectCloudflare, type CloudflareSocketLike } from "./transports/runtimes.js";

/**
 * openssl-tls-wasm: real OpenSSL 3.5 in WebAssembly.
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
export { OpenSSL, MAX_IO, type CertificateVerification, type LoadOptions } from "./engine/openssl.js";
export { TlsContext, DEFAULT_CIPHERS, DEFAULT_CIPHERSUITES, type ContextOptions, type SniIdentity } from "./engine/context.js";
export { TlsConnection, DEFAULT_INPUT_CAPACITY, type ConnectionOptions } from "./engine/connection.js";
export { TlsSession } from "./engine/session.js";
export type {
  CertificateSummary, ConnectionInfo, OcspStatus, ProtocolMessage, ProtocolVersion, ReadResult, Result, ShutdownResult,
  ShutdownState, SslErrorName, VerifyDetail,
} from "./engine/types.js";
export type { CaEntry } from "./engine/trust.js";
export type { RootStoreInfo } from "./engine/roots.js";
export { OpenSSLError, SessionNotResumableError, UseAfterFreeError, type ErrorQueueEntry } from "./engine/errors.js";
export { WasmLoadError, type WasmSource } from "./engine/load.js";
export type { PemOrDer } from "./engine/pki.js";
/** OpenSSL's numeric constants under their C names (`SSL_ERROR_WANT_READ`, `TLS1_3_VERSION`, ...), generated from the headers. */
export * as constants from "./generated/constants.js";
export {
  TlsSocket,
  type TlsSocketOptions,
  type ShutdownOptions,
  type CloseInfo,
  type ShutdownMode,
  type ShutdownReport,
  type ShutdownStep,
  type Transport,
  type TraceEvent,
} from "./tls-socket.js";
export {
  CertificateVerificationError,
  ConnectTimeoutError,
  TlsCallbackError,
  TlsClosedError,
  TlsHandshakeError,
  TlsTimeoutError,
  TlsTruncationError,
  type Ending,
} from "./errors.js";
export { memoryPair } from "./transports/memory.js";
export type { IterableReadableStream } from "./transports/iterable.js";
export {
  fromWebSocket, connectWebSocket, WebSocketClosedError, WebSocketLimitError,
  type ConnectWebSocketOptions, type WebSocketConstructor, type WebSocketLike, type WebSocketTransportOptions,
} from "./transports/websocket.js";
export { connectDeno, connectBun, connectCloudflare, type CloudflareSocketLike } from "./transports/runtimes.js";
export {
  connectWisp, wispConnector, wispCloseReasonName, WispClient, WispClosedError, WispProtocolError, WispStreamClosedError,
  WISP_CLOSE_REASONS, type ConnectWispOptions,
} from "./transports/wisp.js";
export {
  TlsWebSocket, WebSocketCloseEvent, WebSocketErrorEvent, type TlsWebSocketOptions,
} from "./websocket/tls-websocket.js";
export { WebSocketHandshakeError, WebSocketProtocolError } from "./websocket/errors.js";
export {
  tunnelConnector, denoConnector, bunConnector, cloudflareConnector, hostPort, type Connector, type Destination,
} from "./transports/connector.js";
export { createFetch, tlsInfo, type Fetch, type FetchOptions, type ResponseTlsInfo } from "./http/fetch.js";
export { HttpParseError, type HttpParseErrorCode } from "./http/errors.js";

/**
 * openssl-tls-wasm/node: the parts that need Node (or a runtime with Node's
 * modules: Deno, Bun): TCP transports, a Node `Duplex` over a TlsSocket, and
 * the WebSocket-to-TCP tunnel. The universal entry ("openssl-tls-wasm")
 * never imports these, so it type-checks and bundles without Node.
 *
 * ```ts
 * import { TlsSocket } from "openssl-tls-wasm";
 * import { connectTcp, toNodeDuplex } from "openssl-tls-wasm/node";
 * ```
 *
 * @module openssl-tls-wasm/node
 */
export { connectTcp, fromNodeSocket, tcpConnector, type ConnectTcpOptions, type NodeSocketLike } from "./transports/node.js";
export { toNodeDuplex } from "./node/duplex.js";
export {
  createTunnel, parseDestination, CloseCode, closeReason, TUNNEL_DEFAULTS,
  type CloseOptions, type Tunnel, type TunnelOptions, type TunnelEvent, type TunnelEventName,
} from "./tunnel/tunnel.js";

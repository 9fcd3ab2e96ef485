/**
 * The universal entry as Node resolves it (the "node" export condition):
 * everything in index.ts, with connectWebSocket, connectWisp and
 * tunnelConnector falling back to the `ws` package where the runtime has no
 * global WebSocket (Node 20), and TlsWebSocket connecting over Node's TCP
 * (tcpConnector) when given no connector.
 */
import { tunnelConnectorWith, type Connector } from "./transports/connector.js";
import { tcpConnector } from "./transports/node.js";
import type { ConnectWebSocketOptions } from "./transports/websocket.js";
import { connectWebSocket, connectWisp } from "./transports/websocket-node.js";
import { TlsWebSocket as UniversalTlsWebSocket, type TlsWebSocketOptions } from "./websocket/tls-websocket.js";

export * from "./index.js";
export { connectWebSocket, connectWisp };

/** tunnelConnector, with Node 20's fallback to the `ws` package. */
export function tunnelConnector(tunnelUrl: string | URL, options: ConnectWebSocketOptions = {}): Connector {
  return tunnelConnectorWith(connectWebSocket, tunnelUrl, options);
}

/** TlsWebSocket, with Node's TCP (tcpConnector()) as the default connector. */
export class TlsWebSocket extends UniversalTlsWebSocket {
  constructor(url: string | URL, protocols?: string | string[], options: TlsWebSocketOptions = {}) {
    super(url, protocols, options !== null && typeof options === "object" && options.connector === undefined
      ? { ...options, connector: tcpConnector() } : options);
  }
}

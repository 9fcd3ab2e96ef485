/**
 * The universal entry as Node resolves it (the "node" export condition):
 * everything in index.ts, with connectWebSocket and connectWisp falling back to the `ws`
 * package where the runtime has no global WebSocket (Node 20).
 */
export * from "./index.js";
export { connectWebSocket, connectWisp } from "./transports/websocket-node.js";

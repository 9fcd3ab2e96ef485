/**
 * openssl-tls-wasm/edge: the tunnel on edge platforms, beside the Node one
 * (openssl-tls-wasm/node): a Cloudflare Worker (workerd) and a Deno server.
 * Same wsproxy convention, Wisp v1 endpoint, allowlist, close codes and limits.
 *
 * @module openssl-tls-wasm/edge
 */
export { createCloudflareTunnel, type CloudflareTunnelOptions, type CloudflareTunnelWorker } from "./cloudflare.js";
export { serveDenoTunnel, type DenoTunnel, type DenoTunnelOptions } from "./deno.js";
export { EDGE_TUNNEL_DEFAULTS, type EdgeTunnelOptions, type ServerWebSocketLike, type TcpLike } from "./config.js";

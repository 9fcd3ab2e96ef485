/**
 * The tunnel as a Cloudflare Worker (or any workerd service): WebSocket
 * upgrades to `/<host>:<port>` relayed over `connect()` from
 * "cloudflare:sockets". Deploy a worker whose module is
 *
 * ```js
 * import { connect } from "cloudflare:sockets";
 * import { createCloudflareTunnel } from "openssl-tls-wasm/edge";
 * export default createCloudflareTunnel({ connect });
 * ```
 *
 * with the allowlist in the environment (`TUNNEL_ALLOW = "example.org:443"`,
 * optional `TUNNEL_ORIGINS`, and `TUNNEL_WISP = "1"` for the Wisp endpoint
 * on paths ending with "/"), or given as options. Cloudflare refuses some
 * destinations itself (port 25, Cloudflare's own IP ranges, private and
 * loopback addresses on its network): those end with close 4002 and
 * Cloudflare's reason.
 */
import { edgeConfig, optionsFromEnv, type EdgeConfig, type EdgeTunnelOptions, type ServerWebSocketLike, type TcpLike } from "./config.js";
import { handleTunnelRequest } from "./relay.js";

/** workerd's WebSocketPair: [client, server]. */
interface WebSocketPairLike {
  0: unknown;
  1: ServerWebSocketLike & { accept(): void };
}

/** Options of createCloudflareTunnel(): `connect` from "cloudflare:sockets", and the tunnel's (allow may come from the environment). */
export interface CloudflareTunnelOptions extends Partial<EdgeTunnelOptions> {
  /** `connect` from "cloudflare:sockets" (a worker imports it; this package cannot). */
  connect: (address: { hostname: string; port: number }) => TcpLike;
}

/** A Worker module's default export. */
export interface CloudflareTunnelWorker {
  /** Answers one request: a tunnel upgrade, /healthz, or 426. */
  fetch(request: Request, env?: Record<string, unknown>, ctx?: { waitUntil(promise: Promise<unknown>): void }): Response;
}

/**
 * A Worker's default export: `{ fetch(request, env, ctx) }`. Without `allow`
 * in the options, `env.TUNNEL_ALLOW` (and `env.TUNNEL_ORIGINS`,
 * `env.TUNNEL_WISP`) configure it; with neither, every request is answered 500 with a message saying so
 * (the tunnel never allows everything).
 */
export function createCloudflareTunnel(options: CloudflareTunnelOptions): CloudflareTunnelWorker {
  if (options === null || typeof options !== "object" || typeof options.connect !== "function") {
    throw new TypeError('createCloudflareTunnel: pass { connect } from "cloudflare:sockets"');
  }
  const fixed = options.allow ? edgeConfig(options as EdgeTunnelOptions) : undefined;
  let fromEnv: { key: string; config: EdgeConfig } | undefined;
  const configFor = (env: Record<string, unknown> = {}): EdgeConfig => {
    if (fixed) return fixed;
    const key = JSON.stringify([env.TUNNEL_ALLOW, env.TUNNEL_ORIGINS, env.TUNNEL_WISP]);
    if (fromEnv?.key !== key) fromEnv = { key, config: edgeConfig(optionsFromEnv(options, (name) => env[name])) };
    return fromEnv.config;
  };
  return {
    fetch(request, env, ctx) {
      let config: EdgeConfig;
      try {
        config = configFor(env);
      } catch (e) {
        return new Response(`${(e as Error).message}\n`, { status: 500 });
      }
      return handleTunnelRequest(request, config, {
        upgrade: () => {
          const Pair = (globalThis as { WebSocketPair?: new () => WebSocketPairLike }).WebSocketPair;
          if (!Pair) throw new TypeError("createCloudflareTunnel needs workerd's WebSocketPair");
          const pair = new Pair();
          pair[1].accept();
          return { socket: pair[1], response: new Response(null, { status: 101, webSocket: pair[0] } as ResponseInit) };
        },
        connect: ({ host, port }) => options.connect({ hostname: host, port }),
        // Work after the response (a close right after the upgrade) keeps the request alive until done.
        defer: (fn) => {
          const later = new Promise<void>((resolve) => setTimeout(() => {
            fn();
            resolve();
          }, 0));
          ctx?.waitUntil(later);
        },
      });
    },
  };
}

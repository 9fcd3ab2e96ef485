/**
 * The tunnel as a Deno server: `Deno.serve` for the upgrade,
 * `Deno.upgradeWebSocket`, and `Deno.connect` for TCP.
 *
 * ```js
 * import { serveDenoTunnel } from "npm:openssl-tls-wasm/edge";
 * serveDenoTunnel({ port: 8080, allow: ["example.org:443"] });
 * ```
 *
 * Run with `--allow-net` (and `--allow-env` to read TUNNEL_ALLOW,
 * TUNNEL_ORIGINS and TUNNEL_WISP). `wisp: true` (or TUNNEL_WISP=1) also
 * serves Wisp v1 on paths ending with "/".
 */
import { edgeConfig, optionsFromEnv, type EdgeTunnelOptions, type ServerWebSocketLike, type TcpLike } from "./config.js";
import { handleTunnelRequest } from "./relay.js";

interface DenoLike {
  serve(options: { port: number; hostname: string; onListen?: (addr: { port: number; hostname: string }) => void; signal?: AbortSignal },
    handler: (request: Request) => Response | Promise<Response>): { finished: Promise<void>; addr: { port: number } };
  upgradeWebSocket(request: Request): { socket: ServerWebSocketLike & { binaryType: string }; response: Response };
  connect(options: { hostname: string; port: number }): Promise<TcpLike>;
  env: { get(name: string): string | undefined };
}

/** Options of serveDenoTunnel(): where to listen, and the tunnel's (allow may come from TUNNEL_ALLOW). */
export interface DenoTunnelOptions extends Partial<EdgeTunnelOptions> {
  /** Port (default 8080; 0: any free port, see the returned `port`). */
  port?: number;
  /** Address to listen on (default 127.0.0.1). */
  hostname?: string;
  /** Aborting it stops the server. */
  signal?: AbortSignal;
}

/** A running Deno tunnel. */
export interface DenoTunnel {
  /** The port it listens on. */
  port: number;
  /** Settles when the server has stopped (its `signal` aborted). */
  finished: Promise<void>;
}

/** Starts the tunnel; resolves once it listens, with its port and a promise of its end. */
export async function serveDenoTunnel(options: DenoTunnelOptions = {}): Promise<DenoTunnel> {
  const deno = (globalThis as { Deno?: DenoLike }).Deno;
  if (!deno) throw new TypeError("serveDenoTunnel needs Deno");
  // Without --allow-env, Deno throws on reading the environment: options given in code need no permission.
  const env = (name: string) => {
    try {
      return deno.env.get(name);
    } catch {
      return undefined;
    }
  };
  const config = edgeConfig(optionsFromEnv(options, env));
  let listening!: (port: number) => void;
  const port = new Promise<number>((r) => (listening = r));
  const server = deno.serve({
    port: options.port ?? 8080, hostname: options.hostname ?? "127.0.0.1", onListen: (addr) => listening(addr.port),
    ...(options.signal ? { signal: options.signal } : {}),
  }, (request) => handleTunnelRequest(request, config, {
    upgrade: (r) => {
      const { socket, response } = deno.upgradeWebSocket(r);
      socket.binaryType = "arraybuffer";
      return { socket, response };
    },
    connect: ({ host, port: p }) => deno.connect({ hostname: host, port: p }),
  }));
  return { port: await port, finished: server.finished };
}

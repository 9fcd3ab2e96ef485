// Types for edge-hosts.mjs.

/** An edge tunnel in a process of its own. */
export interface EdgeHost {
  /** ws://127.0.0.1:<port> */
  url: string;
  port: number;
  /** Everything it printed so far (its log lines). */
  output(): string;
  /** Kills it (and removes what it was started from). */
  stop(): void;
}

/** The Worker (test/runtimes/cloudflare-worker.mjs) in workerd, with TUNNEL_ALLOW = `allow` and Wisp on. */
export function startWorkerd(options: { allow: string }): Promise<EdgeHost>;
/** The Deno server (test/runtimes/deno-server.mjs) with `env` (TUNNEL_ALLOW, TUNNEL_WISP, TUNNEL_ORIGINS, EDGE_LIMITS as JSON). */
export function startDeno(env: Record<string, string>): Promise<EdgeHost>;

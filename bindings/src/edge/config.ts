/**
 * What the edge tunnel's two endpoints (relay.ts: one TCP connection per
 * WebSocket, the wsproxy convention; wisp.ts: Wisp v1, many per WebSocket)
 * share: the options and their checking, the platform interfaces, and the
 * WebSocket helpers. Web-platform code only.
 */
import { closeReason } from "../tunnel/close.js";
import { parseAllowRule, type AllowRule, type Destination } from "../tunnel/destination.js";

/** The server side of a WebSocket as workerd and Deno give it (the standard API). */
export interface ServerWebSocketLike {
  /** 0 connecting, 1 open, 2 closing, 3 closed. */
  readonly readyState: number;
  /** Bytes queued by send() and not yet sent, where the platform reports it. */
  readonly bufferedAmount?: number;
  /** Sends one message. */
  send(data: Uint8Array | ArrayBuffer): void;
  /** Closes with a code and a reason. */
  close(code?: number, reason?: string): void;
  /** For "message", "close" and "error". */
  addEventListener(type: string, listener: (event: never) => void): void;
}

/** A TCP connection as Web Streams (Cloudflare's Socket, Deno.Conn). */
export interface TcpLike {
  /** Bytes from the TCP peer. */
  readable: ReadableStream<Uint8Array>;
  /** Bytes to the TCP peer. */
  writable: WritableStream<Uint8Array>;
  /** Resolves once connected, rejects if it could not be (Cloudflare's `opened`). */
  opened?: Promise<unknown>;
  /** Closes it, connected or still connecting (Cloudflare's `close()`). */
  close?(): unknown;
}

/**
 * Gives a TCP connection up, connected or not, where the platform lets us:
 * both streams ended, and the socket closed (a Cloudflare socket still
 * connecting stops trying). Never throws.
 */
export function abandon(tcp: TcpLike): void {
  void tcp.writable.abort().catch(() => {});
  void tcp.readable.cancel().catch(() => {});
  try {
    void Promise.resolve(tcp.close?.()).catch(() => {});
  } catch {
    // closed already
  }
}

/** Options of the edge tunnel (createCloudflareTunnel, serveDenoTunnel). */
export interface EdgeTunnelOptions {
  /**
   * Destinations clients may reach, as the Node tunnel's --allow: `host:port`,
   * `host:*` (IPv6 in brackets) or `*.example.org:443`. Required. `public:`
   * rules are refused here: checking every resolved address before connecting
   * needs a resolver the edge platforms do not give.
   */
  allow: readonly string[];
  /**
   * Serve Wisp v1 on paths ending with "/" (default false: refused with
   * 1008). Each Wisp stream is checked against `allow` like a wsproxy path.
   */
  wisp?: boolean;
  /** At most this many streams open on one Wisp WebSocket (default 64); more: CLOSE 0x49 (throttled). */
  maxStreamsPerConnection?: number;
  /** Allowed Origin header values; when given, others are refused (1008). Default: any. */
  origins?: readonly string[];
  /**
   * At most this many live WebSockets at once in this isolate or process
   * (default 64; a Wisp one counts as one), more get 1013; and at most this
   * many TCP connections (one per wsproxy tunnel, one per Wisp stream:
   * beyond it a Wisp CONNECT gets CLOSE 0x49).
   */
  maxConnections?: number;
  /** Largest WebSocket message, either way (default 1 MiB, at least 64); a larger one from the client gets 1009. */
  maxFrameBytes?: number;
  /** Bytes from the client waiting for TCP (default 4 MiB); beyond it, close 4003. */
  maxBufferedBytes?: number;
  /** Close a tunnel with no traffic for this long with 1001 (default 300000 ms; 0: never). */
  idleTimeoutMs?: number;
  /**
   * How long the TCP connection may take to open (default 10000 ms); then
   * close 4002 (a Wisp stream: CLOSE 0x43). In Deno the attempt itself goes
   * on until the OS gives up, and counts as a TCP connection against
   * maxConnections until then.
   */
  connectTimeoutMs?: number;
  /**
   * A tunnel whose WebSocket has not opened this long after the upgrade
   * is ended (default 10000 ms): a client gone during the upgrade gets no
   * close event in Deno, and would otherwise hold its place in
   * maxConnections (and its TCP connection) for good.
   */
  upgradeTimeoutMs?: number;
  /** Receives a line per event (refusals, connections and their end). Default: none. */
  log?: (line: string) => void;
}

/** The defaults of EdgeTunnelOptions. */
export const EDGE_TUNNEL_DEFAULTS = {
  /** Live WebSockets, and TCP connections, at once. */
  maxConnections: 64,
  /** Streams open at once on one Wisp WebSocket. */
  maxStreamsPerConnection: 64,
  /** Largest WebSocket message, bytes. */
  maxFrameBytes: 1 << 20,
  /** Client bytes waiting for TCP, per tunnel. */
  maxBufferedBytes: 4 << 20,
  /** Idle time before 1001, milliseconds. */
  idleTimeoutMs: 300_000,
  /** Time for TCP to open, milliseconds. */
  connectTimeoutMs: 10_000,
  /** Time for the WebSocket to open after the upgrade, milliseconds. */
  upgradeTimeoutMs: 10_000,
} as const;

/** EdgeTunnelOptions checked, with defaults. */
export interface EdgeConfig {
  rules: AllowRule[];
  origins: ReadonlySet<string> | null;
  wisp: boolean;
  maxStreamsPerConnection: number;
  maxConnections: number;
  maxFrameBytes: number;
  maxBufferedBytes: number;
  idleTimeoutMs: number;
  connectTimeoutMs: number;
  upgradeTimeoutMs: number;
  log: (line: string) => void;
}

/** The longest delay setTimeout honours (2^31 - 1 ms); a longer one fires at once. */
const MAX_TIMER_MS = 2_147_483_647;

function integer(name: string, value: unknown, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new RangeError(`edge tunnel: ${name} must be an integer >= ${min}${max < Number.MAX_SAFE_INTEGER ? ` and <= ${max}` : ""}, got ${String(value)}`);
  }
  return value;
}

/**
 * Checks the options. An empty allow list is refused: the tunnel would be
 * useless, and "allow everything" is never a default.
 * @throws TypeError / RangeError on a bad option.
 */
export function edgeConfig(options: EdgeTunnelOptions): EdgeConfig {
  if (options === null || typeof options !== "object") throw new TypeError("edge tunnel: options must be an object");
  if (!Array.isArray(options.allow) || options.allow.length === 0) {
    throw new TypeError("edge tunnel: allow must list at least one host:port or host:* (it is never an open proxy)");
  }
  if (options.origins !== undefined && !Array.isArray(options.origins)) throw new TypeError("edge tunnel: origins must be an array of strings");
  if (options.log !== undefined && typeof options.log !== "function") throw new TypeError("edge tunnel: log must be a function");
  if (options.wisp !== undefined && typeof options.wisp !== "boolean") throw new TypeError("edge tunnel: wisp must be a boolean");
  const rules = options.allow.map(parseAllowRule);
  const publicRule = rules.find((r) => r.kind === "public");
  if (publicRule) {
    throw new TypeError("edge tunnel: public:PORT rules need every resolved address checked before connecting, " +
      "and the edge platforms' connect() takes a name it resolves itself; list hosts or *.domain patterns here");
  }
  return {
    rules,
    origins: options.origins ? new Set(options.origins) : null,
    wisp: options.wisp ?? false,
    maxStreamsPerConnection: integer("maxStreamsPerConnection", options.maxStreamsPerConnection, EDGE_TUNNEL_DEFAULTS.maxStreamsPerConnection, 1),
    maxConnections: integer("maxConnections", options.maxConnections, EDGE_TUNNEL_DEFAULTS.maxConnections, 1),
    // At least 64: the Wisp endpoint splits what it sends into packets of that size, header included.
    maxFrameBytes: integer("maxFrameBytes", options.maxFrameBytes, EDGE_TUNNEL_DEFAULTS.maxFrameBytes, 64),
    maxBufferedBytes: integer("maxBufferedBytes", options.maxBufferedBytes, EDGE_TUNNEL_DEFAULTS.maxBufferedBytes, 1),
    idleTimeoutMs: integer("idleTimeoutMs", options.idleTimeoutMs, EDGE_TUNNEL_DEFAULTS.idleTimeoutMs, 0, MAX_TIMER_MS),
    connectTimeoutMs: integer("connectTimeoutMs", options.connectTimeoutMs, EDGE_TUNNEL_DEFAULTS.connectTimeoutMs, 1, MAX_TIMER_MS),
    upgradeTimeoutMs: integer("upgradeTimeoutMs", options.upgradeTimeoutMs, EDGE_TUNNEL_DEFAULTS.upgradeTimeoutMs, 1, MAX_TIMER_MS),
    log: options.log ?? (() => {}),
  };
}

/** A comma- or whitespace-separated list from an environment variable, e.g. TUNNEL_ALLOW="example.org:443, 127.0.0.1:*". */
export function listFromEnv(value: unknown): string[] | undefined {
  if (typeof value !== "string" || value.trim() === "") return undefined;
  return value.split(/[\s,]+/).filter(Boolean);
}

/**
 * A yes/no from an environment variable (TUNNEL_WISP=1): "1", "true", "yes"
 * or "on" is true, "0", "false", "no", "off" or nothing false.
 * @throws TypeError on anything else (a typo never turns a feature on or off silently).
 */
export function flagFromEnv(name: string, value: unknown): boolean | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  const text = String(value).trim().toLowerCase();
  if (["1", "true", "yes", "on"].includes(text)) return true;
  if (["0", "false", "no", "off"].includes(text)) return false;
  throw new TypeError(`edge tunnel: ${name} must be 1/0, true/false, yes/no or on/off, got ${JSON.stringify(value)}`);
}

/** The edge options that may come from the environment (TUNNEL_ALLOW, TUNNEL_ORIGINS, TUNNEL_WISP), beside those given. */
export function optionsFromEnv(options: Partial<EdgeTunnelOptions>, env: (name: string) => unknown): EdgeTunnelOptions {
  const allow = options.allow ?? listFromEnv(env("TUNNEL_ALLOW"));
  if (!allow) throw new TypeError("the tunnel has no allowlist: set TUNNEL_ALLOW (host:port, comma-separated) or pass { allow }");
  const origins = options.origins ?? listFromEnv(env("TUNNEL_ORIGINS"));
  const wisp = options.wisp ?? flagFromEnv("TUNNEL_WISP", env("TUNNEL_WISP"));
  return { ...options, allow, ...(origins ? { origins } : {}), ...(wisp !== undefined ? { wisp } : {}) };
}

/** What the platform gives the shared request handling (handleTunnelRequest). */
export interface EdgePlatform {
  /** Accepts the upgrade: the server side of the WebSocket and the 101 response to return. */
  upgrade(request: Request): { socket: ServerWebSocketLike; response: Response };
  /** Opens TCP to the destination (may reject, or return a socket whose `opened` rejects). */
  connect(destination: Destination): TcpLike | Promise<TcpLike>;
  /** Runs `fn` once the 101 response has gone (default: a 0 ms timer). */
  defer?(fn: () => void): void;
}

/** Stop reading TCP while the WebSocket has this much queued for the client. */
export const SEND_HIGH_WATER = 1 << 20;

/** What is live for one config (an isolate or process may serve several). */
export interface Counters {
  /** WebSockets: wsproxy tunnels and Wisp sessions. */
  sockets: number;
  /** TCP connections: one per wsproxy tunnel, one per Wisp stream. */
  tcp: number;
}

/**
 * Runs `fn` once the client can receive what it sends: after the 101
 * response has gone (workerd drops a close sent before it), and once open
 * (Deno's socket is still connecting while the handler runs).
 */
export function whenOpen(ws: ServerWebSocketLike, fn: () => void, defer: (fn: () => void) => void = (f) => setTimeout(f, 0)): void {
  if (ws.readyState === 0) ws.addEventListener("open", fn);
  else defer(fn);
}

/**
 * Calls `fn` if `ws` is still connecting `ms` after the upgrade: its client
 * went away during the upgrade, which Deno reports with no event at all.
 */
export function openDeadline(ws: ServerWebSocketLike, ms: number, fn: () => void): void {
  if (ws.readyState !== 0) return;
  const timer = setTimeout(() => {
    if (ws.readyState === 0) fn();
  }, ms);
  const stop = () => clearTimeout(timer);
  ws.addEventListener("open", stop);
  ws.addEventListener("close", stop);
}

/** Whether a close code may be sent (RFC 6455 7.4: never 1004-1006, nor 1015 and up below 3000). */
const sendable = (code: number) => (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);

/**
 * Closes with a code (1000 for one that may not be sent, as a client's 1005
 * "no status" echoed) and a reason (cut to fit a close frame) once the
 * client can receive them; never throws.
 */
export function closeSocket(ws: ServerWebSocketLike, code: number, reason: string, defer?: (fn: () => void) => void): void {
  whenOpen(ws, () => {
    try {
      ws.close(sendable(code) ? code : 1000, closeReason(reason));
    } catch {
      // already closing or closed
    }
  }, defer);
}

/** A message's bytes, or null for a text message (or anything else). */
export function binaryMessage(data: unknown): Uint8Array | null {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return null;
}

/** An error's message, for a log line or a close reason. */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * The tunnel's options: their defaults, and the checks that turn a bad value
 * into a clear TypeError/RangeError at createTunnel() instead of a limit that
 * silently does something else (NaN switches a comparison off; a timeout
 * above 2^31 - 1 ms fires at once).
 */
import { parseAllowRule, type AllowRule } from "./destination.js";
import type { TunnelEvent } from "./events.js";
import { MAX_TIMER_MS } from "./limits.js";
import type { ResolvedAddress } from "./resolve.js";

/** Options of createTunnel(): destinations, origins and every limit (README: the tunnel's table). */
export interface TunnelOptions {
  /**
   * Allowed destinations; nothing else is reachable. Each is a host and a
   * port, or `*` for any port: `example.org:443` (that host, exactly),
   * `*.example.org:443` (any name below example.org, not example.org itself),
   * or `public:443` (any name or IP address whose every resolved address is
   * public unicast; the tunnel connects to the address it checked).
   */
  allow: readonly string[];
  /** Allowed Origin header values (browsers send one); when given, others are refused. */
  origins?: readonly string[];
  /** Where to listen. Default 127.0.0.1, port 0 (any free port). */
  host?: string;
  /** Port to listen on (0: any free port; `port` on the Tunnel says which). */
  port?: number;
  /**
   * Serve Wisp v1 on paths ending with "/" (default false: refused with
   * 1008). Each Wisp stream is checked against `allow` like a wsproxy path.
   */
  wisp?: boolean;
  /** At most this many streams open on one Wisp WebSocket (default 64); more: CLOSE 0x49 (throttled). */
  maxStreamsPerConnection?: number;
  /**
   * At most this many live tunnels at once (default 64); more are refused
   * with 1013. It bounds live WebSockets (a Wisp one counts as one) and,
   * separately, TCP connections to destinations (one per wsproxy tunnel, one
   * per Wisp stream: beyond it a CONNECT gets CLOSE 0x49).
   */
  maxConnections?: number;
  /** At most this many live tunnels per client address (default 16; IPv6 counts per /64); more: 1013. */
  maxConnectionsPerClient?: number;
  /**
   * At most this many connections that are not (yet) tunnels: before or
   * during the WebSocket upgrade, plain HTTP requests, refused WebSockets
   * still closing (default 128). Beyond it new connections are dropped on accept.
   */
  maxPending?: number;
  /** At most this many such connections per client address (default 16). */
  maxPendingPerClient?: number;
  /** A connection that is not a tunnel this long after it was accepted is destroyed (default 10 s). */
  upgradeTimeoutMs?: number;
  /** Close a tunnel with no traffic for this long, close code 1001 (default 300 s; 0: never). */
  idleTimeoutMs?: number;
  /** Largest WebSocket message accepted (default 1 MiB); larger ones: close 1009. */
  maxFrameBytes?: number;
  /**
   * Total relayed bytes per second, all tunnels and both directions together
   * (default 0: no limit). When spent, the tunnel stops reading until the
   * budget refills; bursts may use a quarter second's worth.
   */
  maxBytesPerSecond?: number;
  /**
   * Per tunnel and direction: beyond this many bytes waiting for the slower
   * side (`ws.bufferedAmount`, TCP's `writableLength`), the tunnel stops
   * reading the faster side (default 1 MiB). Towards the WebSocket it reads
   * again below a quarter of it, towards TCP once TCP's buffer drained.
   */
  highWaterMark?: number;
  /**
   * Per tunnel and direction: beyond this many bytes waiting, the tunnel is
   * closed with 4003 rather than buffering more. Default: highWaterMark +
   * maxFrameBytes + 2 MiB (4 MiB with the other defaults), which leaves room
   * for the message and the read in flight when the tunnel pauses; a smaller
   * value cuts off fast senders instead of pausing them.
   */
  maxBufferedBytes?: number;
  /** How long a `public` rule's DNS lookup may take (default 5 s); then close 4002. */
  resolveTimeoutMs?: number;
  /**
   * How long TCP's connect to a destination may take (default 10 s); then
   * close 4002 (a Wisp stream: CLOSE 0x43). Without it a destination that
   * drops SYNs holds the tunnel for the OS's retries (about 2 minutes on Linux).
   */
  connectTimeoutMs?: number;
  /**
   * Test and embedding hook: resolves a name for `public` rules, every
   * address. Default: node:dns `lookup(host, { all: true })`. Not called for
   * an IP address.
   */
  resolve?: (host: string) => Promise<readonly {
    /** An IPv4 or IPv6 address (no brackets). */
    address: string;
    /** 4 or 6 (as node:dns says; the tunnel goes by the address). */
    family: number;
  }[]>;
  /**
   * Test and embedding hook: whether a `public` rule may reach an address.
   * Replaces the built-in check (public unicast only: no loopback, private,
   * link-local, CGNAT, unique-local, multicast, reserved or cloud metadata
   * addresses, IPv4-mapped and NAT64 forms included), so only tests that
   * must reach a local server should set it.
   */
  isPublicAddress?: (address: string) => boolean;
  /** Receives a plain-text line per event. Default: none. */
  log?: (line: string) => void;
  /** Receives each event as an object (what `--log json` prints). Default: none. */
  onEvent?: (event: TunnelEvent) => void;
}

/** The defaults, for documentation and the CLI's usage text. */
export const TUNNEL_DEFAULTS = {
  /** The address listened on: loopback only. */
  host: "127.0.0.1",
  /** The port listened on: any free one (the CLI's default is 8080). */
  port: 0,
  /** Live tunnels in total, and TCP connections (wsproxy tunnels and Wisp streams). */
  maxConnections: 64,
  /** Streams open at once on one Wisp WebSocket. */
  maxStreamsPerConnection: 64,
  /** Live tunnels per client address (IPv6: per /64). */
  maxConnectionsPerClient: 16,
  /** Connections that are not (yet) tunnels, in total. */
  maxPending: 128,
  /** Connections that are not (yet) tunnels, per client address. */
  maxPendingPerClient: 16,
  /** Time for a connection to become a tunnel, in ms. */
  upgradeTimeoutMs: 10_000,
  /** Time without traffic before a tunnel is closed (1001), in ms. */
  idleTimeoutMs: 300_000,
  /** Largest WebSocket message, in bytes. */
  maxFrameBytes: 1 << 20,
  /** Relayed bytes per second, all tunnels together; 0: no limit. */
  maxBytesPerSecond: 0,
  /** Bytes waiting for the slower side beyond which the faster side is not read, per tunnel and direction. */
  highWaterMark: 1 << 20,
  /** How long a `public` rule's DNS lookup may take, in ms. */
  resolveTimeoutMs: 5_000,
  /** How long TCP's connect may take, in ms. */
  connectTimeoutMs: 10_000,
  /** Added to highWaterMark + maxFrameBytes for the default maxBufferedBytes. */
  bufferSlack: 2 << 20,
} as const;

/** Every option checked, with its default filled in. */
export interface ResolvedOptions {
  rules: AllowRule[];
  origins: ReadonlySet<string> | null;
  host: string;
  port: number;
  wisp: boolean;
  maxStreamsPerConnection: number;
  maxConnections: number;
  maxConnectionsPerClient: number;
  maxPending: number;
  maxPendingPerClient: number;
  upgradeTimeoutMs: number;
  idleTimeoutMs: number;
  maxFrameBytes: number;
  maxBytesPerSecond: number;
  highWaterMark: number;
  maxBufferedBytes: number;
  resolveTimeoutMs: number;
  connectTimeoutMs: number;
  resolve: ((host: string) => Promise<readonly ResolvedAddress[]>) | undefined;
  isPublicAddress: ((address: string) => boolean) | undefined;
  log: ((line: string) => void) | undefined;
  onEvent: ((event: TunnelEvent) => void) | undefined;
}

type IntegerName = "port" | "maxConnections" | "maxStreamsPerConnection" | "maxConnectionsPerClient" | "maxPending" | "maxPendingPerClient" |
  "upgradeTimeoutMs" | "idleTimeoutMs" | "maxFrameBytes" | "maxBytesPerSecond" | "highWaterMark" | "maxBufferedBytes" | "resolveTimeoutMs" | "connectTimeoutMs";

/**
 * Checks every option and fills in defaults.
 *
 * @throws TypeError for a value of the wrong type; RangeError for a number
 *   out of range or not an integer.
 */
export function resolveOptions(options: TunnelOptions): ResolvedOptions {
  if (typeof options !== "object" || options === null) throw new TypeError("tunnel: options must be an object");
  const integer = (name: IntegerName, min: number, max: number, fallback: number) =>
    checkInteger(name, options[name], min, max, fallback);
  const maxFrameBytes = integer("maxFrameBytes", 1, Number.MAX_SAFE_INTEGER, TUNNEL_DEFAULTS.maxFrameBytes);
  const highWaterMark = integer("highWaterMark", 1, Number.MAX_SAFE_INTEGER, TUNNEL_DEFAULTS.highWaterMark);
  const resolved: ResolvedOptions = {
    rules: stringList("allow", options.allow, true).map(parseAllowRule),
    origins: options.origins === undefined ? null : new Set(stringList("origins", options.origins, false)),
    host: options.host === undefined ? TUNNEL_DEFAULTS.host : checkString("host", options.host),
    port: integer("port", 0, 65535, TUNNEL_DEFAULTS.port),
    wisp: checkBoolean("wisp", options.wisp),
    maxStreamsPerConnection: integer("maxStreamsPerConnection", 1, 0xffff_ffff, TUNNEL_DEFAULTS.maxStreamsPerConnection),
    maxConnections: integer("maxConnections", 1, Number.MAX_SAFE_INTEGER, TUNNEL_DEFAULTS.maxConnections),
    maxConnectionsPerClient: integer("maxConnectionsPerClient", 1, Number.MAX_SAFE_INTEGER, TUNNEL_DEFAULTS.maxConnectionsPerClient),
    maxPending: integer("maxPending", 1, Number.MAX_SAFE_INTEGER, TUNNEL_DEFAULTS.maxPending),
    maxPendingPerClient: integer("maxPendingPerClient", 1, Number.MAX_SAFE_INTEGER, TUNNEL_DEFAULTS.maxPendingPerClient),
    upgradeTimeoutMs: integer("upgradeTimeoutMs", 1, MAX_TIMER_MS, TUNNEL_DEFAULTS.upgradeTimeoutMs),
    idleTimeoutMs: integer("idleTimeoutMs", 0, MAX_TIMER_MS, TUNNEL_DEFAULTS.idleTimeoutMs),
    maxFrameBytes,
    maxBytesPerSecond: integer("maxBytesPerSecond", 0, Number.MAX_SAFE_INTEGER, TUNNEL_DEFAULTS.maxBytesPerSecond),
    highWaterMark,
    maxBufferedBytes: integer("maxBufferedBytes", highWaterMark, Number.MAX_SAFE_INTEGER,
      highWaterMark + maxFrameBytes + TUNNEL_DEFAULTS.bufferSlack),
    resolveTimeoutMs: integer("resolveTimeoutMs", 1, MAX_TIMER_MS, TUNNEL_DEFAULTS.resolveTimeoutMs),
    connectTimeoutMs: integer("connectTimeoutMs", 1, MAX_TIMER_MS, TUNNEL_DEFAULTS.connectTimeoutMs),
    resolve: checkFunction("resolve", options.resolve),
    isPublicAddress: checkFunction("isPublicAddress", options.isPublicAddress),
    log: checkFunction("log", options.log),
    onEvent: checkFunction("onEvent", options.onEvent),
  };
  return resolved;
}

function checkInteger(name: string, value: unknown, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number") throw new TypeError(`tunnel: ${name} must be a number, got ${typeof value}`);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`tunnel: ${name} must be an integer from ${min} to ${max}, got ${value}`);
  }
  return value;
}

function checkBoolean(name: string, value: unknown): boolean {
  if (value === undefined) return false;
  if (typeof value !== "boolean") throw new TypeError(`tunnel: ${name} must be a boolean, got ${typeof value}`);
  return value;
}

function checkString(name: string, value: unknown): string {
  if (typeof value !== "string") throw new TypeError(`tunnel: ${name} must be a string, got ${typeof value}`);
  return value;
}

function checkFunction<F>(name: string, value: F | undefined): F | undefined {
  if (value !== undefined && typeof value !== "function") throw new TypeError(`tunnel: ${name} must be a function`);
  return value;
}

function stringList(name: string, value: unknown, required: boolean): string[] {
  if (value === undefined && !required) return [];
  if (!Array.isArray(value)) throw new TypeError(`tunnel: ${name} must be an array of strings`);
  for (const v of value) checkString(`each entry of ${name}`, v);
  return [...value] as string[];
}

/**
 * The tunnel on Web-platform servers (Cloudflare Workers / workerd, Deno):
 * the same wsproxy convention, allowlist, close codes and limits as the Node
 * tunnel (bindings/src/tunnel/), over the standard server-side WebSocket and
 * a TCP socket given as Web Streams. The platform adapters (cloudflare.ts,
 * deno.ts) supply the upgrade and the TCP connect.
 *
 * Never an open proxy: every destination is refused unless an allow rule
 * matches; every resource a client can make it hold is bounded (connections,
 * message size, bytes waiting for the slower side, idle time).
 */
import { CloseCode, closeReason } from "../tunnel/close.js";
import { formatHostPort, isAllowed, parseAllowRule, parseDestination, type AllowRule, type Destination } from "../tunnel/destination.js";

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
  /** Allowed Origin header values; when given, others are refused (1008). Default: any. */
  origins?: readonly string[];
  /** At most this many live tunnels at once in this isolate or process (default 64); more get 1013. */
  maxConnections?: number;
  /** Largest WebSocket message, either way (default 1 MiB); a larger one from the client gets 1009. */
  maxFrameBytes?: number;
  /** Bytes from the client waiting for TCP (default 4 MiB); beyond it, close 4003. */
  maxBufferedBytes?: number;
  /** Close a tunnel with no traffic for this long with 1001 (default 300000 ms; 0: never). */
  idleTimeoutMs?: number;
  /** Receives a line per event (refusals, connections and their end). Default: none. */
  log?: (line: string) => void;
}

/** The defaults of EdgeTunnelOptions. */
export const EDGE_TUNNEL_DEFAULTS = {
  /** Live tunnels at once. */
  maxConnections: 64,
  /** Largest WebSocket message, bytes. */
  maxFrameBytes: 1 << 20,
  /** Client bytes waiting for TCP, per tunnel. */
  maxBufferedBytes: 4 << 20,
  /** Idle time before 1001, milliseconds. */
  idleTimeoutMs: 300_000,
} as const;

/** EdgeTunnelOptions checked, with defaults. */
export interface EdgeConfig {
  rules: AllowRule[];
  origins: ReadonlySet<string> | null;
  maxConnections: number;
  maxFrameBytes: number;
  maxBufferedBytes: number;
  idleTimeoutMs: number;
  log: (line: string) => void;
}

function integer(name: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`edge tunnel: ${name} must be an integer >= ${min}, got ${String(value)}`);
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
  const rules = options.allow.map(parseAllowRule);
  const publicRule = rules.find((r) => r.kind === "public");
  if (publicRule) {
    throw new TypeError("edge tunnel: public:PORT rules need every resolved address checked before connecting, " +
      "and the edge platforms' connect() takes a name it resolves itself; list hosts or *.domain patterns here");
  }
  return {
    rules,
    origins: options.origins ? new Set(options.origins) : null,
    maxConnections: integer("maxConnections", options.maxConnections, EDGE_TUNNEL_DEFAULTS.maxConnections, 1),
    maxFrameBytes: integer("maxFrameBytes", options.maxFrameBytes, EDGE_TUNNEL_DEFAULTS.maxFrameBytes, 1),
    maxBufferedBytes: integer("maxBufferedBytes", options.maxBufferedBytes, EDGE_TUNNEL_DEFAULTS.maxBufferedBytes, 1),
    idleTimeoutMs: integer("idleTimeoutMs", options.idleTimeoutMs, EDGE_TUNNEL_DEFAULTS.idleTimeoutMs, 0),
    log: options.log ?? (() => {}),
  };
}

/** A comma- or whitespace-separated list from an environment variable, e.g. TUNNEL_ALLOW="example.org:443, 127.0.0.1:*". */
export function listFromEnv(value: unknown): string[] | undefined {
  if (typeof value !== "string" || value.trim() === "") return undefined;
  return value.split(/[\s,]+/).filter(Boolean);
}

/** What the platform gives the shared request handling. */
export interface EdgePlatform {
  /** Accepts the upgrade: the server side of the WebSocket and the 101 response to return. */
  upgrade(request: Request): { socket: ServerWebSocketLike; response: Response };
  /** Opens TCP to the destination (may reject, or return a socket whose `opened` rejects). */
  connect(destination: Destination): TcpLike | Promise<TcpLike>;
  /** Runs `fn` once the 101 response has gone (default: a 0 ms timer). */
  defer?(fn: () => void): void;
}

/** Stop reading TCP while the WebSocket has this much queued for the client. */
const SEND_HIGH_WATER = 1 << 20;

/** Live tunnels per config (an isolate or process may serve several configs). */
const live = new WeakMap<EdgeConfig, { count: number }>();

/**
 * Handles one HTTP request: `GET /healthz` answers 200, a WebSocket upgrade
 * to `/<host>:<port>` becomes a tunnel (or is refused with a close code and a
 * reason after the upgrade, as the Node tunnel does), anything else 426.
 */
export function handleTunnelRequest(request: Request, config: EdgeConfig, platform: EdgePlatform): Response {
  const url = new URL(request.url);
  if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
    if (request.method === "GET" && url.pathname === "/healthz") {
      return Response.json({ ok: true, connections: live.get(config)?.count ?? 0 });
    }
    return new Response("a WebSocket tunnel: connect with a WebSocket to /<host>:<port>\n", { status: 426, headers: { upgrade: "websocket" } });
  }
  // Everything read from the request before the upgrade (Deno closes the request with it).
  const origin = request.headers.get("origin");
  const destination = parseDestination(url.pathname);
  const { socket, response } = platform.upgrade(request);
  const counter = live.get(config) ?? { count: 0 };
  live.set(config, counter);
  const refuse = (code: number, reason: string) => {
    config.log(`refused ${url.pathname}: ${code} ${reason}`);
    closeSocket(socket, code, reason, platform.defer);
  };
  if (config.origins && !(origin !== null && config.origins.has(origin))) refuse(CloseCode.policyViolation, `origin not allowed: ${origin ?? "(none)"}`);
  else if (!destination) refuse(CloseCode.policyViolation, "malformed destination: want /<host>:<port>");
  else if (!isAllowed(config.rules, destination)) refuse(CloseCode.policyViolation, `destination not allowed: ${formatHostPort(destination.host, destination.port)}`);
  else if (counter.count >= config.maxConnections) refuse(CloseCode.tryAgainLater, "too many connections");
  else {
    counter.count++;
    void relay(socket, destination, config, platform).finally(() => counter.count--);
  }
  return response;
}

/**
 * Closes with a code and reason once the client can receive them: after the
 * 101 response has gone (workerd drops a close sent before it), and once
 * open (Deno's socket is still connecting while the handler runs).
 */
function closeSocket(ws: ServerWebSocketLike, code: number, reason: string, defer: (fn: () => void) => void = (fn) => setTimeout(fn, 0)): void {
  const close = () => {
    try {
      ws.close(code, closeReason(reason));
    } catch {
      // already closing or closed
    }
  };
  if (ws.readyState === 0) ws.addEventListener("open", close);
  else defer(close);
}

/** Relays one tunnel until either side ends; never throws. */
async function relay(ws: ServerWebSocketLike, destination: Destination, config: EdgeConfig, platform: EdgePlatform): Promise<void> {
  const target = formatHostPort(destination.host, destination.port);
  let done = false;
  let resolveDone!: () => void;
  const finished = new Promise<void>((r) => (resolveDone = r));
  let tcp: TcpLike | undefined;
  let writer: WritableStreamDefaultWriter<Uint8Array> | undefined;
  let idle: ReturnType<typeof setTimeout> | undefined;
  const early: Uint8Array[] = []; // client bytes that arrived before TCP was open
  let waiting = 0; // client bytes not yet taken by TCP
  let up = 0, down = 0;

  const end = (code: number, reason: string, tcpEnd: "close" | "abort") => {
    if (done) return;
    done = true;
    clearTimeout(idle);
    config.log(`closed ${target}: ${code}${reason ? ` ${reason}` : ""} (up ${up} B, down ${down} B)`);
    if (ws.readyState <= 1) closeSocket(ws, code, reason, platform.defer);
    if (writer) {
      const w = writer;
      void (tcpEnd === "close" ? w.close() : w.abort(new Error(reason))).catch(() => {});
    }
    resolveDone();
  };
  const touch = () => {
    if (!config.idleTimeoutMs || done) return;
    clearTimeout(idle);
    idle = setTimeout(() => end(CloseCode.goingAway, "idle timeout", "abort"), config.idleTimeoutMs);
  };
  const toTcp = (bytes: Uint8Array) => {
    waiting += bytes.length;
    if (waiting > config.maxBufferedBytes) return end(CloseCode.bufferLimit, "too much data waiting for the TCP connection", "abort");
    up += bytes.length;
    if (!writer) return void early.push(bytes);
    writer.write(bytes).then(() => (waiting -= bytes.length), (e: unknown) => end(CloseCode.tcpFailed, `TCP write failed: ${message(e)}`, "abort"));
  };

  ws.addEventListener("message", (e: { data: unknown }) => {
    if (done) return;
    touch();
    const data = e.data;
    if (typeof data === "string") return end(CloseCode.unsupportedData, "binary messages only", "abort");
    const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : null;
    if (!bytes) return end(CloseCode.unsupportedData, "binary messages only", "abort");
    if (bytes.length > config.maxFrameBytes) return end(CloseCode.messageTooBig, `message larger than ${config.maxFrameBytes} bytes`, "abort");
    toTcp(bytes);
  });
  // The client's normal close is its FIN: what it sent goes first, then TCP is half-closed.
  ws.addEventListener("close", (e: { code: number }) => end(e.code === 1000 ? CloseCode.normal : e.code || 1005, "", e.code === 1000 ? "close" : "abort"));
  ws.addEventListener("error", () => end(CloseCode.tcpFailed, "WebSocket error", "abort"));
  touch();

  try {
    tcp = await platform.connect(destination);
    await tcp.opened;
  } catch (e) {
    end(CloseCode.tcpUnreachable, `cannot connect to ${target}: ${message(e)}`, "abort");
    return finished;
  }
  if (done) {
    void tcp.writable.abort().catch(() => {});
    void tcp.readable.cancel().catch(() => {});
    return finished;
  }
  config.log(`connected ${target}`);
  writer = tcp.writable.getWriter();
  for (const bytes of early.splice(0)) {
    writer.write(bytes).then(() => (waiting -= bytes.length), (e: unknown) => end(CloseCode.tcpFailed, `TCP write failed: ${message(e)}`, "abort"));
  }
  const reader = tcp.readable.getReader();
  void finished.then(() => reader.cancel().catch(() => {}));
  try {
    for (;;) {
      const { value, done: eof } = await reader.read();
      if (eof) return end(CloseCode.normal, "", "close"), finished; // the TCP peer's FIN, after every byte was sent on
      if (done) break;
      touch();
      for (let at = 0; at < value.length; at += config.maxFrameBytes) {
        const piece = value.subarray(at, Math.min(value.length, at + config.maxFrameBytes));
        ws.send(piece);
        down += piece.length;
      }
      // Backpressure where the platform reports what it has queued: TCP is not read meanwhile.
      while ((ws.bufferedAmount ?? 0) > SEND_HIGH_WATER && !done) await new Promise((r) => setTimeout(r, 5));
    }
  } catch (e) {
    end(CloseCode.tcpFailed, `TCP connection failed: ${message(e)}`, "abort");
  }
  return finished;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

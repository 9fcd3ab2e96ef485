/**
 * WebSocket-to-TCP tunnel (Node): one WebSocket per TCP connection, binary
 * frames carry raw bytes, the destination is the URL path `/<host>:<port>`
 * (the "wsproxy" convention). It lets browsers reach TCP hosts, and it is
 * never an open proxy: every destination is denied unless allowed.
 *
 * Close codes the client sees:
 *   1000 the TCP peer closed (FIN), after every byte it sent was relayed
 *   1001 idle timeout
 *   1008 refused: destination or origin not allowed, or a malformed path
 *   1009 a frame larger than maxFrameBytes
 *   1013 too many connections
 *   4001 the TCP connection failed or was reset (the reason says how)
 *   4002 the TCP connection could not be opened (the reason says why)
 */
import * as net from "node:net";
import type { IncomingMessage } from "node:http";
import { WebSocketServer, type WebSocket } from "ws";

export interface TunnelOptions {
  /** Allowed destinations: "host:port", or "host:*" for any port. Nothing else is reachable. */
  allow: readonly string[];
  /** Allowed Origin header values (browsers send one); when given, others are refused. */
  origins?: readonly string[];
  /** Where to listen. Default 127.0.0.1, port 0 (any free port). */
  host?: string;
  port?: number;
  /** At most this many tunnelled connections at once (default 64). */
  maxConnections?: number;
  /** Close a connection with no traffic for this long (default 300 s). */
  idleTimeoutMs?: number;
  /** Largest WebSocket message accepted (default 1 MiB). */
  maxFrameBytes?: number;
  /** Log lines (connections, refusals, endings). Default: none. */
  log?: (line: string) => void;
}

export interface Tunnel {
  /** The port it listens on. */
  readonly port: number;
  /** ws://host:port, to which `/<host>:<port>` is appended. */
  readonly url: string;
  /** Live tunnelled connections. */
  readonly connections: number;
  /** Drops every TCP connection at once (RST), e.g. to demonstrate truncation. */
  killAll(): void;
  close(): Promise<void>;
}

interface Rule { host: string; port: number | "*" }

function parseRule(rule: string): Rule {
  const m = /^(\[[^\]]+\]|[^:\s]+):(\d{1,5}|\*)$/.exec(rule.trim());
  if (!m) throw new TypeError(`tunnel: --allow wants host:port or host:*, got ${JSON.stringify(rule)}`);
  const port = m[2] === "*" ? "*" : Number(m[2]);
  if (port !== "*" && (port < 1 || port > 65535)) throw new RangeError(`tunnel: port out of range in ${rule}`);
  return { host: m[1]!.replace(/^\[|\]$/g, "").toLowerCase(), port };
}

/** `/<host>:<port>` (IPv6 in brackets) -> destination, or null. */
export function parseDestination(path: string): { host: string; port: number } | null {
  let p: string;
  try {
    p = decodeURIComponent(path.replace(/^\/+/, "").replace(/[?#].*$/, ""));
  } catch {
    return null;
  }
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(p);
  if (!m) return null;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return null;
  return { host: m[1]!.replace(/^\[|\]$/g, "").toLowerCase(), port };
}

export async function createTunnel(options: TunnelOptions): Promise<Tunnel> {
  const rules = (options.allow ?? []).map(parseRule);
  const origins = options.origins ? new Set(options.origins) : null;
  const maxConnections = options.maxConnections ?? 64;
  const idleTimeoutMs = options.idleTimeoutMs ?? 300_000;
  const maxFrameBytes = options.maxFrameBytes ?? 1 << 20;
  const log = options.log ?? (() => {});
  /** Live connections, each with the way to end it (for killAll). */
  const live = new Map<net.Socket, (code: number, reason: string) => void>();
  let nextId = 1;

  const wss = new WebSocketServer({
    host: options.host ?? "127.0.0.1",
    port: options.port ?? 0,
    maxPayload: maxFrameBytes,
    perMessageDeflate: false, // TLS records do not compress; and no compression oracle
  });
  await new Promise<void>((resolve, reject) => {
    wss.once("listening", resolve);
    wss.once("error", reject);
  });

  wss.on("connection", (ws: WebSocket, req: IncomingMessage) => {
    const id = nextId++;
    const from = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
    const refuse = (code: number, reason: string) => {
      log(`#${id} ${from} refused (${code}): ${reason}`);
      ws.close(code, reason.slice(0, 120));
    };
    const origin = req.headers.origin;
    if (origins && (!origin || !origins.has(origin))) return refuse(1008, `origin not allowed: ${origin ?? "(none)"}`);
    const dest = parseDestination(req.url ?? "");
    if (!dest) return refuse(1008, `malformed destination path ${JSON.stringify(req.url)}: want /<host>:<port>`);
    const target = `${dest.host.includes(":") ? `[${dest.host}]` : dest.host}:${dest.port}`;
    if (!rules.some((r) => r.host === dest.host && (r.port === "*" || r.port === dest.port))) {
      return refuse(1008, `destination not allowed: ${target}`);
    }
    if (live.size >= maxConnections) return refuse(1013, `too many connections (${maxConnections})`);

    const tcp = net.connect({ host: dest.host, port: dest.port, allowHalfOpen: true });
    log(`#${id} ${from} -> ${target}: connecting`);
    let connected = false;
    let finished = false;
    let idle: ReturnType<typeof setTimeout> | undefined;
    const touch = () => {
      clearTimeout(idle);
      idle = setTimeout(() => {
        log(`#${id} -> ${target}: idle for ${idleTimeoutMs} ms, closing`);
        finish(1001, "idle timeout", true);
      }, idleTimeoutMs);
    };
    const finish = (code: number, reason: string, destroyTcp: boolean) => {
      if (finished) return;
      finished = true;
      clearTimeout(idle);
      live.delete(tcp);
      if (destroyTcp) tcp.destroy();
      else tcp.end(); // the peer's FIN came first; ours follows (nothing more can come from the WebSocket)
      ws.resume(); // a paused WebSocket could not read the client's close reply
      ws.close(code, reason.slice(0, 120));
      log(`#${id} -> ${target}: closed (${code}${reason ? `: ${reason}` : ""})`);
    };
    live.set(tcp, (code, reason) => finish(code, reason, true));
    touch();
    ws.pause(); // nothing is relayed until TCP is up

    tcp.on("connect", () => {
      connected = true;
      log(`#${id} -> ${target}: connected`);
      ws.resume();
    });
    // TCP -> WebSocket, in order; pause TCP while the WebSocket is backed up.
    tcp.on("data", (data: Buffer) => {
      touch();
      ws.send(data, { binary: true });
      if (ws.bufferedAmount > 1 << 20) {
        tcp.pause();
        const check = () => (ws.bufferedAmount > 1 << 18 && ws.readyState === ws.OPEN ? setTimeout(check, 5) : tcp.resume());
        setTimeout(check, 5);
      }
    });
    // FIN from the TCP peer: every byte it sent was handed to ws.send above,
    // and the close frame queues behind them.
    tcp.on("end", () => finish(1000, "", false));
    tcp.on("error", (e: NodeJS.ErrnoException) => {
      if (!connected && (e.syscall === "connect" || e.syscall === "getaddrinfo")) {
        finish(4002, `cannot connect to ${target}: ${e.code ?? e.message}`, true);
      } else {
        finish(4001, `TCP connection to ${target} failed: ${e.code ?? e.message}`, true);
      }
    });
    // A graceful end emits "end" first; a close without it was abrupt.
    tcp.on("close", () => finish(4001, `TCP connection to ${target} closed without FIN`, false));

    // WebSocket -> TCP, in order; pause the WebSocket while TCP is backed up.
    ws.on("message", (data: Buffer, isBinary: boolean) => {
      touch();
      if (!isBinary) return finish(1003, "binary messages only", true);
      if (!tcp.write(data)) {
        ws.pause();
        tcp.once("drain", () => ws.resume());
      }
    });
    ws.on("close", (code: number) => {
      clearTimeout(idle);
      if (finished) return;
      finished = true;
      live.delete(tcp);
      // A normal close ends TCP after every relayed byte (FIN); anything else resets it.
      if (code === 1000 || code === 1005) tcp.end();
      else tcp.destroy();
      log(`#${id} -> ${target}: the WebSocket closed (${code})`);
    });
    ws.on("error", (e) => log(`#${id} -> ${target}: WebSocket error: ${e.message}`));
  });

  const address = wss.address() as net.AddressInfo;
  const host = options.host ?? "127.0.0.1";
  return {
    port: address.port,
    url: `ws://${host.includes(":") ? `[${host}]` : host}:${address.port}`,
    get connections() {
      return live.size;
    },
    killAll() {
      for (const [socket, end] of [...live]) {
        socket.resetAndDestroy();
        end(4001, "TCP connection killed by the tunnel operator");
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of live.keys()) s.destroy();
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  };
}

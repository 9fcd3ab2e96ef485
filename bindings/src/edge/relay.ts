/**
 * The tunnel on Web-platform servers (Cloudflare Workers / workerd, Deno):
 * the same wsproxy convention, Wisp v1 endpoint, allowlist, close codes and
 * limits as the Node tunnel (bindings/src/tunnel/), over the standard
 * server-side WebSocket and a TCP socket given as Web Streams. The platform
 * adapters (cloudflare.ts, deno.ts) supply the upgrade and the TCP connect.
 *
 * Never an open proxy: every destination is refused unless an allow rule
 * matches; every resource a client can make it hold is bounded (connections,
 * streams, message size, bytes waiting for the slower side, idle time).
 */
import { CloseCode } from "../tunnel/close.js";
import { formatHostPort, isAllowed, parseDestination, type Destination } from "../tunnel/destination.js";
import { isWispPath } from "../tunnel/wisp-packets.js";
import {
  SEND_HIGH_WATER, abandon, binaryMessage, closeSocket, errorMessage, openDeadline, type Counters, type EdgeConfig, type EdgePlatform, type ServerWebSocketLike, type TcpLike,
} from "./config.js";
import { EdgeWispSession } from "./wisp.js";

/** What is live, per config. */
const live = new WeakMap<EdgeConfig, Counters>();


/**
 * Handles one HTTP request: `GET /healthz` answers 200, a WebSocket upgrade
 * to `/<host>:<port>` becomes a tunnel, one to a path ending with "/" a
 * Wisp session when `wisp` is on (or each is refused with a close code and a
 * reason after the upgrade, as the Node tunnel does), anything else 426.
 */
export function handleTunnelRequest(request: Request, config: EdgeConfig, platform: EdgePlatform): Response {
  let url: URL;
  try {
    url = new URL(request.url);
  } catch {
    // workerd builds the URL from the Host header: a repeated or malformed one makes it invalid.
    return badRequest(400, "malformed request: no valid URL (a repeated or malformed Host header?)");
  }
  const counters = live.get(config) ?? { sockets: 0, tcp: 0 };
  live.set(config, counters);
  if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
    if (request.method === "GET" && url.pathname === "/healthz") {
      return Response.json({ ok: true, connections: counters.sockets, tcp: counters.tcp });
    }
    return new Response("a WebSocket tunnel: connect with a WebSocket to /<host>:<port>\n", { status: 426, headers: { upgrade: "websocket" } });
  }
  const problem = upgradeProblem(request);
  if (problem) return badRequest(problem.status, problem.message);
  // Everything read from the request before the upgrade (Deno closes the request with it).
  const origin = request.headers.get("origin");
  const wisp = isWispPath(url.pathname);
  const destination = wisp ? null : parseDestination(url.pathname);
  let upgraded: ReturnType<EdgePlatform["upgrade"]>;
  try {
    upgraded = platform.upgrade(request);
  } catch (e) {
    return badRequest(400, `WebSocket upgrade refused: ${errorMessage(e)}`);
  }
  const { socket, response } = upgraded;
  const refuse = (code: number, reason: string) => {
    config.log(`refused ${url.pathname}: ${code} ${reason}`);
    closeSocket(socket, code, reason, platform.defer);
  };
  const full = counters.sockets >= config.maxConnections;
  if (config.origins && !(origin !== null && config.origins.has(origin))) refuse(CloseCode.policyViolation, `origin not allowed: ${origin ?? "(none)"}`);
  else if (wisp && !config.wisp) refuse(CloseCode.policyViolation, "Wisp is not enabled on this tunnel (a path ending with \"/\")");
  else if (wisp && full) refuse(CloseCode.tryAgainLater, "too many connections");
  else if (wisp) {
    counters.sockets++;
    void new EdgeWispSession(socket, config, platform, counters).finished.finally(() => counters.sockets--);
  } else if (!destination) refuse(CloseCode.policyViolation, "malformed destination: want /<host>:<port>");
  else if (!isAllowed(config.rules, destination)) refuse(CloseCode.policyViolation, `destination not allowed: ${formatHostPort(destination.host, destination.port)}`);
  else if (full || counters.tcp >= config.maxConnections) refuse(CloseCode.tryAgainLater, "too many connections");
  else {
    counters.sockets++;
    counters.tcp++;
    // The WebSocket's place is free once the tunnel ends; the TCP connection's once it is gone
    // (later, for a Deno.connect still trying when the connect timeout ended the tunnel).
    void relay(socket, destination, config, platform, () => counters.sockets--).finally(() => counters.tcp--);
  }
  return response;
}

/** A request refused before any upgrade, with a line saying why. */
function badRequest(status: number, message: string): Response {
  return new Response(`${message}\n`, { status, headers: { "content-type": "text/plain; charset=utf-8" } });
}

/**
 * What makes a WebSocket upgrade request invalid (RFC 6455 4.2.1), checked
 * here so that every platform refuses it alike: Deno's upgradeWebSocket
 * throws on it (a 500), and workerd answers 400 only after the handler
 * has started a session on a socket that never opens.
 */
function upgradeProblem(request: Request): { status: number; message: string } | null {
  if (request.method !== "GET") return { status: 405, message: `a WebSocket upgrade must be a GET, not ${request.method}` };
  const key = request.headers.get("sec-websocket-key");
  if (key === null || !/^[+/0-9A-Za-z]{22}==$/.test(key.trim())) return { status: 400, message: "missing or invalid Sec-WebSocket-Key" };
  if (request.headers.get("sec-websocket-version")?.trim() !== "13") return { status: 400, message: "Sec-WebSocket-Version must be 13" };
  return null;
}

/**
 * Relays one tunnel until either side ends, calling `ended` once it has;
 * settles once its TCP connection (or the attempt) is gone too. Never throws.
 */
async function relay(ws: ServerWebSocketLike, destination: Destination, config: EdgeConfig, platform: EdgePlatform, ended: () => void): Promise<void> {
  const target = formatHostPort(destination.host, destination.port);
  let done = false;
  let resolveDone!: () => void;
  const finished = new Promise<void>((r) => (resolveDone = r));
  void finished.then(ended);
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
    // CLOSING too: workerd leaves the reply to a client's Close to us (Deno has sent it already).
    if (ws.readyState <= 2) closeSocket(ws, code, reason, platform.defer);
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
    writer.write(bytes).then(() => (waiting -= bytes.length), (e: unknown) => end(CloseCode.tcpFailed, `TCP write failed: ${errorMessage(e)}`, "abort"));
  };

  ws.addEventListener("message", (e: { data: unknown }) => {
    if (done) return;
    touch();
    const bytes = binaryMessage(e.data);
    if (!bytes) return end(CloseCode.unsupportedData, "binary messages only", "abort");
    if (bytes.length > config.maxFrameBytes) return end(CloseCode.messageTooBig, `message larger than ${config.maxFrameBytes} bytes`, "abort");
    toTcp(bytes);
  });
  // The client's normal close is its FIN: what it sent goes first, then TCP is half-closed.
  ws.addEventListener("close", (e: { code: number }) => end(e.code === 1000 ? CloseCode.normal : e.code || 1005, "", e.code === 1000 ? "close" : "abort"));
  ws.addEventListener("error", () => end(CloseCode.tcpFailed, "WebSocket error", "abort"));
  openDeadline(ws, config.upgradeTimeoutMs, () => end(CloseCode.goingAway, "the WebSocket never opened", "abort"));
  touch();

  // The connect timeout ends the tunnel and gives the attempt up where the platform lets us (a
  // Cloudflare socket is closed, and its `opened` is not waited for). Deno.connect cannot be
  // cancelled: this relay, and its place in maxConnections, lasts until the OS gives up.
  let timedOut!: () => void;
  const timeout = new Promise<void>((r) => (timedOut = r));
  const connectTimer = setTimeout(() => {
    end(CloseCode.tcpUnreachable, `cannot connect to ${target}: timed out after ${config.connectTimeoutMs} ms`, "abort");
    if (tcp) abandon(tcp);
    timedOut();
  }, config.connectTimeoutMs);
  try {
    tcp = await platform.connect(destination);
    if (!done) await Promise.race([tcp.opened, timeout]);
  } catch (e) {
    end(CloseCode.tcpUnreachable, `cannot connect to ${target}: ${errorMessage(e)}`, "abort");
    return finished;
  } finally {
    clearTimeout(connectTimer);
  }
  if (done) {
    abandon(tcp);
    return finished;
  }
  config.log(`connected ${target}`);
  writer = tcp.writable.getWriter();
  for (const bytes of early.splice(0)) {
    writer.write(bytes).then(() => (waiting -= bytes.length), (e: unknown) => end(CloseCode.tcpFailed, `TCP write failed: ${errorMessage(e)}`, "abort"));
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
    end(CloseCode.tcpFailed, `TCP connection failed: ${errorMessage(e)}`, "abort");
  }
  return finished;
}

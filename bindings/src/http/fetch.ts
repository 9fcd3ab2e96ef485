/**
 * fetch() over TlsSocket: the WHATWG signature (Request, Response, Headers,
 * AbortSignal, redirect modes) on HTTP/1.1, through any Connector, with this
 * package's TLS options and a per-origin keep-alive pool. Responses are
 * parsed by llhttp in the wasm (parser.ts). Cookies are never stored or sent
 * (credentials: "omit" whatever the request says); HTTP/2 is not spoken
 * (ALPN offers http/1.1 only).
 */
import { OpenSSL } from "../engine/openssl.js";
import { runtimeOf } from "../engine/runtime.js";
import type { CertificateSummary, ConnectionInfo } from "../engine/types.js";
import { TlsSocket, type CloseInfo, type TlsSocketOptions } from "../tls-socket.js";
import type { Connector } from "../transports/connector.js";
import { HttpParseError } from "./errors.js";
import { ResponseParser, type ParseResult, type ResponseHead } from "./parser.js";

/** Options of createFetch(). */
export interface FetchOptions {
  /** How to reach a host and port: tcpConnector() (Node), tunnelConnector(url), denoConnector(), ... */
  connector: Connector;
  /**
   * TLS options for every https: connection (ca, cert/key, verify, minVersion, onVerify for pinning,
   * checkHost, ...). `servername` is the URL's host; `alpnProtocols` is always ["http/1.1"]. Sessions are
   * resumed across connections (TlsSocket's `reuseSessions`) except with `onVerify`, which a resumed
   * session would skip: then only if `reuseSessions` is true.
   */
  tls?: Omit<TlsSocketOptions, "servername" | "alpnProtocols" | "signal" | "allowHalfOpen">;
  /** Connections open at once to one origin (scheme, host, port); more requests wait (default 6). */
  maxConnectionsPerOrigin?: number;
  /** Milliseconds an idle kept-alive connection stays in the pool before it is closed with close_notify (default 30,000). */
  idleTimeout?: number;
  /** Bytes of a response's status line and headers (default 16 KiB). */
  maxHeaderBytes?: number;
  /** Header lines in a response (default 100). */
  maxHeaders?: number;
  /** Redirects followed before fetch rejects (default 20, the WHATWG limit). */
  maxRedirects?: number;
}

/** A fetch() of its own pool; close() ends its idle connections. */
export interface Fetch {
  (input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  /** Closes every idle connection (close_notify) and refuses new requests. */
  close(): Promise<void>;
}

/** What happened underneath a response (tlsInfo()). */
export interface ResponseTlsInfo extends ConnectionInfo {
  /** The server's certificate chain as it sent it, leaf first. */
  peerChain: CertificateSummary[];
  /** The request went on a kept-alive connection that had carried earlier ones. */
  connectionReused: boolean;
  /** Settles when the connection ends: `ending` says how ("clean", "truncated", ...). */
  closed: Promise<CloseInfo>;
}

const tlsInfos = new WeakMap<Response, ResponseTlsInfo>();

/** The TLS details of a response from a createFetch() fetch over https:, or null (http:, or another fetch). */
export function tlsInfo(response: Response): ResponseTlsInfo | null {
  return tlsInfos.get(response) ?? null;
}

// Request headers the application may not set: fetch's forbidden request
// headers that shape the framing or the connection (we write them ourselves).
const FORBIDDEN = new Set(["connection", "content-length", "expect", "host", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade", "cookie"]);
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const NULL_BODY = new Set([101, 103, 204, 205, 304]);
const enc = new TextEncoder();

/** One connection: a TlsSocket (https:) or the bare transport (http:). */
class Conn {
  readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly parser: ResponseParser;
  requests = 0;
  dead = false;
  idleTimer: ReturnType<typeof setTimeout> | undefined;
  #pending: Promise<ReadableStreamReadResult<Uint8Array>> | undefined;

  constructor(readonly origin: Origin, readonly socket: TlsSocket | undefined,
    readonly transport: { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> }, openssl: OpenSSL) {
    const streams = socket ?? transport;
    this.reader = streams.readable.getReader();
    this.writer = streams.writable.getWriter();
    this.parser = new ResponseParser(runtimeOf(openssl));
  }

  /** The next bytes (or the end): the read started while idle, if there is one. */
  read(): Promise<ReadableStreamReadResult<Uint8Array>> {
    const p = this.#pending ?? this.reader.read();
    this.#pending = undefined;
    return p;
  }

  /** Idle in the pool: the server's close, or bytes nobody asked for, end it. */
  watch(): void {
    const p = this.reader.read();
    this.#pending = p;
    const gone = () => { if (this.#pending === p) void this.destroy(); };
    p.then(gone, gone);
  }

  /**
   * Ends the connection, never rejects. TLS: close_notify, then (`clean`, for
   * an idle connection whose state is known) the server's own before the
   * transport is closed, else the transport at once.
   */
  destroy(clean = false): Promise<void> {
    if (this.dead) return Promise.resolve();
    this.dead = true;
    clearTimeout(this.idleTimer);
    this.origin.forget(this);
    this.parser.dispose();
    if (this.socket) {
      const socket = this.socket;
      return clean ? socket.shutdown({ mode: "bidirectional", timeout: 5000 }).then(() => {}, () => socket.close().then(() => {}))
        : socket.close().then(() => {});
    }
    return Promise.all([this.reader.cancel().catch(() => {}), this.writer.abort().catch(() => {})]).then(() => {});
  }
}

/** The pool of one origin. */
class Origin {
  readonly idle: Conn[] = [];
  readonly all = new Set<Conn>();
  readonly waiters: (() => void)[] = [];
  /** @param drop Forgets this pool (createFetch's map of origins). */
  constructor(readonly key: string, readonly drop: (origin: Origin) => void) {}

  forget(c: Conn): void {
    const i = this.idle.indexOf(c);
    if (i >= 0) this.idle.splice(i, 1);
    if (this.all.delete(c)) this.waiters.shift()?.();
    this.dropIfEmpty();
  }

  /**
   * With no connection (open, idle or opening) and no one waiting, the pool
   * is forgotten: a fetch that reaches many origins over its life holds only
   * those it has connections to (it kept every origin it ever reached:
   * measured ~550 B each, 2.8 MB per 5,000 origins).
   */
  dropIfEmpty(): void {
    if (this.all.size === 0 && this.waiters.length === 0) this.drop(this);
  }
}

/** ms, a non-negative finite number, or the default. */
function option(name: string, v: number | undefined, dflt: number, min = 0): number {
  if (v === undefined) return dflt;
  if (typeof v !== "number" || !Number.isFinite(v) || v < min) throw new RangeError(`${name} must be a number >= ${min}`);
  return v;
}

/** The DecompressionStream format for a content coding, if this runtime has it. */
function decompressor(coding: string): TransformStream<Uint8Array, Uint8Array> | undefined {
  const format = coding === "x-gzip" ? "gzip" : coding;
  if (!["gzip", "deflate", "br"].includes(format) || typeof DecompressionStream !== "function") return undefined;
  try {
    return new DecompressionStream(format as CompressionFormat) as unknown as TransformStream<Uint8Array, Uint8Array>;
  } catch {
    return undefined; // e.g. "br" before Node 22 / in some browsers
  }
}

/**
 * The codings this runtime decodes, for Accept-Encoding: found out once.
 * Per request it cost three DecompressionStreams (and in Node 20 a thrown
 * TypeError for "br"): ~10% of the CPU in `make bench`'s loop of small GETs.
 */
let acceptEncodings: string | undefined;
function acceptEncoding(): string {
  return acceptEncodings ??= ["gzip", "deflate", "br"].filter((c) => decompressor(c)).join(", ");
}

/**
 * A fetch() with the WHATWG signature over TLS sockets from this package:
 * http: and https: URLs, GET/HEAD/POST/... with string, bytes, Blob,
 * URLSearchParams, FormData or ReadableStream bodies (chunked when the length
 * is unknown), a streaming response body, AbortSignal, redirect "follow" /
 * "error" / "manual", Content-Encoding and Transfer-Encoding gzip, deflate (and
 * br where DecompressionStream has it), kept-alive connections per origin.
 * Cookies are neither stored nor sent; HTTP/1.1 only.
 *
 * ```ts
 * import { tcpConnector } from "openssl-tls-wasm/node";
 * const fetch = createFetch({ connector: tcpConnector(), tls: { ca: [pem] } });
 * const res = await fetch("https://example.org/");
 * tlsInfo(res)?.protocol; // "TLSv1.3"
 * ```
 */
export function createFetch(options: FetchOptions): Fetch {
  if (!options || typeof options.connector !== "function") throw new TypeError("createFetch: options.connector must be a Connector");
  const perOrigin = option("maxConnectionsPerOrigin", options.maxConnectionsPerOrigin, 6, 1);
  const idleMs = option("idleTimeout", options.idleTimeout, 30_000);
  const limits = { maxHeaderBytes: option("maxHeaderBytes", options.maxHeaderBytes, 16384, 1), maxHeaders: option("maxHeaders", options.maxHeaders, 100, 1) };
  const maxRedirects = option("maxRedirects", options.maxRedirects, 20);
  const origins = new Map<string, Origin>();
  const drop = (origin: Origin) => {
    if (origins.get(origin.key) === origin) origins.delete(origin.key);
  };
  let closed = false;

  async function acquire(url: URL, signal: AbortSignal): Promise<Conn> {
    const key = `${url.protocol}//${url.host}`;
    let origin: Origin | undefined;
    for (;;) {
      signal.throwIfAborted();
      // Looked up again after each wait: the pool may have been emptied and
      // forgotten meanwhile (Origin.dropIfEmpty), and a new one takes its place.
      origin = origins.get(key);
      if (!origin) origins.set(key, origin = new Origin(key, drop));
      const idle = origin.idle.pop();
      if (idle) {
        clearTimeout(idle.idleTimer);
        return idle;
      }
      if (origin.all.size < perOrigin) break;
      await new Promise<void>((resolve, reject) => {
        const o = origin!;
        const wake = () => { signal.removeEventListener("abort", abort); resolve(); };
        const abort = () => { const i = o.waiters.indexOf(wake); if (i >= 0) o.waiters.splice(i, 1); o.dropIfEmpty(); reject(signal.reason); };
        o.waiters.push(wake);
        signal.addEventListener("abort", abort, { once: true });
      });
    }
    // a slot: open a connection
    const placeholder = {} as Conn;
    origin.all.add(placeholder);
    let opened = false;
    // The request's signal governs the opening only: the connection outlives
    // the request in the pool, and a later abort of that signal (an
    // AbortSignal.timeout() firing after the response was read) must not end
    // it. During the exchange, roundTrip() watches the signal itself.
    const opening = new AbortController();
    const stopOpening = () => opening.abort(signal.reason);
    signal.addEventListener("abort", stopOpening, { once: true });
    try {
      const host = url.hostname.replace(/^\[|\]$/g, "");
      const port = Number(url.port) || (url.protocol === "https:" ? 443 : 80);
      const transport = await options.connector({ host, port }, { signal: opening.signal });
      let socket: TlsSocket | undefined;
      if (url.protocol === "https:") {
        try {
          // A resumed session skips the certificate's verification, and with it
          // onVerify: where the application pins through onVerify, every
          // connection shows it the certificate, unless it asked for resumption.
          const reuseSessions = options.tls?.reuseSessions ?? (options.tls?.onVerify ? false : undefined);
          socket = await TlsSocket.connect(transport, {
            ...options.tls, ...(reuseSessions === undefined ? {} : { reuseSessions }), servername: host, alpnProtocols: ["http/1.1"],
            signal: opening.signal,
          });
        } catch (e) {
          await transport.writable.abort(e).catch(() => {});
          await transport.readable.cancel(e).catch(() => {});
          throw e;
        }
      }
      const openssl = options.tls?.openssl ?? options.tls?.context?.openssl ?? await OpenSSL.load();
      const conn = new Conn(origin, socket, transport, openssl);
      origin.all.add(conn);
      opened = true;
      return conn;
    } finally {
      signal.removeEventListener("abort", stopOpening);
      origin.all.delete(placeholder);
      if (!opened) {
        origin.waiters.shift()?.(); // the slot is free again
        origin.dropIfEmpty();
      }
    }
  }

  /** Back to the pool after a complete response, or closed. */
  function release(conn: Conn, reusable: boolean): void {
    if (conn.dead) return;
    if (!reusable || closed) { void conn.destroy(); return; }
    conn.origin.idle.push(conn);
    conn.watch();
    if (idleMs > 0) {
      conn.idleTimer = setTimeout(() => void conn.destroy(true), idleMs);
      (conn.idleTimer as { unref?: () => void }).unref?.();
    }
    conn.origin.waiters.shift()?.();
  }

  /** One request and its response head, on one connection (retried once on a fresh one if a kept-alive one was gone). */
  async function exchange(url: URL, method: string, headers: Headers, body: Uint8Array | ReadableStream<Uint8Array> | null,
    signal: AbortSignal): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      const conn = await acquire(url, signal);
      const reused = conn.requests > 0;
      conn.requests++;
      try {
        return await roundTrip(conn, reused, url, method, headers, body, signal);
      } catch (e) {
        void conn.destroy();
        // A kept-alive connection the server closed as we reused it: no byte of a response came.
        if (reused && attempt === 0 && !(body instanceof ReadableStream) && noResponses.has(e as object) && !signal.aborted) continue;
        throw e;
      }
    }
  }

  async function roundTrip(conn: Conn, reused: boolean, url: URL, method: string, headers: Headers,
    body: Uint8Array | ReadableStream<Uint8Array> | null, signal: AbortSignal): Promise<Response> {
    const onAbort = () => void conn.destroy();
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      conn.parser.start(method === "HEAD", limits);
      // the head
      let head = `${method} ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\n`;
      for (const [name, value] of headers) head += `${name}: ${value}\r\n`;
      const chunked = body instanceof ReadableStream;
      if (chunked) head += "Transfer-Encoding: chunked\r\n";
      else if (body) head += `Content-Length: ${body.length}\r\n`;
      else if (["POST", "PUT", "PATCH"].includes(method)) head += "Content-Length: 0\r\n";
      head += "\r\n";
      const headBytes = enc.encode(head);
      let sending: Promise<void>;
      if (!body) sending = conn.writer.write(headBytes);
      else if (!chunked) sending = conn.writer.write(concat([headBytes, body]));
      else sending = conn.writer.write(headBytes).then(() => sendChunked(conn, body, signal));
      // a request body failing (or the connection going) while the response comes ends the exchange
      let sendError: unknown;
      let sent = false;
      sending.then(() => { sent = true; }, (e: unknown) => { sendError = e; void conn.destroy(); });

      // the response head (interim responses skipped)
      let got = 0;
      let result: ParseResult | undefined;
      const early: Uint8Array[] = [];
      let headResult: ResponseHead | undefined;
      let complete = false;
      let rest: Uint8Array | undefined;
      while (!headResult) {
        let r: ReadableStreamReadResult<Uint8Array>;
        try {
          r = await conn.read();
        } catch (e) {
          if (signal.aborted) throw signal.reason;
          throw got === 0 ? noResponse(sendError ?? e) : e;
        }
        if (signal.aborted) throw signal.reason;
        if (r.done) {
          if (got === 0) throw noResponse(new HttpParseError("INCOMPLETE_MESSAGE", "the connection ended before a response"));
          result = conn.parser.finish();
        } else {
          got += r.value.length;
          result = conn.parser.push(r.value);
        }
        early.push(...result.body);
        headResult = result.head;
        complete = result.complete;
        rest = result.rest;
        if (r.done && !headResult) throw new HttpParseError("INCOMPLETE_MESSAGE", "the connection ended in the response head");
      }
      const status = headResult.status;
      if (status > 599) throw new HttpParseError("INVALID_STATUS_LINE", `status ${status} is not an HTTP status (200-599)`);
      const responseHeaders = new Headers();
      for (const [n, v] of headResult.headers) responseHeaders.append(n, v);
      const info = conn.socket ? { ...conn.socket.info, peerChain: conn.socket.peerChain, connectionReused: reused, closed: conn.socket.closed } : undefined;

      // the body, pulled from the connection as it is read
      let finished = false;
      const done = (reusable: boolean) => {
        if (finished) return;
        finished = true;
        signal.removeEventListener("abort", onAbort);
        // A streamed request body the server answered before reading it all: the
        // rest cannot be sent on a connection that must be ready for the next request.
        if (chunked && !sent) return void conn.destroy();
        void sending.then(() => release(conn, reusable && headResult!.keepAlive && !rest?.length && !conn.dead), () => void conn.destroy());
      };
      const fail = (controller: ReadableStreamDefaultController<Uint8Array>, e: unknown) => {
        finished = true;
        signal.removeEventListener("abort", onAbort);
        void conn.destroy();
        controller.error(e);
      };
      let stream: ReadableStream<Uint8Array> | null = new ReadableStream<Uint8Array>({
        start(controller) {
          for (const b of early) controller.enqueue(b);
          if (complete) {
            // bytes after the response's end, in the same read: a body longer than its length
            if (rest?.length) fail(controller, new HttpParseError("EXCESS_DATA", `${rest.length} bytes after the end of the response`));
            else { controller.close(); done(true); }
          }
        },
        async pull(controller) {
          try {
            const r = await conn.read();
            if (signal.aborted) throw signal.reason;
            const p = r.done ? conn.parser.finish() : conn.parser.push(r.value);
            for (const b of p.body) controller.enqueue(b);
            if (p.complete) {
              if (p.rest?.length) throw new HttpParseError("EXCESS_DATA", `${p.rest.length} bytes after the end of the response`);
              controller.close();
              done(!r.done);
            }
          } catch (e) {
            fail(controller, signal.aborted ? signal.reason : e);
          }
        },
        cancel() {
          finished = true;
          signal.removeEventListener("abort", onAbort);
          void conn.destroy(); // the rest of the body is not read: the connection cannot carry another response
        },
      }, { highWaterMark: 0 });
      // Transfer-Encoding codings before chunked, then Content-Encoding, undone last applied first
      const codings = [...headResult.transferCodings.slice().reverse()];
      const contentCodings = (responseHeaders.get("content-encoding") ?? "").split(",").map((c) => c.trim().toLowerCase()).filter((c) => c && c !== "identity");
      let decoded = true;
      for (const c of contentCodings.reverse()) {
        if (!decompressor(c)) { decoded = false; break; }
      }
      if (decoded) codings.push(...contentCodings);
      for (const c of codings) {
        const d = decompressor(c);
        if (!d) throw new HttpParseError("UNSUPPORTED_TRANSFER_ENCODING", `this runtime cannot decode the transfer coding ${c}`);
        stream = stream.pipeThrough(d);
      }
      if (NULL_BODY.has(status) || method === "HEAD") {
        if (!complete) await stream.cancel();
        stream = null;
      }
      const response = new Response(stream, { status, statusText: headResult.statusText, headers: responseHeaders });
      Object.defineProperty(response, "url", { value: url.href });
      if (info) tlsInfos.set(response, info);
      return response;
    } catch (e) {
      signal.removeEventListener("abort", onAbort);
      throw e;
    }
  }

  async function sendChunked(conn: Conn, body: ReadableStream<Uint8Array>, signal: AbortSignal): Promise<void> {
    const reader = body.getReader();
    try {
      for (;;) {
        signal.throwIfAborted();
        const { done, value } = await reader.read();
        if (done) break;
        if (!(value instanceof Uint8Array)) throw new TypeError("a request body stream must give Uint8Array chunks");
        if (value.length) await conn.writer.write(concat([enc.encode(`${value.length.toString(16)}\r\n`), value, enc.encode("\r\n")]));
      }
      await conn.writer.write(enc.encode("0\r\n\r\n"));
    } catch (e) {
      await reader.cancel(e).catch(() => {});
      throw e;
    }
  }

  const fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    if (closed) throw new TypeError("this fetch was closed");
    const streamBody = init?.body instanceof ReadableStream;
    const request = new Request(input, streamBody ? { ...init, duplex: "half" } as RequestInit : init);
    const signal = request.signal;
    signal.throwIfAborted();
    let body: Uint8Array | ReadableStream<Uint8Array> | null = null;
    if (request.body) {
      body = streamBody || (input instanceof Request && init?.body === undefined && input.body)
        ? request.body as ReadableStream<Uint8Array>
        : new Uint8Array(await request.arrayBuffer());
    } else if (request.body === undefined) {
      // Firefox has no Request.prototype.body (undefined, not null): the body
      // is init's stream, or the request's bytes read whole (an empty body
      // only when one was given), else it went unsent in Firefox.
      if (streamBody) body = init!.body as ReadableStream<Uint8Array>;
      else if (request.method !== "GET" && request.method !== "HEAD") {
        const bytes = new Uint8Array(await request.arrayBuffer());
        if (bytes.byteLength > 0 || (init?.body ?? null) !== null) body = bytes;
      }
    }
    const headers = new Headers();
    for (const [n, v] of request.headers) if (!FORBIDDEN.has(n)) headers.append(n, v);
    if (!headers.has("accept")) headers.set("accept", "*/*");
    const accept = acceptEncoding();
    if (!headers.has("accept-encoding") && accept) headers.set("accept-encoding", accept);

    let url = new URL(request.url);
    let method = request.method;
    const chain: string[] = [];
    for (;;) {
      if (url.protocol !== "https:" && url.protocol !== "http:") throw new TypeError(`fetch: unsupported scheme ${url.protocol}`);
      if (url.username || url.password) throw new TypeError("fetch: a URL with credentials");
      const response = await exchange(url, method, headers, body, signal);
      const location = response.headers.get("location");
      if (!REDIRECTS.has(response.status) || location === null || request.redirect === "manual") {
        if (chain.length) Object.defineProperty(response, "redirected", { value: true });
        return response;
      }
      if (request.redirect === "error") {
        await response.body?.cancel();
        throw new TypeError(`fetch: redirected (${response.status}) with redirect: "error"`);
      }
      await discard(response);
      if (chain.length >= maxRedirects) throw new TypeError(`fetch: more than ${maxRedirects} redirects`);
      chain.push(url.href);
      const next = new URL(location, url);
      if (response.status === 303 && method !== "HEAD" || (response.status === 301 || response.status === 302) && method === "POST") {
        method = "GET";
        body = null;
        for (const n of ["content-type", "content-encoding", "content-language", "content-location"]) headers.delete(n);
      } else if (body instanceof ReadableStream) {
        throw new TypeError(`fetch: a ${response.status} redirect cannot resend a streamed body`);
      }
      if (next.origin !== url.origin) headers.delete("authorization");
      url = next;
    }
  };

  return Object.assign(fetch, {
    async close(): Promise<void> {
      closed = true;
      await Promise.all([...origins.values()].flatMap((o) => [...o.idle].map((c) => c.destroy(true))));
    },
  });
}

/** Reads a redirect's body to its end when short (the connection is reused), else drops it with the connection. */
async function discard(response: Response): Promise<void> {
  if (!response.body) return;
  const reader = response.body.getReader();
  let n = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      n += value.length;
      if (n > 65536) { await reader.cancel(); return; }
    }
  } catch {
    // the connection is gone; the redirect goes on
  }
}

/** Errors that came before any byte of a response (a kept-alive connection the server had closed). */
const noResponses = new WeakSet<object>();
function noResponse(e: unknown): unknown {
  if (typeof e === "object" && e !== null) noResponses.add(e);
  return e;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

/**
 * The opening handshake, client side (RFC 6455 section 4): the HTTP/1.1
 * Upgrade request, and a small strict reader of the response head (the
 * status line and headers up to the empty line, at most
 * MAX_RESPONSE_HEAD bytes) that checks the 101 answer.
 *
 * TODO: once the shared HTTP/1.1 parser (llhttp, being built for fetch)
 * lands, read the response head with it instead of parseResponseHead.
 */
import { WebSocketHandshakeError } from "./errors.js";

/** Most bytes of response head accepted (as Node's default header limit). */
export const MAX_RESPONSE_HEAD = 16 * 1024;
/** Most header lines accepted in the response. */
const MAX_HEADERS = 100;
/** The GUID of RFC 6455 section 1.3, appended to the key before hashing. */
const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/** An HTTP token (RFC 9110 section 5.6.2): header names, subprotocols. */
export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** A fresh Sec-WebSocket-Key: 16 random bytes, base64. */
export function newKey(): string {
  return base64(crypto.getRandomValues(new Uint8Array(16)));
}

/** The Sec-WebSocket-Accept the server must answer `key` with: base64(SHA-1(key + GUID)). */
export function acceptFor(key: string): string {
  return base64(sha1(new TextEncoder().encode(key + GUID)));
}

/** Headers the handshake itself sets: a caller's `headers` may not. */
const OWN_HEADERS = new Set([
  "host", "upgrade", "connection", "sec-websocket-key", "sec-websocket-version", "sec-websocket-protocol",
  "sec-websocket-extensions", "sec-websocket-accept", "content-length", "transfer-encoding",
]);

/**
 * Checks extra request headers (`Origin`, `Authorization`, `Cookie`, ...):
 * token names, values without control characters, none of the handshake's own.
 * @throws TypeError
 */
export function checkHeaders(headers: Record<string, string> | undefined): [string, string][] {
  if (headers === undefined) return [];
  if (headers === null || typeof headers !== "object") throw new TypeError("headers must be an object of header names to values");
  return Object.entries(headers).map(([name, value]) => {
    if (!TOKEN.test(name)) throw new TypeError(`invalid header name: ${JSON.stringify(name)}`);
    if (OWN_HEADERS.has(name.toLowerCase())) throw new TypeError(`the ${name} header is the WebSocket handshake's own; it cannot be set`);
    if (typeof value !== "string" || /[\x00-\x08\x0a-\x1f\x7f]/.test(value)) {
      throw new TypeError(`the value of the ${name} header must be a string without control characters`);
    }
    return [name, value.trim()];
  });
}

/** The Upgrade request for `url` (ws: or wss:), offering `protocols`, with `extra` headers (checked by checkHeaders). */
export function upgradeRequest(url: URL, key: string, protocols: readonly string[], extra: readonly [string, string][] = []): Uint8Array {
  const target = `${url.pathname || "/"}${url.search}`;
  const lines = [
    `GET ${target} HTTP/1.1`,
    `Host: ${url.host}`, // the URL omits a default port, as the Host header should
    "Upgrade: websocket",
    "Connection: Upgrade",
    `Sec-WebSocket-Key: ${key}`,
    "Sec-WebSocket-Version: 13",
    ...(protocols.length > 0 ? [`Sec-WebSocket-Protocol: ${protocols.join(", ")}`] : []),
    ...extra.map(([name, value]) => `${name}: ${value}`),
  ];
  return new TextEncoder().encode(`${lines.join("\r\n")}\r\n\r\n`);
}

/** A parsed response head: the status and the headers, names lower-cased, repeated ones kept in order. */
export interface ResponseHead {
  status: number;
  statusText: string;
  headers: Map<string, string[]>;
}

/**
 * Finds the end of the response head (CRLF CRLF) in `buffer`: the index just
 * after it, or -1. Refuses a head longer than MAX_RESPONSE_HEAD.
 */
export function headEnd(buffer: Uint8Array): number {
  for (let i = 3; i < buffer.byteLength; i++) {
    if (buffer[i] === 10 && buffer[i - 1] === 13 && buffer[i - 2] === 10 && buffer[i - 3] === 13) return i + 1;
  }
  if (buffer.byteLength > MAX_RESPONSE_HEAD) {
    throw new WebSocketHandshakeError(`the server's response head exceeds ${MAX_RESPONSE_HEAD} bytes`);
  }
  return -1;
}

/**
 * Parses a response head (through its empty line) strictly: HTTP/1.1, CRLF
 * line ends only, token header names, no obsolete line folding, no control
 * characters in values.
 */
export function parseResponseHead(bytes: Uint8Array): ResponseHead {
  if (bytes.byteLength > MAX_RESPONSE_HEAD) throw new WebSocketHandshakeError(`the server's response head exceeds ${MAX_RESPONSE_HEAD} bytes`);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new WebSocketHandshakeError("the server's response head is not valid UTF-8");
  }
  if (!text.endsWith("\r\n\r\n")) throw new WebSocketHandshakeError("the server's response head does not end with an empty line");
  const lines = text.slice(0, -4).split("\r\n");
  const statusLine = lines.shift()!;
  const m = /^HTTP\/1\.1 ([1-9]\d\d)(?: ([^\x00-\x08\x0a-\x1f\x7f]*))?$/.exec(statusLine);
  if (!m) throw new WebSocketHandshakeError(`the server did not answer with an HTTP/1.1 status line: ${JSON.stringify(statusLine.slice(0, 80))}`);
  const status = Number(m[1]);
  if (lines.length > MAX_HEADERS) throw new WebSocketHandshakeError(`the server's response has more than ${MAX_HEADERS} headers`, status);
  const headers = new Map<string, string[]>();
  for (const line of lines) {
    const colon = line.indexOf(":");
    const name = colon > 0 ? line.slice(0, colon) : "";
    if (!TOKEN.test(name)) throw new WebSocketHandshakeError(`malformed header line in the server's response: ${JSON.stringify(line.slice(0, 80))}`, status);
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, "");
    if (/[\x00-\x08\x0a-\x1f\x7f]/.test(value)) throw new WebSocketHandshakeError(`control character in the server's ${name} header`, status);
    const key = name.toLowerCase();
    headers.set(key, [...headers.get(key) ?? [], value]);
  }
  return { status, statusText: m[2] ?? "", headers };
}

/**
 * Checks the server's answer (RFC 6455 section 4.1, client requirements 1-6):
 * 101, `Upgrade: websocket`, `Connection: upgrade`, the exact
 * `Sec-WebSocket-Accept`, no extension (none was offered), and at most one
 * subprotocol, one that was offered. Returns the subprotocol ("" for none).
 */
export function checkUpgradeResponse(head: ResponseHead, key: string, offered: readonly string[]): { protocol: string } {
  const { status, headers } = head;
  if (status !== 101) {
    throw new WebSocketHandshakeError(`the server answered the WebSocket upgrade with ${status}${head.statusText ? ` ${head.statusText}` : ""} instead of 101`, status);
  }
  const one = (name: string): string | undefined => {
    const values = headers.get(name);
    if (values && values.length > 1) throw new WebSocketHandshakeError(`the server sent ${values.length} ${name} headers`, status);
    return values?.[0];
  };
  if (one("upgrade")?.toLowerCase() !== "websocket") throw new WebSocketHandshakeError("the server's 101 response lacks `Upgrade: websocket`", status);
  const connection = (headers.get("connection") ?? []).flatMap((v) => v.split(",")).map((t) => t.trim().toLowerCase());
  if (!connection.includes("upgrade")) throw new WebSocketHandshakeError("the server's 101 response lacks `Connection: upgrade`", status);
  const accept = one("sec-websocket-accept");
  if (accept === undefined) throw new WebSocketHandshakeError("the server's 101 response lacks Sec-WebSocket-Accept", status);
  if (accept !== acceptFor(key)) throw new WebSocketHandshakeError(`the server's Sec-WebSocket-Accept ${JSON.stringify(accept.slice(0, 40))} does not match the key sent`, status);
  if (headers.has("sec-websocket-extensions")) {
    throw new WebSocketHandshakeError(`the server chose an extension that was not offered: ${headers.get("sec-websocket-extensions")!.join(", ")}`, status);
  }
  const protocol = one("sec-websocket-protocol");
  if (protocol !== undefined && !offered.includes(protocol)) {
    throw new WebSocketHandshakeError(`the server chose the subprotocol ${JSON.stringify(protocol)}, which was not offered`, status);
  }
  return { protocol: protocol ?? "" };
}

function base64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

/**
 * SHA-1 (FIPS 180-4), for Sec-WebSocket-Accept only: a handshake check, not
 * a security mechanism. In TypeScript rather than crypto.subtle, which
 * browsers offer only in secure contexts (and asynchronously).
 */
export function sha1(message: Uint8Array): Uint8Array {
  const bitLength = message.byteLength * 8;
  const padded = new Uint8Array(((message.byteLength + 8) >> 6) * 64 + 64);
  padded.set(message);
  padded[message.byteLength] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.byteLength - 8, Math.floor(bitLength / 2 ** 32));
  view.setUint32(padded.byteLength - 4, bitLength >>> 0);
  let h0 = 0x67452301, h1 = 0xefcdab89, h2 = 0x98badcfe, h3 = 0x10325476, h4 = 0xc3d2e1f0;
  const w = new Uint32Array(80);
  for (let block = 0; block < padded.byteLength; block += 64) {
    for (let t = 0; t < 16; t++) w[t] = view.getUint32(block + t * 4);
    for (let t = 16; t < 80; t++) {
      const x = w[t - 3]! ^ w[t - 8]! ^ w[t - 14]! ^ w[t - 16]!;
      w[t] = (x << 1) | (x >>> 31);
    }
    let a = h0, b = h1, c = h2, d = h3, e = h4;
    for (let t = 0; t < 80; t++) {
      const f = t < 20 ? (b & c) | (~b & d) : t < 40 ? b ^ c ^ d : t < 60 ? (b & c) | (b & d) | (c & d) : b ^ c ^ d;
      const k = t < 20 ? 0x5a827999 : t < 40 ? 0x6ed9eba1 : t < 60 ? 0x8f1bbcdc : 0xca62c1d6;
      const temp = (((a << 5) | (a >>> 27)) + f + e + k + w[t]!) >>> 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = temp;
    }
    h0 = (h0 + a) >>> 0;
    h1 = (h1 + b) >>> 0;
    h2 = (h2 + c) >>> 0;
    h3 = (h3 + d) >>> 0;
    h4 = (h4 + e) >>> 0;
  }
  const out = new Uint8Array(20);
  const outView = new DataView(out.buffer);
  [h0, h1, h2, h3, h4].forEach((h, i) => outView.setUint32(i * 4, h));
  return out;
}

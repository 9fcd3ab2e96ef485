// A raw client for the tunnel's tests and its fuzz target: handshakes and
// WebSocket frames as bytes, including the malformed ones a real client
// library refuses to send. Plain JavaScript so that both vitest and
// `node test/fuzz/fuzz.mjs` use it; types in raw-ws.d.mts.
import { once } from "node:events";
import * as net from "node:net";

/**
 * A GET upgrade request; header values are raw bytes, so they may hold anything.
 * @param {string | Buffer} path @param {Record<string, string | Buffer>} [headers]
 * @returns {Buffer}
 */
export function upgradeRequest(path, headers = {}) {
  const all = {
    Host: "127.0.0.1",
    Upgrade: "websocket",
    Connection: "Upgrade",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version": "13",
    ...headers,
  };
  const lines = [Buffer.from("GET "), Buffer.from(path), Buffer.from(" HTTP/1.1\r\n")];
  for (const [name, value] of Object.entries(all)) lines.push(Buffer.from(`${name}: `), Buffer.from(value), Buffer.from("\r\n"));
  lines.push(Buffer.from("\r\n"));
  return Buffer.concat(lines);
}

/**
 * One WebSocket frame, as RFC 6455 §5.2 lays it out (or deliberately not).
 * @param {import("./raw-ws.d.mts").FrameSpec} spec @returns {Buffer}
 */
export function frame(spec) {
  const payload = spec.payload ?? Buffer.alloc(0);
  const masked = spec.masked ?? true;
  const length = BigInt(spec.declaredLength ?? payload.length);
  const head = [((spec.fin ?? true) ? 0x80 : 0) | ((spec.rsv ?? 0) << 4) | (spec.opcode & 0x0f)];
  const maskBit = masked ? 0x80 : 0;
  let ext = Buffer.alloc(0);
  if (length < 126n) head.push(maskBit | Number(length));
  else if (length < 65536n) {
    head.push(maskBit | 126);
    ext = Buffer.alloc(2);
    ext.writeUInt16BE(Number(length));
  } else {
    head.push(maskBit | 127);
    ext = Buffer.alloc(8);
    ext.writeBigUInt64BE(length & 0xffff_ffff_ffff_ffffn);
  }
  const key = masked ? Buffer.from([0x12, 0x34, 0x56, 0x78]) : Buffer.alloc(0);
  const body = masked ? payload.map((b, i) => b ^ key[i % 4]) : payload;
  return Buffer.concat([Buffer.from(head), ext, key, body]);
}

/**
 * A close frame's payload: the code, then the reason bytes.
 * @param {number} code @param {Buffer} [reason] @returns {Buffer}
 */
export function closePayload(code, reason = Buffer.alloc(0)) {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(code);
  return Buffer.concat([b, reason]);
}

/**
 * Connects, writes `chunks` in order, and collects what comes back until the
 * server closes or `timeoutMs` passes (then it destroys the socket).
 * @param {number} port @param {Buffer[]} chunks @param {number} [timeoutMs] @param {string} [localAddress]
 * @returns {Promise<import("./raw-ws.d.mts").RawResult>}
 */
export async function rawExchange(port, chunks, timeoutMs = 1000, localAddress) {
  const socket = net.connect({ host: "127.0.0.1", port, ...(localAddress ? { localAddress } : {}) });
  socket.on("error", () => {});
  const got = [];
  socket.on("data", (d) => {
    got.push(d);
    // the server's close frame is what we waited for; we never answer it
    if (parseCloseFrame(Buffer.concat(got))) socket.destroy();
  });
  let closedByServer = false;
  const ended = new Promise((resolve) => {
    socket.on("end", () => { closedByServer = true; socket.destroy(); });
    socket.on("close", () => resolve());
  });
  await Promise.race([once(socket, "connect"), ended]);
  for (const c of chunks) if (!socket.destroyed) socket.write(c);
  const timer = setTimeout(() => socket.destroy(), timeoutMs);
  await ended;
  clearTimeout(timer);
  const bytes = Buffer.concat(got);
  return { bytes, status: parseStatus(bytes), close: parseCloseFrame(bytes), closedByServer };
}

/**
 * The HTTP status of a response, if the bytes start with one.
 * @param {Buffer} bytes @returns {number | null}
 */
export function parseStatus(bytes) {
  const m = /^HTTP\/1\.1 (\d{3})/.exec(bytes.subarray(0, 16).toString("latin1"));
  return m ? Number(m[1]) : null;
}

/**
 * The first close frame after a 101 response's headers, if any.
 * @param {Buffer} bytes @returns {{ code: number; reason: Buffer } | null}
 */
export function parseCloseFrame(bytes) {
  const headerEnd = bytes.indexOf("\r\n\r\n");
  if (parseStatus(bytes) !== 101 || headerEnd < 0) return null;
  let at = headerEnd + 4;
  while (at + 2 <= bytes.length) {
    const opcode = bytes[at] & 0x0f;
    let length = bytes[at + 1] & 0x7f;
    let offset = at + 2;
    if (length === 126) {
      if (offset + 2 > bytes.length) return null;
      length = bytes.readUInt16BE(offset);
      offset += 2;
    } else if (length === 127) {
      if (offset + 8 > bytes.length) return null;
      length = Number(bytes.readBigUInt64BE(offset));
      offset += 8;
    }
    if (opcode === 0x8) {
      if (offset + length > bytes.length) return null; // not all of it yet
      const payload = bytes.subarray(offset, offset + length);
      return { code: payload.length >= 2 ? payload.readUInt16BE(0) : 1005, reason: payload.subarray(2) };
    }
    at = offset + length;
  }
  return null;
}

/**
 * RFC 6455 framing, client side: frames we send are masked with a fresh key
 * from crypto.getRandomValues (section 5.3); frames we receive must not be
 * (section 5.1). The decoder is incremental (any split of the bytes gives
 * the same messages), assembles fragmented messages, answers nothing itself
 * and stops at the first violation: a WebSocketProtocolError with the close
 * code the connection must be failed with. No extension is negotiated, so
 * every RSV bit must be clear (no permessage-deflate yet).
 */
import { WebSocketProtocolError } from "./errors.js";

/** The first allocation for a frame's payload; it grows as the payload arrives. */
const INITIAL_PAYLOAD = 64 * 1024;

/** Opcodes (RFC 6455 section 5.2). */
export const OPCODE = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;

/** Largest payload of a control frame (section 5.5). */
export const MAX_CONTROL_PAYLOAD = 125;
/** Largest close reason in UTF-8 bytes: a control frame's 125 less the 2-byte code. */
export const MAX_CLOSE_REASON = 123;

/** What the decoder hands up: whole messages and control frames. */
export type Incoming =
  | { type: "text"; data: string }
  | { type: "binary"; data: Uint8Array }
  | { type: "ping"; payload: Uint8Array }
  | { type: "pong"; payload: Uint8Array }
  /** code undefined: the close frame had no body (the close event then says 1005). */
  | { type: "close"; code: number | undefined; reason: string }
  /** The server broke the protocol here: what came before it in the same bytes still counts. */
  | { type: "violation"; error: WebSocketProtocolError };

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();

/** Decodes UTF-8 strictly: anything else is a 1007 (section 8.1). */
export function decodeUtf8(bytes: Uint8Array, what: string): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new WebSocketProtocolError(1007, `the server sent ${what} that is not valid UTF-8`);
  }
}

/**
 * Close codes a peer may put on the wire (section 7.4): 1000-1003, 1007-1014
 * (1004 is reserved; 1005, 1006 and 1015 are never sent), and 3000-4999.
 */
export function isValidWireCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

/** One masked client frame (FIN set: we never fragment what we send). */
export function encodeFrame(opcode: number, payload: Uint8Array): Uint8Array {
  const n = payload.byteLength;
  const lengthBytes = n < 126 ? 0 : n < 0x10000 ? 2 : 8;
  const header = 2 + lengthBytes + 4;
  const frame = new Uint8Array(header + n);
  frame[0] = 0x80 | opcode;
  const view = new DataView(frame.buffer);
  if (lengthBytes === 0) frame[1] = 0x80 | n;
  else if (lengthBytes === 2) {
    frame[1] = 0x80 | 126;
    view.setUint16(2, n);
  } else {
    frame[1] = 0x80 | 127;
    view.setUint32(2, Math.floor(n / 2 ** 32));
    view.setUint32(6, n >>> 0);
  }
  const mask = frame.subarray(header - 4, header);
  crypto.getRandomValues(mask);
  for (let i = 0; i < n; i++) frame[header + i] = payload[i]! ^ mask[i & 3]!;
  return frame;
}

/** A close frame's body: the code and the reason (at most 123 UTF-8 bytes), or nothing. */
export function closePayload(code: number | undefined, reason = ""): Uint8Array {
  if (code === undefined) return new Uint8Array(0);
  const text = encoder.encode(reason);
  const body = new Uint8Array(2 + text.byteLength);
  new DataView(body.buffer).setUint16(0, code);
  body.set(text, 2);
  return body;
}

/**
 * Incremental decoder of the server's frames. `maxMessageBytes` bounds a
 * whole message (the sum of its fragments): a frame header announcing more
 * is refused before any of its payload is buffered (1009). Below it, memory
 * follows the bytes that actually arrived.
 */
export class FrameDecoder {
  readonly #maxMessageBytes: number;
  /** Header bytes of the frame being read (at most 10: the server's frames carry no mask). */
  readonly #header = new Uint8Array(10);
  #headerLength = 0;
  /** The frame whose payload is being read. */
  #frame: { fin: boolean; opcode: number; length: number; payload: Uint8Array; filled: number } | undefined;
  /** The fragmented message being assembled: its opcode and the payloads so far. */
  #message: { opcode: number; parts: Uint8Array[]; bytes: number } | undefined;

  constructor(maxMessageBytes: number) {
    this.#maxMessageBytes = maxMessageBytes;
  }

  /** The violation that ended decoding, if one did: nothing after it is read. */
  #violation: WebSocketProtocolError | undefined;

  /**
   * Bytes from the server, in order; returns what they completed. A
   * violation comes last, after the messages that preceded it, and ends
   * decoding: later calls return it alone.
   */
  push(chunk: Uint8Array): Incoming[] {
    const out: Incoming[] = [];
    if (!this.#violation) {
      try {
        this.#decode(chunk, out);
      } catch (e) {
        if (!(e instanceof WebSocketProtocolError)) throw e;
        this.#violation = e;
      }
    }
    if (this.#violation) out.push({ type: "violation", error: this.#violation });
    return out;
  }

  #decode(chunk: Uint8Array, out: Incoming[]): void {
    let at = 0;
    while (at < chunk.byteLength) {
      if (!this.#frame) {
        at = this.#readHeader(chunk, at);
        if (!this.#frame) break; // the header is still incomplete: the chunk is used up
      }
      const frame = this.#frame;
      const take = Math.min(frame.length - frame.filled, chunk.byteLength - at);
      if (frame.filled + take > frame.payload.byteLength) {
        // Grown as bytes arrive (doubling, up to the announced length), so a header
        // announcing a large frame costs nothing until its payload comes.
        const grown = new Uint8Array(Math.min(frame.length, Math.max(frame.filled + take, frame.payload.byteLength * 2)));
        grown.set(frame.payload.subarray(0, frame.filled));
        frame.payload = grown;
      }
      frame.payload.set(chunk.subarray(at, at + take), frame.filled);
      frame.filled += take;
      at += take;
      if (frame.filled === frame.length) {
        this.#frame = undefined;
        const incoming = this.#complete(frame);
        if (incoming) out.push(incoming);
      }
    }
  }

  /** Reads header bytes from chunk[at...]; once the header is whole, starts the frame. Returns the new offset. */
  #readHeader(chunk: Uint8Array, at: number): number {
    while (at < chunk.byteLength) {
      this.#header[this.#headerLength++] = chunk[at++]!;
      const need = this.#headerNeeds();
      if (need !== undefined && this.#headerLength === need) {
        this.#startFrame(); // push() completes a frame with an empty payload at once
        return at;
      }
    }
    return at;
  }

  /** The header's whole length once its second byte is known. */
  #headerNeeds(): number | undefined {
    if (this.#headerLength < 2) return undefined;
    const b0 = this.#header[0]!;
    const b1 = this.#header[1]!;
    if (b0 & 0x70) throw new WebSocketProtocolError(1002, "the server set a reserved bit (RSV1-3) with no extension negotiated");
    if (b1 & 0x80) throw new WebSocketProtocolError(1002, "the server sent a masked frame (RFC 6455 section 5.1: server frames are not masked)");
    const len = b1 & 0x7f;
    return len < 126 ? 2 : len === 126 ? 4 : 10;
  }

  #startFrame(): void {
    const h = this.#header;
    const fin = (h[0]! & 0x80) !== 0;
    const opcode = h[0]! & 0x0f;
    const view = new DataView(h.buffer);
    let length = h[1]! & 0x7f;
    if (length === 126) {
      length = view.getUint16(2);
      if (length < 126) throw new WebSocketProtocolError(1002, "the server sent a frame length in more bytes than it needs");
    } else if (length === 127) {
      const high = view.getUint32(2);
      if (high & 0x80000000) throw new WebSocketProtocolError(1002, "the server sent a frame length with its most significant bit set");
      length = high * 2 ** 32 + view.getUint32(6);
      if (length < 0x10000) throw new WebSocketProtocolError(1002, "the server sent a frame length in more bytes than it needs");
    }
    this.#headerLength = 0;
    const control = opcode >= 0x8;
    if (control) {
      if (opcode !== OPCODE.close && opcode !== OPCODE.ping && opcode !== OPCODE.pong) {
        throw new WebSocketProtocolError(1002, `the server used the reserved opcode 0x${opcode.toString(16)}`);
      }
      if (!fin) throw new WebSocketProtocolError(1002, "the server fragmented a control frame");
      if (length > MAX_CONTROL_PAYLOAD) throw new WebSocketProtocolError(1002, `the server sent a ${length}-byte control frame (at most ${MAX_CONTROL_PAYLOAD})`);
    } else if (opcode === OPCODE.continuation) {
      if (!this.#message) throw new WebSocketProtocolError(1002, "the server sent a continuation frame with no message to continue");
    } else if (opcode === OPCODE.text || opcode === OPCODE.binary) {
      if (this.#message) throw new WebSocketProtocolError(1002, "the server started a new message before finishing the fragmented one");
    } else {
      throw new WebSocketProtocolError(1002, `the server used the reserved opcode 0x${opcode.toString(16)}`);
    }
    if (!control) {
      const sofar = this.#message?.bytes ?? 0;
      if (sofar + length > this.#maxMessageBytes) {
        throw new WebSocketProtocolError(1009, `the server sent a message of more than ${this.#maxMessageBytes} bytes (maxMessageBytes)`);
      }
    }
    this.#frame = { fin, opcode, length, payload: new Uint8Array(Math.min(length, INITIAL_PAYLOAD)), filled: 0 };
  }

  /** A whole frame: a control frame, or a message once its last fragment is in. */
  #complete(frame: { fin: boolean; opcode: number; payload: Uint8Array }): Incoming | undefined {
    const { fin, opcode, payload } = frame;
    if (opcode === OPCODE.ping) return { type: "ping", payload };
    if (opcode === OPCODE.pong) return { type: "pong", payload };
    if (opcode === OPCODE.close) return parseClose(payload);
    if (opcode !== OPCODE.continuation) this.#message = { opcode, parts: [], bytes: 0 };
    const message = this.#message!;
    message.parts.push(payload);
    message.bytes += payload.byteLength;
    if (!fin) return undefined;
    this.#message = undefined;
    const data = message.parts.length === 1 ? message.parts[0]! : concat(message.parts, message.bytes);
    return message.opcode === OPCODE.text ? { type: "text", data: decodeUtf8(data, "a text message") } : { type: "binary", data };
  }
}

/** A close frame's body (section 5.5.1): empty, or a valid code and a UTF-8 reason. */
function parseClose(payload: Uint8Array): Incoming {
  if (payload.byteLength === 0) return { type: "close", code: undefined, reason: "" };
  if (payload.byteLength === 1) throw new WebSocketProtocolError(1002, "the server sent a close frame with a 1-byte body");
  const code = (payload[0]! << 8) | payload[1]!;
  if (!isValidWireCloseCode(code)) throw new WebSocketProtocolError(1002, `the server sent the close code ${code}, which may not be sent`);
  return { type: "close", code, reason: decodeUtf8(payload.subarray(2), "a close reason") };
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

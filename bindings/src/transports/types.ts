/**
 * A byte transport, reduced to Web Streams. Its three endings:
 * - `readable` closes: the peer finished sending (TCP FIN, WebSocket close 1000);
 * - `readable` errors: the connection broke (reset, abnormal close);
 * - `writable` close: we finished sending (half-close where the transport has it).
 * Bytes that arrived before an ending are always delivered before it.
 */
export interface Transport {
  /** Bytes from the peer. */
  readable: ReadableStream<Uint8Array>;
  /** Bytes to the peer. */
  writable: WritableStream<Uint8Array>;
}

/** Copies any binary chunk a transport may deliver into a Uint8Array view. */
export function toBytes(chunk: unknown): Uint8Array {
  if (chunk instanceof Uint8Array) return chunk;
  if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk);
  if (ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new TypeError(`transport delivered ${chunk === null ? "null" : typeof chunk} instead of bytes`);
}

/** The default for a transport's `timeout` option: how long opening may take. */
export const DEFAULT_CONNECT_TIMEOUT = 30_000;

/** Checks a transport's `timeout` option (milliseconds; 0: none). */
export function connectTimeout(value: number | undefined): number {
  if (value === undefined) return DEFAULT_CONNECT_TIMEOUT;
  if (Number.isSafeInteger(value) && value >= 0) return value;
  throw new RangeError(`timeout must be a non-negative integer number of milliseconds (0: none), got ${String(value)}`);
}

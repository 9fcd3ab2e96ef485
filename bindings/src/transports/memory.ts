/**
 * Two transports joined back to back, in memory: what one writes, the other
 * reads. Closing a writable ends the other side's readable (a half-close);
 * aborting it errors the other side's readable (a reset).
 */
import { iterable } from "./iterable.js";
import type { Transport } from "./types.js";

/** Two Transports joined in memory (what one writes, the other reads): both ends of a connection in one process. */
export function memoryPair(): [Transport, Transport] {
  const ab = new TransformStream<Uint8Array, Uint8Array>();
  const ba = new TransformStream<Uint8Array, Uint8Array>();
  return [
    { readable: iterable(ba.readable), writable: ab.writable },
    { readable: iterable(ab.readable), writable: ba.writable },
  ];
}

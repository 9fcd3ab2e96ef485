/** A Node `Duplex` over a TlsSocket, for code that wants a net.Socket-like stream. */
import { Duplex } from "node:stream";
import type { TlsSocket } from "../tls-socket.js";

/**
 * A Node `Duplex` over the socket's `readable` and `writable` (Duplex.fromWeb),
 * for existing Node code: http clients, database drivers. Ending the Duplex
 * ends `writable`, which sends close_notify.
 */
export function toNodeDuplex(socket: TlsSocket): Duplex {
  return Duplex.fromWeb({ readable: socket.readable, writable: socket.writable } as never);
}

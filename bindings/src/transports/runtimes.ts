/**
 * Transports of the other runtimes' native TCP APIs. Each returns the same
 * { readable, writable } Web Streams, with the same endings: the readable
 * closes on the peer's FIN and errors on a reset.
 */
import { iterable } from "./iterable.js";
import type { Transport } from "./types.js";

interface DenoConnLike {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<Uint8Array>;
}
interface DenoLike {
  connect(options: { hostname: string; port: number; transport?: "tcp" }): Promise<DenoConnLike>;
}

/** Deno: `Deno.connect` (its connections already are Web Streams). */
export async function connectDeno(hostname: string, port: number): Promise<Transport> {
  const deno = (globalThis as { Deno?: DenoLike }).Deno;
  if (!deno) throw new TypeError("connectDeno needs Deno");
  const conn = await deno.connect({ hostname, port, transport: "tcp" });
  return { readable: iterable(conn.readable), writable: conn.writable };
}

/** The socket Cloudflare's `connect()` (cloudflare:sockets) returns. */
export interface CloudflareSocketLike {
  /** Bytes from the peer. */
  readable: ReadableStream<Uint8Array>;
  /** Bytes to the peer. */
  writable: WritableStream<Uint8Array>;
}

/**
 * Cloudflare Workers / workerd: pass `connect` from "cloudflare:sockets"
 * (a worker imports it; this package cannot).
 */
export function connectCloudflare(
  connect: (address: { hostname: string; port: number }) => CloudflareSocketLike,
  hostname: string,
  port: number,
): Transport {
  const socket = connect({ hostname, port });
  return { readable: iterable(socket.readable), writable: socket.writable };
}

interface BunSocketLike {
  write(data: Uint8Array): number;
  /** Stop / restart reading the socket (TCP backpressure). */
  pause?(): void;
  resume?(): void;
  end(): void;
  shutdown?(halfClose?: boolean): void;
  flush?(): void;
  terminate?(): void;
}
interface BunLike {
  connect(options: {
    hostname: string;
    port: number;
    allowHalfOpen?: boolean;
    socket: {
      open?(s: BunSocketLike): void;
      data?(s: BunSocketLike, data: Uint8Array): void;
      drain?(s: BunSocketLike): void;
      end?(s: BunSocketLike): void;
      close?(s: BunSocketLike, error?: Error): void;
      error?(s: BunSocketLike, error: Error): void;
      connectError?(s: BunSocketLike, error: Error): void;
    };
  }): Promise<BunSocketLike>;
}

/** Pause reading a Bun socket while this much received data is unread. */
const BUN_READ_HIGH_WATER = 1 << 20;

/**
 * Bun: `Bun.connect`, its callbacks turned into streams, with backpressure
 * both ways (reading pauses while 1 MiB is unread; writes wait for drain).
 */
export async function connectBun(hostname: string, port: number): Promise<Transport> {
  const bun = (globalThis as { Bun?: BunLike }).Bun;
  if (!bun) throw new TypeError("connectBun needs Bun");
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let ended = false;
  let drained: (() => void) | undefined;
  let paused: BunSocketLike | undefined;
  const readable = new ReadableStream<Uint8Array>({
    start: (c) => void (controller = c),
    pull: () => {
      paused?.resume?.();
      paused = undefined;
    },
  }, { highWaterMark: BUN_READ_HIGH_WATER, size: (chunk) => chunk.byteLength });
  const endWith = (error?: Error) => {
    if (ended) return;
    ended = true;
    if (error) controller.error(error);
    else controller.close();
  };
  const socket = await bun.connect({
    hostname, port, allowHalfOpen: true,
    socket: {
      data: (s, data) => {
        if (ended) return;
        controller.enqueue(new Uint8Array(data)); // Bun reuses its buffer: copy
        if ((controller.desiredSize ?? 1) <= 0 && s.pause) {
          s.pause();
          paused = s;
        }
      },
      drain: () => drained?.(),
      end: () => endWith(),
      close: (_s, error) => endWith(error),
      error: (_s, error) => endWith(error),
    },
  });
  const writable = new WritableStream<Uint8Array>({
    async write(chunk) {
      let rest = chunk;
      for (;;) {
        const n = socket.write(rest);
        if (n < 0) throw new Error("the Bun socket is closed");
        if (n === rest.length) return;
        rest = rest.subarray(n);
        await new Promise<void>((resolve) => (drained = resolve));
      }
    },
    close() {
      socket.end();
    },
    abort() {
      socket.terminate?.() ?? socket.end();
    },
  });
  return { readable: iterable(readable), writable };
}

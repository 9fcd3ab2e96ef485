/**
 * Node `net.Socket` (or any Node duplex socket) as a Transport.
 *
 * The socket must allow half-open connections (`allowHalfOpen: true`):
 * otherwise Node ends our side as soon as the peer's FIN arrives, before
 * TLS has had its say. connectTcp() creates one that does.
 */
import { ConnectTimeoutError } from "../errors.js";
import { iterable } from "./iterable.js";
import type { Connector } from "./connector.js";
import { connectTimeout, type Transport } from "./types.js";

/** The subset of net.Socket used here. */
export interface NodeSocketLike {
  /** Bytes received. */
  on(event: "data", fn: (chunk: Uint8Array) => void): unknown;
  /** The peer's FIN. */
  on(event: "end", fn: () => void): unknown;
  /** A failure (reset, ...). */
  on(event: "error", fn: (e: Error) => void): unknown;
  /** The socket is closed. */
  on(event: "close", fn: (hadError: boolean) => void): unknown;
  /** Stops reading (backpressure). */
  pause(): unknown;
  /** Reads again. */
  resume(): unknown;
  /** Sends bytes; `cb` once they are handed to the OS. */
  write(chunk: Uint8Array, cb: (err?: Error | null) => void): boolean;
  /** Sends FIN after what was written. */
  end(cb?: () => void): unknown;
  /** Closes at once. */
  destroy(error?: Error): unknown;
  /** Must be true: TLS has its own say after the peer's FIN. */
  readonly allowHalfOpen?: boolean;
  /** Whether it is destroyed. */
  readonly destroyed?: boolean;
}

/** Wraps a connected Node socket (created with `allowHalfOpen: true`) as a Transport. */
export function fromNodeSocket(socket: NodeSocketLike): Transport {
  let ended = false;
  const readable = new ReadableStream<Uint8Array>({
    start(controller) {
      socket.on("data", (chunk) => {
        controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        // backpressure: stop reading the socket while the consumer is behind
        if ((controller.desiredSize ?? 1) <= 0) socket.pause();
      });
      socket.on("end", () => {
        ended = true;
        controller.close();
      });
      socket.on("error", (e) => {
        if (!ended) {
          ended = true;
          controller.error(e);
        }
      });
      socket.on("close", (hadError) => {
        if (!ended && !hadError) {
          ended = true;
          controller.error(new Error("the socket closed before its end"));
        }
      });
    },
    pull() {
      socket.resume();
    },
    cancel() {
      socket.destroy();
    },
  }, { highWaterMark: 4 });
  const writable = new WritableStream<Uint8Array>({
    write(chunk) {
      return new Promise<void>((resolve, reject) => {
        socket.write(chunk, (err) => (err ? reject(err) : resolve()));
      });
    },
    close() {
      return new Promise<void>((resolve) => {
        socket.end(() => resolve());
      });
    },
    abort(reason) {
      socket.destroy(reason instanceof Error ? reason : undefined);
    },
  });
  return { readable: iterable(readable), writable };
}

/** Options of connectTcp(). */
export interface ConnectTcpOptions {
  /** Aborting it while the connection opens destroys the socket and rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Milliseconds the connection may take to open (default 30000; 0: no limit): then ConnectTimeoutError. */
  timeout?: number;
}

/** Opens a TCP connection (Node's net, half-open allowed) and returns it as a Transport. */
export async function connectTcp(host: string, port: number, options: ConnectTcpOptions = {}): Promise<Transport> {
  if (typeof host !== "string" || host === "") throw new TypeError("connectTcp: host must be a non-empty string");
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`connectTcp: port must be an integer in 1..65535, got ${String(port)}`);
  const timeoutMs = connectTimeout(options.timeout);
  const { signal } = options;
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new TypeError("signal must be an AbortSignal");
  signal?.throwIfAborted();
  const net = await import("node:net");
  const socket = net.connect({ host, port, allowHalfOpen: true });
  await new Promise<void>((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const settle = (error?: unknown) => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      socket.off("connect", onConnect);
      socket.off("error", onError);
      if (error === undefined) return resolve();
      socket.destroy();
      reject(error);
    };
    const onConnect = () => settle();
    const onError = (e: Error) => settle(e);
    const onAbort = () => settle(signal!.reason);
    socket.once("connect", onConnect);
    socket.once("error", onError);
    signal?.addEventListener("abort", onAbort, { once: true });
    if (timeoutMs > 0) timer = setTimeout(() => settle(new ConnectTimeoutError(timeoutMs)), timeoutMs);
  });
  return fromNodeSocket(socket);
}

/** Node's TCP as a Connector (connectTcp with the destination, its signal, and `options`). */
export function tcpConnector(options: Omit<ConnectTcpOptions, "signal"> = {}): Connector {
  return ({ host, port }, o = {}) => connectTcp(host, port, { ...options, ...(o.signal ? { signal: o.signal } : {}) });
}

/**
 * What the tunnel reports: one structured event per thing that happened
 * (the CLI's `--log json` prints each as a JSON line), the plain-text line
 * the `log` option gets for the same event, and the guard that keeps an
 * exception in a handler from escaping into an event emitter.
 */

/**
 * Event names:
 * - `rejected`: a raw connection dropped on accept (pending limits)
 * - `timeout`: a connection that did not become a tunnel within upgradeTimeoutMs, destroyed
 * - `http`: a plain HTTP request answered (426, or 404 for other methods)
 * - `bad-request`: malformed HTTP or WebSocket handshake, answered with `status` and closed
 * - `refused`: a WebSocket closed right after its upgrade (`code`, `reason`), or
 *   a `public` rule's destination that resolved to an address not public
 *   (then `target` too, and a `closed` follows)
 * - `connecting`, `connected`, `closed`: a tunnel's life (`closed` has the byte counts);
 *   with `stream`, a Wisp stream's (then `code` is the Wisp CLOSE reason); a
 *   Wisp WebSocket's own end is a `closed` without `stream` or `target`
 * - `resolved`: a `public` rule's destination passed the address check; TCP
 *   connects to `address`
 * - `protocol-error`: the client broke RFC 6455; `ws` closes with 1002/1007/1009
 * - `internal-error`: an exception in the tunnel's own code, caught; that connection was closed
 * - `server-error`: the listening socket failed (e.g. EMFILE on accept); the tunnel goes on
 * - `draining`, `stopped`: shutdown began, shutdown finished
 */
export type TunnelEventName =
  | "rejected" | "timeout" | "http" | "bad-request" | "refused"
  | "connecting" | "resolved" | "connected" | "closed"
  | "protocol-error" | "internal-error" | "server-error"
  | "draining" | "stopped";

/** One thing that happened, as `onEvent` receives it and `--log json` prints it. */
export interface TunnelEvent {
  /** When, ISO 8601 (UTC). */
  ts: string;
  /** What happened (the README lists each event and its fields). */
  event: TunnelEventName;
  /** The client connection (one per accepted TCP connection, counting from 1). */
  id?: number;
  /** The client's address and port, `1.2.3.4:5678` or `[::1]:5678`. */
  client?: string;
  /** The Wisp stream id (Wisp endpoint only). */
  stream?: number;
  /** The tunnel's destination, `host:port`. */
  target?: string;
  /** The checked address a `public` rule's destination connects to (`resolved`). */
  address?: string;
  /** The WebSocket close code sent or received; for a Wisp stream's event, the Wisp CLOSE reason. */
  code?: number;
  /** The HTTP status answered. */
  status?: number;
  /** Why: a refusal's or a close's reason, an error's message (at most 123 UTF-8 bytes where it is a close reason). */
  reason?: string;
  /** Bytes relayed client -> TCP (`closed`). */
  bytesUp?: number;
  /** Bytes relayed TCP -> client (`closed`). */
  bytesDown?: number;
  /** The tunnel's (or Wisp stream's) lifetime in milliseconds (`closed`). */
  durationMs?: number;
  /** Live tunnels (`draining`, `stopped`). */
  connections?: number;
  /** Connections that are not (yet) tunnels (`draining`, `stopped`). */
  pending?: number;
}

/** An event before the tunnel stamps its time. */
export type EventFields = Omit<TunnelEvent, "ts">;

/** Receives events; never throws (see {@link createReporter}). */
export type Report = (fields: EventFields) => void;

/** The plain-text line for an event, as the `log` option receives it. */
export function formatEventText(e: TunnelEvent): string {
  const who = [e.id === undefined ? "" : `#${e.id}${e.stream === undefined ? "" : `/${e.stream}`}`, e.client ?? ""].filter(Boolean).join(" ");
  const to = e.target ? ` -> ${e.target}` : "";
  switch (e.event) {
    case "refused":
      return `${who}${to} refused (${e.stream === undefined ? e.code : `0x${(e.code ?? 0).toString(16)}`}): ${e.reason}`;
    case "resolved":
      return `${who}${to}: resolved to ${e.address}`;
    case "connecting":
    case "connected":
      return `${who}${to}: ${e.event}`;
    case "closed":
      return `${who}${to}: closed (${e.stream === undefined ? e.code : `0x${(e.code ?? 0).toString(16)}`}${e.reason ? `: ${e.reason}` : ""}), ` +
        `${e.bytesUp ?? 0} B up, ${e.bytesDown ?? 0} B down, ${e.durationMs} ms`;
    case "draining":
    case "stopped":
      return `${e.event}: ${e.connections} connections, ${e.pending} pending${e.reason ? ` (${e.reason})` : ""}`;
    default: {
      const detail = e.status !== undefined ? ` (${e.status})` : e.code !== undefined ? ` (${e.code})` : "";
      return `${who}${to} ${e.event}${detail}: ${e.reason ?? ""}`.trim();
    }
  }
}

/**
 * One function that stamps events and hands them to the user's `onEvent`
 * and `log`. A throwing user callback is swallowed: a logger must not be
 * able to take the tunnel down.
 */
export function createReporter(onEvent?: (event: TunnelEvent) => void, log?: (line: string) => void): Report {
  if (!onEvent && !log) return () => {};
  return (fields) => {
    const event: TunnelEvent = { ts: new Date().toISOString(), ...fields };
    for (const key of Object.keys(event) as (keyof TunnelEvent)[]) {
      if (event[key] === undefined) delete event[key]; // a field is there with a value, or not at all
    }
    try {
      onEvent?.(event);
    } catch {
      // the user's callback failed; nothing better to do with its error
    }
    try {
      log?.(formatEventText(event));
    } catch {
      // as above
    }
  };
}

/** An error's message for a log line, whatever was thrown. */
export function describeError(e: unknown): string {
  if (e instanceof Error) return (e as NodeJS.ErrnoException).code ?? e.message;
  return String(e);
}

/**
 * Wraps an event handler so that an exception in it goes to `onThrow` (with
 * the handler's arguments, to close what they belong to) instead of the emitter, where it would be an uncaught exception and end
 * the process (and every other user's connection with it).
 */
export function guarded<A extends unknown[]>(handler: (...args: A) => void, onThrow: (e: unknown, args: A) => void): (...args: A) => void {
  return (...args: A) => {
    try {
      handler(...args);
    } catch (e) {
      try {
        onThrow(e, args);
      } catch {
        // the recovery itself failed; the connection's own error paths still end it
      }
    }
  };
}

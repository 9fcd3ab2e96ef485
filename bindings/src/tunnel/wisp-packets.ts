/**
 * The server side of Wisp v1's packets, shared by the Node tunnel's endpoint
 * (wisp-session.ts) and the edge tunnel's (edge/wisp.ts). Web-platform code
 * only (Uint8Array, DataView, TextDecoder): the edge runtimes have no Buffer.
 * Written from the Wisp v1 specification (MercuryWorkshop/wisp-protocol,
 * CC-BY-4.0).
 *
 * A packet is one binary message `u8 type | u32 stream id | payload`,
 * little-endian: CONNECT (0x01, `u8 kind | u16 port | host`), DATA (0x02),
 * CONTINUE (0x03, `u32 credit` in packets, server to client), CLOSE (0x04,
 * `u8 reason`).
 */
import { formatHostPort, isAllowed, needsAddressCheck, type AllowRule, type Destination } from "./destination.js";

/** Packet types. */
export const CONNECT = 0x01, DATA = 0x02, CONTINUE = 0x03, CLOSE = 0x04;
/** Bytes before a packet's payload. */
export const HEADER = 5;
const TCP = 0x01, UDP = 0x02;

/** Wisp CLOSE reasons the endpoints send. */
export const WispReason = {
  voluntary: 0x02,
  networkError: 0x03,
  invalid: 0x41,
  unreachable: 0x42,
  timedOut: 0x43,
  refused: 0x44,
  transferTimedOut: 0x47,
  blocked: 0x48,
  throttled: 0x49,
} as const;

/** WebSocket close code for a Wisp protocol error (RFC 6455: protocol error). */
export const PROTOCOL_ERROR = 1002;

/**
 * Every stream's credit in DATA packets, sent in the handshake's CONTINUE.
 * Small enough that a client keeping to it with 64 KiB packets (ours) stays
 * well under the default per-stream byte budget (maxBufferedBytes, 4 MiB),
 * twice over for the CONTINUE in flight; a client that sends more than the
 * budget anyway loses the stream (0x49).
 */
export const WISP_STREAM_CREDIT = 16;

/** A path that ends with "/" (before any query) asks for Wisp; wsproxy paths end with `/<host>:<port>`. */
export function isWispPath(url: string | undefined): boolean {
  return (url ?? "").replace(/[?#].*$/s, "").endsWith("/");
}

/**
 * Ids of streams the server closed, kept so DATA the client sent before it
 * saw our CLOSE is dropped rather than called a protocol error. Bounded.
 */
export const RECENTLY_CLOSED = 4096;

/** A packet of `type` for stream `id` with `payload` bytes, `fill` writing them. */
export function wispPacket(type: number, id: number, payload: number, fill?: (view: DataView) => void): Uint8Array {
  const bytes = new Uint8Array(HEADER + payload);
  const view = new DataView(bytes.buffer);
  view.setUint8(0, type);
  view.setUint32(1, id, true);
  fill?.(view);
  return bytes;
}

/** CONTINUE: stream `id` (0: every stream, in the handshake) may send `credit` more DATA packets. */
export function continuePacket(id: number, credit: number): Uint8Array {
  return wispPacket(CONTINUE, id, 4, (v) => v.setUint32(HEADER, credit, true));
}

/** CLOSE of stream `id` with `reason`. */
export function closePacket(id: number, reason: number): Uint8Array {
  return wispPacket(CLOSE, id, 1, (v) => v.setUint8(HEADER, reason));
}

/** DATA on stream `id`: the header, then `data` copied after it. */
export function dataPacket(id: number, data: Uint8Array): Uint8Array {
  const out = wispPacket(DATA, id, data.length);
  out.set(data, HEADER);
  return out;
}

/** A client's packet, read: what it asks, or the protocol error it is. */
export type ClientPacket =
  | { type: typeof CONNECT; id: number; payload: Uint8Array }
  | { type: typeof DATA; id: number; payload: Uint8Array }
  | { type: typeof CLOSE; id: number; reason: number }
  | { error: string };

/**
 * Reads one binary message from a client. Whether a stream id is open is the
 * session's to judge; this checks the packet itself: its length for its type,
 * CONNECT not on stream 0, and types a client may not send (CONTINUE) or that
 * this v1 endpoint does not know (INFO, 0x05, is Wisp v2's).
 */
export function readClientPacket(data: Uint8Array): ClientPacket {
  if (data.length < HEADER) return { error: `a packet of ${data.length} bytes (at least 5)` };
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const type = data[0]!;
  const id = view.getUint32(1, true);
  switch (type) {
    case CONNECT:
      if (data.length < HEADER + 3) return { error: `CONNECT of ${data.length} bytes (at least 8)` };
      if (id === 0) return { error: "CONNECT for stream 0, reserved" };
      return { type, id, payload: data.subarray(HEADER) };
    case DATA:
      return { type, id, payload: data.subarray(HEADER) };
    case CLOSE:
      if (data.length !== HEADER + 1) return { error: `CLOSE of ${data.length} bytes (6)` };
      return { type, id, reason: data[HEADER]! };
    case CONTINUE:
      return { error: "CONTINUE from the client (only the server gives credit)" };
    default:
      return { error: `unknown packet type 0x${type.toString(16).padStart(2, "0")}${type === 0x05 ? " (INFO: Wisp v2; this endpoint speaks v1)" : ""}` };
  }
}

/** What a session does with each kind of client packet (dispatchClientPacket). */
export interface ClientPacketHandlers<S> {
  /** Open streams by id. */
  readonly streams: ReadonlyMap<number, S>;
  /** Ids the server closed lately (RECENTLY_CLOSED): DATA for them is dropped, a CLOSE forgets them. */
  readonly recentlyClosed: Set<number>;
  connect(id: number, payload: Uint8Array): void;
  data(stream: S, payload: Uint8Array): void;
  /** The client closed an open stream with `reason`. */
  close(stream: S, reason: number): void;
  /** The packet breaks the protocol: the session ends with 1002. */
  protocolError(reason: string): void;
}

/**
 * Reads one binary message from a client and hands it to the session: a
 * CONNECT for a new stream, DATA or CLOSE for an open one. DATA for a stream
 * the server has just closed is dropped (the client sent it before it saw
 * the CLOSE); a CLOSE for a stream not open is harmless (two CLOSEs
 * crossing); anything else wrong is a protocol error.
 */
export function dispatchClientPacket<S>(message: Uint8Array, h: ClientPacketHandlers<S>): void {
  const packet = readClientPacket(message);
  if ("error" in packet) return h.protocolError(packet.error);
  const stream = h.streams.get(packet.id);
  switch (packet.type) {
    case CONNECT:
      if (stream) return h.protocolError(`CONNECT for stream ${packet.id}, already open`);
      return h.connect(packet.id, packet.payload);
    case DATA:
      if (stream) return h.data(stream, packet.payload);
      if (!h.recentlyClosed.has(packet.id)) h.protocolError(`DATA for stream ${packet.id}, which is not open`);
      return;
    case CLOSE:
      if (stream) h.close(stream, packet.reason);
      else h.recentlyClosed.delete(packet.id);
  }
}

/** What a CONNECT asks: a destination to dial (`checkAddress`: only a `public` rule may take it, once its addresses are checked), or a refusal. */
export type ConnectRequest =
  | { destination: Destination; target: string; checkAddress: boolean }
  | { refuse: number; target: string; why: string };

const decoder = new TextDecoder();

/**
 * A CONNECT's payload (`u8 kind | u16 port | host`) checked against the
 * allow rules: TCP only (UDP and unknown kinds get 0x41), a host of letters,
 * digits, dots, colons and hyphens (an IPv6 literal may come in brackets),
 * port not 0, and a rule that allows it (else 0x48).
 */
export function connectRequest(payload: Uint8Array, rules: readonly AllowRule[]): ConnectRequest {
  const kind = payload[0]!;
  const port = payload[1]! | (payload[2]! << 8);
  const rawHost = decoder.decode(payload.subarray(3));
  const host = rawHost.replace(/^\[|\]$/g, "").toLowerCase();
  const target = formatHostPort(host, port);
  if (kind === UDP) return { refuse: WispReason.invalid, target, why: "UDP streams are not supported (TCP only)" };
  if (kind !== TCP) return { refuse: WispReason.invalid, target, why: `unknown stream type 0x${kind.toString(16)}` };
  if (!/^[a-z0-9.:-]+$/.test(host) || port === 0) return { refuse: WispReason.invalid, target, why: `malformed destination ${JSON.stringify(rawHost)}:${port}` };
  const destination: Destination = { host, port };
  const checkAddress = !isAllowed(rules, destination);
  if (checkAddress && !needsAddressCheck(rules, destination)) return { refuse: WispReason.blocked, target, why: `destination not allowed: ${target}` };
  return { destination, target, checkAddress };
}

/**
 * Per-stream credit accounting, the same on both endpoints. The client's
 * credit is renewed (to the credit less what still waits for TCP) once that
 * gives it at least half the credit more than it has left: one CONTINUE per
 * half-credit of packets, however the client paces them. (A CONTINUE
 * replaces the client's count, packets in flight included: a client can
 * overshoot by those, which the byte budget allows for.)
 */
export class WispCredit {
  /** DATA packets received and not yet written out to TCP. */
  outstanding = 0;
  /** The credit the client has left, as far as the server knows: the last CONTINUE's, less the DATA received since. */
  granted: number;

  constructor(readonly credit: number) {
    this.granted = credit;
  }

  /** A DATA packet came. */
  received(): void {
    this.outstanding++;
    this.granted--;
  }

  /** A DATA packet reached TCP: the credit to send in a CONTINUE now, or null for none yet. */
  written(): number | null {
    this.outstanding--;
    const available = this.credit - this.outstanding;
    if ((available - this.granted) * 2 < this.credit) return null;
    this.granted = available;
    return available;
  }
}

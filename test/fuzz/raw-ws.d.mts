// Types for raw-ws.mjs (what the tunnel's tests use).
export function upgradeRequest(path: string | Buffer, headers?: Record<string, string | Buffer>): Buffer;

export interface FrameSpec {
  fin?: boolean;
  /** 0-7, the three reserved bits. */
  rsv?: number;
  opcode: number;
  payload?: Buffer;
  /** Default true: clients must mask. */
  masked?: boolean;
  /** A length to declare instead of the payload's (a lie). */
  declaredLength?: number | bigint;
}
export function frame(spec: FrameSpec): Buffer;
export function closePayload(code: number, reason?: Buffer): Buffer;

export interface RawResult {
  /** Everything the server sent. */
  bytes: Buffer;
  /** The HTTP status of the response, if one came. */
  status: number | null;
  /** The server's close frame, if one came after a 101. */
  close: { code: number; reason: Buffer } | null;
  /** Whether the server closed the connection (rather than our timeout). */
  closedByServer: boolean;
}
export function rawExchange(port: number, chunks: Buffer[], timeoutMs?: number, localAddress?: string): Promise<RawResult>;
export function parseStatus(bytes: Buffer): number | null;
export function parseCloseFrame(bytes: Buffer): { code: number; reason: Buffer } | null;

// Types for tunnel-inputs.mjs (what the tunnel's tests use).

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
export class Random {
  constructor(seed: number);
  /** A float in [0, 1). */
  next(): number;
  int(below: number): number;
  pick<T>(items: readonly T[]): T;
  bytes(n: number): Buffer;
  /** Bytes 0x80-0xff: never ASCII. */
  highBytes(n: number): Buffer;
  /** Printable ASCII, for header-ish noise. */
  ascii(n: number): string;
  below(n: number): number;
  chance(p: number): boolean;
  u32(): number;
}

/** One input: a name saying what it tries, and the bytes to send in order. */
export interface FuzzInput {
  kind: "http" | "frames" | "wisp" | "random" | "mutated";
  name: string;
  chunks: Buffer[];
}

/** Where the valid parts of inputs point: an allowed destination and an allowed Origin. */
export interface FuzzTarget {
  path: string;
  origin: string;
}

/**
 * Malformed HTTP (35%), malformed frames after a valid upgrade (35%),
 * malformed Wisp packets on the Wisp endpoint (20%), random bytes (10%).
 */
export function fuzzInput(r: Random, target: FuzzTarget): FuzzInput;
/**
 * A valid upgrade and frames (a quarter of them a Wisp session, or all with
 * `wispOnly`), with header lines rewritten or bytes mutated (mutate.mjs).
 */
export function mutatedInput(r: Random, target: FuzzTarget, options?: { wispOnly?: boolean }): FuzzInput;
/** A Wisp input alone: malformed packets (70%) or a valid session mutated (30%). */
export function wispInput(r: Random, target: FuzzTarget): FuzzInput;
/** Hosts that look like 127.0.0.1 (and 127.0.0.1 itself), for paths an allowlist must refuse. */
export const NEAR_LOOPBACK: readonly string[];

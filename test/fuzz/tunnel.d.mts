// Types for tunnel.mjs (what test/unit/fuzz.test.ts uses).
import type { AllowRule, Destination } from "../../bindings/src/tunnel/destination.js";

/** The tunnel's parsing functions under test. */
export interface Parsers {
  parseDestination(path: string): Destination | null;
  parseAllowRule(rule: string): AllowRule;
  isAllowed(rules: readonly AllowRule[], destination: Destination): boolean;
  formatHostPort(host: string, port: number): string;
  closeReason(text: string): string;
}
export function loadParsers(): Promise<Parsers>;

export interface Failure {
  message: string;
  detail: Record<string, unknown>;
}

export type ParserInput =
  | { kind: "destination"; text: string; rules?: string[] }
  | { kind: "rule"; text: unknown }
  | { kind: "origin"; text: string | undefined; origins?: string[] }
  | { kind: "reason"; text: string };
export function parserInput(seed: number, index: number): ParserInput & { seed: number; index: number };
/** Problems (none: the input passed) and what happened ("accepted", "refused", "malformed", "TypeError", "cut"...). */
export function checkParserInput(p: Parsers, input: ParserInput): { problems: string[]; outcome: string };
export function oracleDestination(path: string): Destination | null;
export function oracleRule(rule: unknown): { rule: AllowRule } | { error: "TypeError" | "RangeError" };
export function fuzzParsers(options: {
  seed: number; count: number; deadline?: number; parsers: Parsers; maxFailures?: number; onProgress?: (done: number) => void;
}): { done: number; seconds: number; outcomes: Record<string, number>; failures: Failure[] };

/** The tunnel under test, in its own process (tunnel-host.mjs). */
export class TunnelHost {
  static start(options?: { module?: string; maxSeconds?: number }): Promise<TunnelHost>;
  readonly port: number;
  readonly echoPort: number;
  /** The one allowed destination, 127.0.0.1:<echoPort>. */
  readonly allowed: string;
  readonly origin: string;
  readonly alive: boolean;
  stop(): Promise<void>;
}

/** What came back on one connection: the raw bytes, the HTTP status, the close frame. */
export interface Reply {
  bytes: Buffer;
  status: number | null;
  close: { code: number; reason: Buffer } | null;
  clientEnded: boolean;
  timedOut: boolean;
  ms: number;
}
/**
 * One connection to 127.0.0.1:`port`: writes `chunks`, ends as `ending`
 * says ("quiet", "fin", "rst", "linger"), resolves once it is closed.
 */
export function exchange(port: number, chunks: readonly Buffer[], ending: "quiet" | "fin" | "rst" | "linger"): Promise<Reply>;
/** Problems with one reply: a status the tunnel never answers, an invalid close frame, a connection kept after the client's FIN. */
export function replyProblems(reply: Reply): string[];

export interface ReplySummary {
  status: number | null;
  close: { code: number; reason: string } | null;
  clientEnded: boolean;
  ms: number;
}

export interface LiveResult {
  done: number;
  seconds: number;
  failures: Failure[];
  tally: { kinds: Record<string, number>; endings: Record<string, number>; statuses: Record<string, number>; closeCodes: Record<string, number> };
  heap: { baseline: number; last: number };
  fds: { baseline: number; last: number };
  events: Record<string, number>;
}
export function runLive(options: {
  seed: number; count: number; deadline?: number; parallel?: number; batchSize?: number; module?: string; onProgress?: (done: number) => void;
}): Promise<LiveResult>;

/** A regression file of target "tunnel": a parser input, or a live one (chunks in base64, made against `allowed`). */
export type TunnelRegression = { target: "tunnel"; note?: string; expect?: unknown } & (
  | ParserInput
  | { kind: "live"; chunks: string[]; ending?: "quiet" | "fin" | "rst" | "linger"; allowed?: string }
);
export function replayTunnel(regression: TunnelRegression, context: { parsers?: Parsers; host?: TunnelHost }): Promise<{
  problems: string[]; outcome: string | ReplySummary;
}>;

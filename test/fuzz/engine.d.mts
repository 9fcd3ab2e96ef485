// Types for engine.mjs (what test/unit/fuzz.test.ts uses).
import type { OpenSSL } from "../../bindings/src/index.js";
import type { Pki } from "../../web-demo/pki.d.mts";

export const HOST: string;
export const reasonsSeen: Set<string>;
export class FuzzFailure extends Error {
  detail: Record<string, unknown>;
}
export interface FuzzPki extends Pki { ed25519: { certPem: string; keyPem: string } }
export function makePki(): FuzzPki;
export type Target = "client" | "server";
export class EngineFuzzer {
  constructor(ossl: OpenSSL, pki: FuzzPki);
  readonly ossl: OpenSSL;
  readonly scenarios: { name: string; flights: { to: Target; index: number; bytes: Uint8Array }[] }[];
  runOne(target: Target, rng: unknown, liveShare?: number): "fresh" | "live";
  replay(target: Target, scenario: string, input: Uint8Array): void;
  dispose(): void;
}
export type RunResult =
  | { type: "done"; done: number; modes: { fresh: number; live: number }; heapDelta: number; memoryGrowth: number; reasons: string[] }
  | { type: "failure"; message: string; detail: Record<string, unknown> };
export function runInputs(fuzzer: EngineFuzzer, options: {
  target: Target; seed: number; worker?: number; count: number; deadline?: number; liveShare?: number; onProgress?: (done: number) => void;
}): RunResult;

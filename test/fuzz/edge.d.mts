// Types for edge.mjs (what test/runtimes/edge-tunnel.test.ts uses).
import type { Reply } from "./tunnel.mjs";
import type { FuzzInput, FuzzTarget } from "./tunnel-inputs.mjs";
import type { Failure } from "./tunnel.mjs";

/** Whether a reply problem is the platform's own doing (HTTP/1.0 replies, connections kept after FIN, echoed close reasons, workerd's 501 and CONNECT 500). */
export function platformsOwn(problem: string, context?: { request?: Buffer }): boolean;
/** Input `index` of a run, with how the client ends. */
export function edgeInput(seed: number, index: number, target: FuzzTarget): FuzzInput & { seed: number; index: number; ending: "quiet" | "fin" | "rst" };
/** A reply's problems, the platforms' own left out, and any 5xx of the tunnel's. */
export function edgeReplyProblems(reply: Reply, request: Buffer): string[];
export function runEdge(options: { platform: "workerd" | "deno"; seed: number; count: number; deadline?: number; onProgress?: (n: number) => void }):
  Promise<{ done: number; seconds: number; failures: Failure[]; statuses: Record<string, number> }>;

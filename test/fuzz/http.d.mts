export function mutate(seed: number): { input: Uint8Array; cuts: number[]; eof: boolean; head: boolean };
export function runHttpInputs(
  deps: { ResponseParser: unknown; HttpParseError: unknown; rt: unknown },
  o: { seed: number; count: number; deadline?: number },
): { done: number; outcomes: Record<string, number>; failures: { message: string; detail: Record<string, unknown> }[]; heapDelta: number };
export function fuzzHttp(o: { seed: number; inputs: number; seconds: number }): Promise<unknown>;

// Memory held per operation by a long-lived object: run `early` operations,
// measure the heap after a real garbage collection, run `late` more, measure
// again. A leak of even a few hundred bytes an operation shows as megabytes;
// without one the difference is noise well under 1 MB.
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { expect } from "vitest";

let collect: (() => void) | undefined;

/** A real gc() without starting Node with --expose-gc: the flag, then a fresh context that sees it. */
function gc(): () => void {
  if (!collect) {
    setFlagsFromString("--expose-gc");
    collect = runInNewContext("gc") as () => void;
  }
  return collect;
}

/** The JS heap in use after a full collection (twice, around a turn of the event loop, so finalizers and pending I/O settle). */
export async function heapAfterGc(): Promise<number> {
  const run = gc();
  run();
  await new Promise((r) => setTimeout(r, 10));
  run();
  return process.memoryUsage().heapUsed;
}

/**
 * Bytes of JS heap held after `run(late)` more than after `run(early)`
 * (both measured after gc). `run(n)` performs n operations on the same
 * long-lived object each time. HEAP_GROWTH_LOG=1 prints the figures. `wasm`, if given, is read at the same two
 * points (e.g. `() => ossl.heapInUse()`), and its growth returned too.
 */
export async function heapGrowth(run: (n: number) => Promise<void>, early: number, late: number,
  wasm?: () => number): Promise<{ js: number; wasm: number; perOperation: number }> {
  await run(early);
  const before = await heapAfterGc();
  const wasmBefore = wasm?.() ?? 0;
  await run(late);
  const after = await heapAfterGc();
  const wasmAfter = wasm?.() ?? 0;
  if (process.env.HEAP_GROWTH_LOG) {
    console.log(`heap growth: ${((after - before) / 1048576).toFixed(2)} MB JS, ${wasmAfter - wasmBefore} B wasm over ${late} operations ` +
      `after ${early} (${expect.getState().currentTestName})`);
  }
  return { js: after - before, wasm: wasmAfter - wasmBefore, perOperation: (after - before) / late };
}

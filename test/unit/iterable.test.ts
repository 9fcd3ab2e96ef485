// `for await` over the package's ReadableStreams in engines without
// ReadableStream async iteration (WebKit/Safari), simulated here by hiding
// Node's own on one stream instance: the fallback is defined on the instance
// and follows the Streams standard (early exit cancels unless preventCancel,
// errors reject and release the lock). The real WebKit run is in test/browser.
import { describe, expect, it } from "vitest";
import { iterable, streamIterator } from "../../bindings/src/transports/iterable.js";

/** A stream of `chunks` that records its cancel reason; its own async iteration hidden (as in WebKit). */
function webkitLike(chunks: string[], error?: Error) {
  const log: { cancelled?: unknown } = {};
  const stream = new ReadableStream<string>({
    start(c) {
      for (const x of chunks) c.enqueue(x);
      if (error) c.error(error);
      else c.close();
    },
    cancel(reason) {
      log.cancelled = reason ?? "(no reason)";
    },
  });
  Object.defineProperty(stream, Symbol.asyncIterator, { value: undefined, configurable: true, writable: true });
  return { stream, log };
}

describe("async iteration where the engine has none", () => {
  it("leaves a stream that is already async-iterable alone (nothing on the instance)", () => {
    const s = new ReadableStream();
    expect(iterable(s)).toBe(s);
    expect(Object.getOwnPropertySymbols(s)).not.toContain(Symbol.asyncIterator);
    expect(Object.getOwnPropertyNames(s)).not.toContain("values");
  });

  it("adds values() and [Symbol.asyncIterator] to the instance; for await reads every chunk, then releases the lock", async () => {
    const { stream } = webkitLike(["a", "b", "c"]);
    const s = iterable(stream);
    expect(Object.getOwnPropertyNames(s)).toContain("values");
    const got: string[] = [];
    for await (const x of s) got.push(x);
    expect(got).toEqual(["a", "b", "c"]);
    expect(s.locked).toBe(false);
    expect(Object.getOwnPropertySymbols(ReadableStream.prototype)).toContain(Symbol.asyncIterator); // the global is untouched
  });

  it("leaving the loop early cancels the stream; with preventCancel it does not, and reading can go on", async () => {
    const { stream, log } = webkitLike(["a", "b", "c"]);
    for await (const _ of iterable(stream)) break;
    expect(log.cancelled).toBe("(no reason)");

    const kept = webkitLike(["a", "b", "c"]);
    for await (const _ of streamIterator(kept.stream, { preventCancel: true })) break;
    expect(kept.log.cancelled).toBeUndefined();
    expect(kept.stream.locked).toBe(false);
    expect((await kept.stream.getReader().read()).value).toBe("b");
  });

  it("the stream's error rejects the loop, and the lock is released", async () => {
    const { stream } = webkitLike(["a"], new TypeError("broken"));
    const got: string[] = [];
    await expect((async () => {
      for await (const x of iterable(stream)) got.push(x);
    })()).rejects.toThrow("broken");
    expect(stream.locked).toBe(false);
  });
});

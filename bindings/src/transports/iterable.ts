/**
 * Async iteration for the ReadableStreams this package returns, in every
 * engine: WebKit (Safari) has no `ReadableStream.prototype[Symbol.asyncIterator]`,
 * so `for await (const chunk of tls.readable)` threw there. Where the engine
 * lacks it, the methods are defined on the stream instance, never on the
 * global prototype; where it has them, nothing changes.
 * @see https://streams.spec.whatwg.org/#rs-asynciterator
 */

/** A ReadableStream that `for await` can read, whatever the engine. */
export type IterableReadableStream<R> = ReadableStream<R> & AsyncIterable<R>;

/**
 * The stream's async iterator, as the Streams standard defines it: it locks
 * the stream; leaving the loop early (break, return, throw) cancels the
 * stream unless `preventCancel`; the stream's error rejects `next()`.
 */
export function streamIterator<R>(stream: ReadableStream<R>, options: { preventCancel?: boolean } = {}): AsyncIterableIterator<R> {
  const reader = stream.getReader();
  let finished = false;
  const finish = () => {
    finished = true;
    reader.releaseLock();
  };
  return {
    async next(): Promise<IteratorResult<R>> {
      if (finished) return { done: true, value: undefined };
      try {
        const r = await reader.read();
        if (r.done) finish();
        return r.done ? { done: true, value: undefined } : { done: false, value: r.value };
      } catch (e) {
        finish();
        throw e;
      }
    },
    async return(value?: unknown): Promise<IteratorResult<R>> {
      if (!finished) {
        const cancelled = options.preventCancel ? undefined : reader.cancel(value);
        finish();
        await cancelled;
      }
      return { done: true, value: undefined };
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

/** `stream`, made async-iterable if the engine's ReadableStream is not. */
export function iterable<R>(stream: ReadableStream<R>): IterableReadableStream<R> {
  if (typeof (stream as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] !== "function") {
    const values = function (this: ReadableStream<R>, options?: { preventCancel?: boolean }) {
      return streamIterator(this, options);
    };
    Object.defineProperty(stream, "values", { value: values, configurable: true, writable: true });
    Object.defineProperty(stream, Symbol.asyncIterator, { value: values, configurable: true, writable: true });
  }
  return stream as IterableReadableStream<R>;
}

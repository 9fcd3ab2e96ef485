// Reading a socket's readable in tests: exactly n bytes, or everything, or
// its text and the error that ended it; and waiting for a condition.

/** Up to `n` bytes (fewer only if the readable ends first); the reader stays locked. */
export async function readBytes(reader: ReadableStreamDefaultReader<Uint8Array>, n: number): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  let got = 0;
  while (got < n) {
    const { value, done } = await reader.read();
    if (done) break;
    parts.push(value);
    got += value.length;
  }
  return Buffer.concat(parts);
}

/** Everything up to the end of the readable (rejects with its error). */
export async function readAll(readable: ReadableStream<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const chunk of readable) parts.push(chunk);
  return Buffer.concat(parts);
}

/** What reading a transport's readable to its end gives: its text, and the error that ended it (if one did). */
export async function drain(transport: { readable: ReadableStream<Uint8Array> }): Promise<{ data: string; error: unknown }> {
  let data = "";
  const decoder = new TextDecoder();
  try {
    for await (const chunk of transport.readable) data += decoder.decode(chunk, { stream: true });
    return { data, error: null };
  } catch (error) {
    return { data, error };
  }
}

/** Polls `condition` every 10 ms for up to `ms`; whether it became true. */
export async function waitFor(condition: () => boolean, ms = 5000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 10))) {
    if (condition()) return true;
  }
  return condition();
}

// Reading a socket's readable in tests: exactly n bytes, or everything.

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

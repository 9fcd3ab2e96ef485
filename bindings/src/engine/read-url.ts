/**
 * The bytes at a URL: a `file:` URL read from disk (Node, Deno and Bun all
 * have node:fs; browsers never get file: URLs here), anything else fetched.
 * node:fs is imported by a specifier TypeScript does not resolve, so the
 * universal code needs no Node types.
 */
interface NodeFs {
  readFile(path: URL): Promise<Uint8Array>;
}

/** Reads or fetches `url`; `fail` makes the error for a failed HTTP response. */
export async function readUrl(url: URL, fail: (message: string) => Error): Promise<Uint8Array> {
  if (url.protocol === "file:") {
    const fs = (await import("node:fs/promises" as string)) as NodeFs;
    const data = await fs.readFile(url);
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
  const response = await fetch(url);
  if (!response.ok) throw fail(`fetching ${url} failed: HTTP ${response.status} ${response.statusText}`);
  return new Uint8Array(await response.arrayBuffer());
}

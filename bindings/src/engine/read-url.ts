/**
 * The bytes at a URL. A `file:` URL (Node, Deno, Bun: the wasm and the root
 * store next to the package's files) is read with Node's fs where the runtime
 * has it (process.getBuiltinModule: Node >= 20.16, Bun, Deno), else fetched
 * (Deno and Bun fetch file: URLs too); anything else is fetched. No import
 * statement names node:fs, so bundlers see nothing Node-only here and the
 * universal code needs no Node types.
 */
interface NodeFs {
  readFile(path: URL): Promise<Uint8Array>;
}

function nodeFs(): NodeFs | undefined {
  const getBuiltin = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule;
  return getBuiltin?.("node:fs/promises") as NodeFs | undefined;
}

/** Reads or fetches `url`; `fail` makes the error for a failed HTTP response. */
export async function readUrl(url: URL, fail: (message: string) => Error): Promise<Uint8Array> {
  const fs = url.protocol === "file:" ? nodeFs() : undefined;
  if (fs) {
    const data = await fs.readFile(url);
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
  const response = await fetch(url);
  if (!response.ok) throw fail(`fetching ${url} failed: HTTP ${response.status} ${response.statusText}`);
  return new Uint8Array(await response.arrayBuffer());
}

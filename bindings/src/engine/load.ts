/**
 * Instantiates the OpenSSL wasm module in any runtime.
 *
 * Emscripten's generated loader would fetch `openssl.wasm` itself, which
 * breaks on Node >= 18 (it calls `fetch()` on a file path) and is refused in
 * workerd. We always hand it a compiled `WebAssembly.Module` through
 * `instantiateWasm`: from bytes, from a URL (fetch, or the file system for
 * `file:` URLs), or as given (workerd imports `.wasm` files as modules).
 */
import createOpenSSLModule, { type EmscriptenModule } from "../../../wasm/dist/openssl.mjs";
import { bindFFI, type FFI } from "../generated/ffi.js";
import { readUrl } from "./read-url.js";

export type { EmscriptenModule };

/** Where the wasm comes from: a URL, its bytes, or an already compiled module. */
export type WasmSource =
  | string
  | URL
  | ArrayBuffer
  | ArrayBufferView
  | WebAssembly.Module
  | Response;

/** The instantiated module and the typed FFI bound to it. */
export interface LoadedModule {
  module: EmscriptenModule;
  ffi: FFI;
}

/** The wasm next to the ES module loader; bundlers rewrite this URL. */
export const defaultWasmURL = (): URL => new URL("../../../wasm/dist/openssl.wasm", import.meta.url);

/** Error raised when the wasm cannot be obtained or instantiated. */
export class WasmLoadError extends Error {
  /** Always "WasmLoadError". */
  override name = "WasmLoadError";
}

async function compile(source: WasmSource): Promise<WebAssembly.Module> {
  if (source instanceof WebAssembly.Module) return source;
  if (source instanceof ArrayBuffer || ArrayBuffer.isView(source)) return WebAssembly.compile(source as BufferSource);
  if (typeof source !== "string" && !(source instanceof URL)) {
    if (!source.ok) throw new WasmLoadError(`fetching openssl.wasm failed: HTTP ${source.status} ${source.statusText}`);
    return WebAssembly.compile(await source.arrayBuffer());
  }
  const url = source instanceof URL ? source : new URL(source, defaultWasmURL());
  return WebAssembly.compile(await readUrl(url, (message) => new WasmLoadError(message)) as BufferSource);
}

/** Instantiates a fresh copy of the module (each call gets its own heap). */
export async function instantiate(source: WasmSource = defaultWasmURL()): Promise<LoadedModule> {
  let wasm: WebAssembly.Module;
  try {
    wasm = await compile(source);
  } catch (e) {
    if (e instanceof WasmLoadError) throw e;
    throw new WasmLoadError(`cannot load openssl.wasm: ${(e as Error)?.message ?? e}`, { cause: e });
  }
  let fail!: (e: unknown) => void;
  const failed = new Promise<never>((_, reject) => (fail = reject));
  const module = await Promise.race([
    createOpenSSLModule({
      instantiateWasm(imports, receiveInstance) {
        WebAssembly.instantiate(wasm, imports).then(
          (instance) => receiveInstance(instance, wasm),
          (e) => fail(new WasmLoadError(`cannot instantiate openssl.wasm: ${e?.message ?? e}`, { cause: e })),
        );
        return {}; // exports arrive through receiveInstance
      },
      // Without locateFile, the generated loader computes new URL("openssl.wasm",
      // import.meta.url) at start-up, which throws where import.meta.url is
      // not a URL (workerd). The wasm is ours to supply anyway.
      locateFile: (path: string) => path,
      onAbort: (what) => fail(new WasmLoadError(`openssl.wasm aborted: ${String(what)}`)),
      print: () => {},
      printErr: () => {},
    }),
    failed,
  ]);
  return { module, ffi: bindFFI(module as never) };
}

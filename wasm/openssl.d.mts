// Types for the Emscripten factory wasm/dist/openssl.mjs (copied next to it
// by the build). Only what openssl-wasm's loader uses.
export interface EmscriptenModule {
  HEAPU8: Uint8Array;
  /** Set by the bindings: targets of the callback trampolines (wasm/library.js). */
  callbacks?: Record<string, (...args: number[]) => number | void>;
  [exported: `_${string}`]: (...args: never[]) => unknown;
}
export interface ModuleOverrides {
  instantiateWasm?(
    imports: WebAssembly.Imports,
    receiveInstance: (instance: WebAssembly.Instance, module: WebAssembly.Module) => void,
  ): object | false;
  locateFile?(path: string, scriptDirectory: string): string;
  print?(text: string): void;
  printErr?(text: string): void;
  onAbort?(what: unknown): void;
}
declare function createOpenSSLModule(overrides?: ModuleOverrides): Promise<EmscriptenModule>;
export default createOpenSSLModule;

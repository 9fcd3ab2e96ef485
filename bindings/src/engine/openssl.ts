/**
 * The loaded OpenSSL module: one wasm instance with its own heap, the typed
 * FFI bound to it, and the few heap helpers every engine object shares.
 */
import * as C from "../generated/constants.js";
import type { AnyPtr, FFI, Ptr } from "../generated/ffi.js";
import { Context, type ContextOptions } from "./context.js";
import { readCertificates, type PemOrDer } from "./pki.js";
import { OpenSSLError, type ErrorQueueEntry } from "./errors.js";
import { instantiate, type EmscriptenModule, type WasmSource } from "./load.js";
import type { Connection } from "./connection.js";
import { defaultRoots, loadDefaultRoots, type RootStoreInfo } from "./roots.js";

export interface LoadOptions {
  /** The wasm: a URL, its bytes, or a compiled `WebAssembly.Module` (workerd). Default: next to the loader. */
  wasm?: WasmSource;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();
/** I/O scratch starts here and grows on demand up to MAX_IO. */
const MIN_IO = 16 * 1024 + 512;
/** The largest single read/write/feed chunk handed to OpenSSL. */
export const MAX_IO = 256 * 1024;

let memoized: Promise<OpenSSL> | undefined;

/**
 * Entry point: `await OpenSSL.load()` once, then create contexts.
 * @see https://docs.openssl.org/3.5/man7/ssl/
 */
export class OpenSSL {
  /**
   * Loads and instantiates the module once (memoized); later calls return the
   * same instance whatever their options. A failed load is not memoized.
   */
  static load(options: LoadOptions = {}): Promise<OpenSSL> {
    memoized ??= OpenSSL.instantiate(options).catch((e: unknown) => {
      memoized = undefined;
      throw e;
    });
    return memoized;
  }

  /**
   * Loads the default root store (Mozilla's roots, see roots.ts) once per
   * process; contexts then use it for `ca: "default"` and by default.
   */
  static loadDefaultRoots(source?: Parameters<typeof loadDefaultRoots>[0]): Promise<RootStoreInfo> {
    return loadDefaultRoots(source).then((r) => r.info);
  }

  /** Where the default root store came from (undefined until it is loaded). */
  static rootStoreInfo(): RootStoreInfo | undefined {
    return defaultRoots()?.info;
  }

  /** A fresh, independent instance (its own heap), not memoized. */
  static async instantiate(options: LoadOptions = {}): Promise<OpenSSL> {
    const { module, ffi } = await instantiate(options.wasm);
    return new OpenSSL(module, ffi);
  }

  /** @internal The typed C functions (the engine classes are the API). */
  readonly ffi: FFI;
  /** @internal */ readonly module: EmscriptenModule;
  /** @internal Live connections by SSL pointer, for the callback trampolines. */
  readonly connections = new Map<number, Connection>();

  #io = 0;
  #ioSize = 0;
  /** Slots for out-parameters: size_t results and ERR_get_error_all's five pointers. */
  readonly #slots: number;

  private constructor(module: EmscriptenModule, ffi: FFI) {
    this.module = module;
    this.ffi = ffi;
    // Load the error strings now, so the first failure does not allocate them
    // (and heap measurements start from a settled state).
    ffi.OPENSSL_init_ssl(BigInt(C.OPENSSL_INIT_LOAD_SSL_STRINGS | C.OPENSSL_INIT_LOAD_CRYPTO_STRINGS), 0 as never);
    this.#slots = this.malloc(64);
    this.ensureIO(MIN_IO);
    module.callbacks = {
      msg: (ssl, writeP, version, contentType, buf, len) =>
        this.connections.get(ssl)?._onMessage(writeP, version, contentType, buf, len),
      verify: (ssl, preverifyOk, store) => {
        const conn = this.connections.get(ssl);
        return conn ? conn._onVerify(preverifyOk, store as Ptr<"X509_STORE_CTX">) : preverifyOk;
      },
      alpnSelect: (ssl, inp, inlen) => {
        const conn = this.connections.get(ssl);
        return conn ? conn.context._selectAlpn(inp, inlen) : -1;
      },
      newSession: (ssl, session) => {
        const conn = this.connections.get(ssl);
        try {
          return conn ? conn._onNewSession(session as Ptr<"SSL_SESSION">) : 0;
        } catch {
          return 0; // OpenSSL keeps ownership and frees it
        }
      },
      status: (ssl) => {
        const conn = this.connections.get(ssl);
        try {
          return conn ? conn.context._onStatus(conn) : C.SSL_TLSEXT_ERR_NOACK;
        } catch {
          return 0; // refuse rather than unwind into wasm
        }
      },
      servername: (ssl) => {
        const conn = this.connections.get(ssl);
        try {
          return conn ? conn.context._selectSni(ssl as Ptr<"SSL">) : C.SSL_TLSEXT_ERR_OK;
        } catch {
          return C.SSL_TLSEXT_ERR_ALERT_FATAL; // never let an exception unwind into wasm
        }
      },
    };
  }

  /** OpenSSL's version text, e.g. "OpenSSL 3.5.7 30 Sep 2025". */
  get version(): string {
    return this.string(this.ffi.OpenSSL_version(C.OPENSSL_VERSION));
  }

  /** Creates an SSL_CTX. */
  createContext(options: ContextOptions): Context {
    return new Context(this, options);
  }

  /**
   * Verifies a certificate (its chain: the PEM's further blocks) against
   * trusted roots, as a TLS peer would be (X509_verify_cert). Returns
   * OpenSSL's verdict: X509_V_OK (0) or an X509_V_ERR_* code and its text.
   */
  verifyCertificate(cert: PemOrDer, options: { ca?: ContextOptions["ca"] } = {}): { ok: boolean; result: number; resultString: string } {
    // (try/finally, not `using`: Symbol.dispose is missing in some engines, and TypeScript's helper then throws)
    const ctx = this.createContext({ role: "client", ...(options.ca !== undefined ? { ca: options.ca } : {}) });
    try {
      return this.#verifyWith(ctx, cert);
    } finally {
      ctx.dispose();
    }
  }

  #verifyWith(ctx: Context, cert: PemOrDer): { ok: boolean; result: number; resultString: string } {
    const { ffi } = this;
    const [leaf, ...chain] = readCertificates(this, cert, "certificate");
    const storeCtx = ffi.X509_STORE_CTX_new();
    // The untrusted intermediates, as a STACK_OF(X509) that borrows the certificates.
    const untrusted = chain.length ? ffi.OPENSSL_sk_new_null() : 0;
    try {
      for (const x of chain) ffi.OPENSSL_sk_push(untrusted as never, x as never);
      if (!storeCtx || !ffi.X509_STORE_CTX_init(storeCtx, ffi.SSL_CTX_get_cert_store(ctx.ptr), leaf!, untrusted as never)) {
        throw this.error("X509_STORE_CTX_init failed");
      }
      const ok = ffi.X509_verify_cert(storeCtx) === 1;
      const result = ffi.X509_STORE_CTX_get_error(storeCtx);
      ffi.ERR_clear_error();
      return { ok, result, resultString: this.string(ffi.X509_verify_cert_error_string(result)) };
    } finally {
      if (storeCtx) ffi.X509_STORE_CTX_free(storeCtx);
      if (untrusted) ffi.OPENSSL_sk_free(untrusted);
      for (const x of [leaf!, ...chain]) ffi.X509_free(x);
    }
  }

  /** Bytes of the wasm heap in use (malloc'ed and not freed). */
  heapInUse(): number {
    return this.ffi.heap_in_use();
  }

  /**
   * Bytes of wasm memory this instance has: it grows with the heap's peak and
   * never shrinks (a fresh instance starts at 4 MiB).
   */
  memoryBytes(): number {
    return this.module.HEAPU8.length;
  }

  /** RAND_bytes: `n` bytes from OpenSSL's DRBG (seeded by crypto.getRandomValues). */
  randomBytes(n: number): Uint8Array {
    if (!Number.isSafeInteger(n) || n < 0 || n > MAX_IO) throw new RangeError(`randomBytes: n must be an integer in 0..${MAX_IO}`);
    const io = this.ensureIO(n);
    this.ffi.ERR_clear_error();
    if (this.ffi.RAND_bytes(io as Ptr<"unsigned char">, n) !== 1) throw this.error("RAND_bytes failed");
    const out = this.heap.slice(io, io + n);
    this.heap.fill(0, io, io + n);
    return out;
  }

  // ---- heap helpers (internal)

  /** @internal The current heap view (re-read after anything that may grow memory). */
  get heap(): Uint8Array {
    return this.module.HEAPU8;
  }

  /** @internal */
  malloc(n: number): number {
    const p = (this.module._malloc as unknown as (n: number) => number)(n);
    if (!p) throw new RangeError(`the wasm heap cannot grow by ${n} bytes`);
    return p;
  }

  /** @internal */
  free(p: number): void {
    (this.module._free as unknown as (p: number) => void)(p);
  }

  /** @internal Wipes then frees a buffer that held secrets or plaintext. */
  cleanseFree(p: number, n: number): void {
    if (!p) return;
    this.ffi.OPENSSL_cleanse(p as AnyPtr, n);
    this.free(p);
  }

  /**
   * @internal The shared I/O scratch buffer, at least `n` bytes (callers stay
   * within MAX_IO). Reused by every read, write, feed and drain, so no call
   * on the data path allocates heap memory; it holds plaintext between
   * calls and is wiped (OPENSSL_cleanse) before it is replaced or freed.
   */
  ensureIO(n: number): number {
    if (n > this.#ioSize) {
      const size = Math.min(MAX_IO, Math.max(n, this.#ioSize * 2, MIN_IO));
      const p = this.malloc(size);
      this.cleanseFree(this.#io, this.#ioSize);
      this.#io = p;
      this.#ioSize = size;
    }
    return this.#io;
  }

  /** @internal A size_t / pointer out-parameter slot (index 0..7). */
  slot(i = 0): number {
    return this.#slots + 4 * i;
  }

  /** @internal Reads a 32-bit little-endian value from the heap. */
  u32(p: number): number {
    const h = this.heap;
    return (h[p] | (h[p + 1] << 8) | (h[p + 2] << 16) | (h[p + 3] << 24)) >>> 0;
  }

  /** @internal Writes a 32-bit value. */
  setU32(p: number, v: number): void {
    const h = this.heap;
    h[p] = v; h[p + 1] = v >>> 8; h[p + 2] = v >>> 16; h[p + 3] = v >>> 24;
  }

  /** @internal A NUL-terminated C string at `p` ("" for NULL). */
  string(p: number): string {
    if (!p) return "";
    const h = this.heap;
    let end = p;
    while (h[end] !== 0) end++;
    return decoder.decode(h.subarray(p, end));
  }

  /** @internal Runs `fn` with `s` as a temporary C string. */
  withCString<T>(s: string, fn: (p: Ptr<"char">) => T): T {
    if (typeof s !== "string") throw new TypeError(`expected a string, got ${typeof s}`);
    const bytes = encoder.encode(s);
    if (bytes.includes(0)) throw new TypeError("strings passed to OpenSSL must not contain NUL characters");
    const p = this.malloc(bytes.length + 1);
    this.heap.set(bytes, p);
    this.heap[p + bytes.length] = 0;
    try {
      return fn(p as Ptr<"char">);
    } finally {
      this.cleanseFree(p, bytes.length + 1);
    }
  }

  /** @internal Runs `fn` with a temporary heap copy of `bytes` (wiped afterwards). */
  withBytes<T>(bytes: Uint8Array, fn: (p: Ptr<"unsigned char">, n: number) => T): T {
    const p = this.malloc(Math.max(1, bytes.length));
    this.heap.set(bytes, p);
    try {
      return fn(p as Ptr<"unsigned char">, bytes.length);
    } finally {
      this.cleanseFree(p, Math.max(1, bytes.length));
    }
  }

  /**
   * @internal Runs `fn` with a `const unsigned char **` pointing at a heap
   * copy of `bytes` (wiped afterwards): the input d2i_* functions take.
   */
  withD2iInput<T>(bytes: Uint8Array, fn: (pp: number, n: number) => T): T {
    return this.withBytes(bytes, (p, n) => {
      const pp = this.slot(0);
      this.setU32(pp, p);
      return fn(pp, n);
    });
  }

  /** @internal Drains OpenSSL's error queue. */
  drainErrors(): ErrorQueueEntry[] {
    const { ffi } = this;
    const out: ErrorQueueEntry[] = [];
    const [file, line, func, data, flags] = [0, 1, 2, 3, 4].map((i) => this.slot(2 + i));
    for (let i = 0; i < 64; i++) {
      const code = ffi.ERR_get_error_all(file as never, line as never, func as never, data as never, flags as never);
      if (code === 0) break;
      const hasText = (this.u32(flags) & C.ERR_TXT_STRING) !== 0;
      out.push({
        code,
        library: ffi.ERR_GET_LIB(code),
        libraryName: this.string(ffi.ERR_lib_error_string(code)),
        reason: ffi.ERR_GET_REASON(code),
        reasonString: this.string(ffi.ERR_reason_error_string(code)),
        func: this.string(this.u32(func)),
        data: hasText ? this.string(this.u32(data)) : "",
        system: ffi.ERR_SYSTEM_ERROR(code) !== 0,
      });
    }
    ffi.ERR_clear_error();
    return out;
  }

  /** @internal An OpenSSLError from the drained queue. */
  error(message: string, sslError?: string): OpenSSLError {
    return new OpenSSLError(message, this.drainErrors(), sslError);
  }
}

/**
 * OpenSSL: the package's entry point, a facade over one loaded module (its
 * runtime: heap, FFI, callbacks). Nothing in the engine imports this file;
 * it imports the rest.
 */
import * as C from "../generated/constants.js";
import type { FFI, Ptr } from "../generated/ffi.js";
import { TlsContext, type ContextOptions } from "./context.js";
import { instantiate, type WasmSource } from "./load.js";
import { readCertificates, type PemOrDer } from "./pki.js";
import { defaultRoots, loadDefaultRoots, type RootStoreInfo } from "./roots.js";
import { bindRuntime, MAX_IO, Runtime } from "./runtime.js";

export { MAX_IO };

/** Options of OpenSSL.load() and OpenSSL.instantiate(). */
export interface LoadOptions {
  /** The wasm: a URL, its bytes, or a compiled `WebAssembly.Module` (workerd). Default: next to the loader. */
  wasm?: WasmSource;
}

/** OpenSSL's verdict on a certificate chain (OpenSSL.verifyCertificate()). */
export interface CertificateVerification {
  /** X509_verify_cert returned 1. */
  ok: boolean;
  /** X509_STORE_CTX_get_error: X509_V_OK (0) or an X509_V_ERR_* code. */
  verifyResult: number;
  /** X509_verify_cert_error_string of verifyResult. */
  verifyResultString: string;
}

let memoized: { promise: Promise<OpenSSL>; wasm: WasmSource | undefined } | undefined;

/**
 * Entry point: `await OpenSSL.load()` once, then create contexts.
 * @see https://docs.openssl.org/3.5/man7/ssl/
 */
export class OpenSSL {
  /**
   * Loads and instantiates the module once (memoized); later calls return
   * the same instance. A later call with a different `wasm` is refused
   * (TypeError) rather than ignored: use instantiate() for a second
   * instance. A failed load is not memoized.
   */
  static load(options: LoadOptions = {}): Promise<OpenSSL> {
    if (options === null || typeof options !== "object") return Promise.reject(new TypeError("OpenSSL.load: options must be an object"));
    if (memoized) {
      if (options.wasm !== undefined && options.wasm !== memoized.wasm) {
        return Promise.reject(new TypeError("OpenSSL.load: already loaded from another wasm source; use OpenSSL.instantiate() for a second instance"));
      }
      return memoized.promise;
    }
    const promise = OpenSSL.instantiate(options).catch((e: unknown) => {
      memoized = undefined;
      throw e;
    });
    memoized = { promise, wasm: options.wasm };
    return promise;
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
    return new OpenSSL(new Runtime(module, ffi));
  }

  readonly #rt: Runtime;

  private constructor(rt: Runtime) {
    this.#rt = rt;
    bindRuntime(this, rt);
  }

  /**
   * The typed C functions, bound to this instance's heap. For inspection and
   * for what the classes do not cover; calling them can break the classes'
   * invariants (ownership, the error queue).
   * @experimental
   */
  get ffi(): FFI {
    return this.#rt.ffi;
  }

  /** OpenSSL's version text, e.g. "OpenSSL 3.5.7 30 Sep 2025". @see https://docs.openssl.org/3.5/man3/OpenSSL_version/ */
  get version(): string {
    return this.#rt.string(this.#rt.ffi.OpenSSL_version(C.OPENSSL_VERSION));
  }

  /** Creates a context (SSL_CTX). @see https://docs.openssl.org/3.5/man3/SSL_CTX_new/ */
  createContext(options: ContextOptions): TlsContext {
    return new TlsContext(this, this.#rt, options);
  }

  /**
   * Verifies a certificate (its chain: the PEM's further blocks) against
   * trusted roots, as a TLS peer would be (X509_verify_cert). Returns
   * OpenSSL's verdict: X509_V_OK (0) or an X509_V_ERR_* code and its text.
   * @see https://docs.openssl.org/3.5/man3/X509_verify_cert/
   */
  verifyCertificate(cert: PemOrDer, options: { ca?: ContextOptions["ca"] } = {}): CertificateVerification {
    // (try/finally, not `using`: Symbol.dispose is missing in some engines, and TypeScript's helper then throws)
    const ctx = this.createContext({ role: "client", ...(options.ca !== undefined ? { ca: options.ca } : {}) });
    try {
      return this.#verifyWith(ctx, cert);
    } finally {
      ctx.dispose();
    }
  }

  #verifyWith(ctx: TlsContext, cert: PemOrDer): CertificateVerification {
    const rt = this.#rt;
    const { ffi } = rt;
    const [leaf, ...chain] = readCertificates(rt, cert, "certificate");
    const storeCtx = ffi.X509_STORE_CTX_new();
    // The untrusted intermediates, as a STACK_OF(X509) that borrows the certificates.
    const untrusted = chain.length ? ffi.OPENSSL_sk_new_null() : 0;
    try {
      for (const x of chain) ffi.OPENSSL_sk_push(untrusted as never, x as never);
      if (!storeCtx || !ffi.X509_STORE_CTX_init(storeCtx, ffi.SSL_CTX_get_cert_store(ctx.ptr), leaf!, untrusted as never)) {
        throw rt.error("X509_STORE_CTX_init failed");
      }
      const ok = ffi.X509_verify_cert(storeCtx) === 1;
      const verifyResult = ffi.X509_STORE_CTX_get_error(storeCtx);
      ffi.ERR_clear_error();
      return { ok, verifyResult, verifyResultString: rt.string(ffi.X509_verify_cert_error_string(verifyResult)) };
    } finally {
      if (storeCtx) ffi.X509_STORE_CTX_free(storeCtx);
      if (untrusted) ffi.OPENSSL_sk_free(untrusted);
      for (const x of [leaf!, ...chain]) ffi.X509_free(x);
    }
  }

  /** Bytes of the wasm heap in use (malloc'ed and not freed). */
  heapInUse(): number {
    return this.#rt.ffi.heap_in_use();
  }

  /**
   * Bytes of wasm memory this instance has: it grows with the heap's peak and
   * never shrinks (a fresh instance starts at 4 MiB).
   */
  memoryBytes(): number {
    return this.#rt.heap.length;
  }

  /** RAND_bytes: `n` bytes from OpenSSL's DRBG (seeded by crypto.getRandomValues). @see https://docs.openssl.org/3.5/man3/RAND_bytes/ */
  randomBytes(n: number): Uint8Array {
    if (!Number.isSafeInteger(n) || n < 0 || n > MAX_IO) throw new RangeError(`randomBytes: n must be an integer in 0..${MAX_IO}`);
    const rt = this.#rt;
    const io = rt.ensureIO(n);
    rt.ffi.ERR_clear_error();
    if (rt.ffi.RAND_bytes(io as Ptr<"unsigned char">, n) !== 1) throw rt.error("RAND_bytes failed");
    const out = rt.heap.slice(io, io + n);
    rt.heap.fill(0, io, io + n);
    return out;
  }
}

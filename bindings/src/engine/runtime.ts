/**
 * The runtime under every engine object: one wasm instance with its heap,
 * the typed FFI bound to it, the heap helpers, the error queue, and the
 * callbacks OpenSSL makes into JS, dispatched by SSL pointer to whatever
 * registered for it. Not exported from the package: `OpenSSL` is the public
 * facade, and the engine classes reach the runtime through runtimeOf().
 *
 * Imports nothing of the engine's classes (not even as types), so the
 * engine has no import cycle: runtime <- pki, session <- connection <-
 * context <- openssl (the facade, which nothing in the engine imports).
 */
import * as C from "../generated/constants.js";
import { NULL, type AnyPtr, type FFI, type Ptr } from "../generated/ffi.js";
import { OpenSSLError, type ErrorQueueEntry } from "./errors.js";
import type { EmscriptenModule } from "./load.js";
import type { SslErrorName } from "./types.js";

const decoder = new TextDecoder();
const encoder = new TextEncoder();
/** I/O scratch starts here and grows on demand up to MAX_IO. */
const MIN_IO = 16 * 1024 + 512;
/** The largest single read/write/feed chunk handed to OpenSSL. */
export const MAX_IO = 256 * 1024;

/**
 * What OpenSSL's callbacks reach for one SSL object. Each handler must not
 * throw (an exception must never unwind into wasm): the dispatcher catches
 * and answers with the safe refusal noted on each.
 */
export interface SslCallbacks {
  /** SSL_set_msg_callback. */
  onMessage?(writeP: number, version: number, contentType: number, buf: number, len: number): void;
  /** The verify callback: 1 accept, 0 reject (on a throw: 0). */
  onVerify?(preverifyOk: number, store: Ptr<"X509_STORE_CTX">): number;
  /** The new-session callback: 1 if JS took OpenSSL's reference (on a throw: 0, OpenSSL frees it). */
  onNewSession?(session: Ptr<"SSL_SESSION">): number;
  /** Server ALPN selection: offset of the chosen protocol in the client's list, or -1 (on a throw: -1). */
  onAlpnSelect?(inp: number, inlen: number): number;
  /** The servername callback: an SSL_TLSEXT_ERR_* value (on a throw: ALERT_FATAL). */
  onServername?(): number;
  /** The OCSP status callback (on a throw: 0, refuse). */
  onStatus?(): number;
}

/** The heap, the FFI and the helpers around them; one per OpenSSL instance. */
export class Runtime {
  readonly ffi: FFI;
  readonly module: EmscriptenModule;
  /** Callbacks by SSL pointer (TlsConnection registers itself for its life). */
  readonly #callbacks = new Map<number, SslCallbacks>();
  #io = 0;
  #ioSize = 0;
  /** Slots for out-parameters: size_t results and ERR_get_error_all's five pointers. */
  readonly #slots: number;

  constructor(module: EmscriptenModule, ffi: FFI) {
    this.module = module;
    this.ffi = ffi;
    // Load the error strings now, so the first failure does not allocate them
    // (and heap measurements start from a settled state).
    ffi.OPENSSL_init_ssl(BigInt(C.OPENSSL_INIT_LOAD_SSL_STRINGS | C.OPENSSL_INIT_LOAD_CRYPTO_STRINGS), NULL);
    this.#slots = this.malloc(64);
    this.ensureIO(MIN_IO);
    const of = (ssl: number) => this.#callbacks.get(ssl);
    module.callbacks = {
      msg: (ssl, writeP, version, contentType, buf, len) => {
        try {
          of(ssl)?.onMessage?.(writeP, version, contentType, buf, len);
        } catch {
          // a listener's exception is the listener's (TlsConnection records it)
        }
      },
      verify: (ssl, preverifyOk, store) => guard(() => of(ssl)?.onVerify?.(preverifyOk, store as Ptr<"X509_STORE_CTX">) ?? preverifyOk, 0),
      alpnSelect: (ssl, inp, inlen) => guard(() => of(ssl)?.onAlpnSelect?.(inp, inlen) ?? -1, -1),
      newSession: (ssl, session) => guard(() => of(ssl)?.onNewSession?.(session as Ptr<"SSL_SESSION">) ?? 0, 0),
      status: (ssl) => guard(() => of(ssl)?.onStatus?.() ?? C.SSL_TLSEXT_ERR_NOACK, 0),
      servername: (ssl) => guard(() => of(ssl)?.onServername?.() ?? C.SSL_TLSEXT_ERR_OK, C.SSL_TLSEXT_ERR_ALERT_FATAL),
    };
  }

  /** Routes OpenSSL's callbacks for `ssl` to `callbacks` until unregister(). */
  register(ssl: Ptr<"SSL">, callbacks: SslCallbacks): void {
    this.#callbacks.set(ssl, callbacks);
  }

  unregister(ssl: Ptr<"SSL">): void {
    this.#callbacks.delete(ssl);
  }

  /** SSL objects with callbacks registered (for leak tests). */
  get registered(): number {
    return this.#callbacks.size;
  }

  /** The current heap view (re-read after anything that may grow memory). */
  get heap(): Uint8Array {
    return this.module.HEAPU8;
  }

  malloc(n: number): number {
    const p = (this.module._malloc as unknown as (n: number) => number)(n);
    if (!p) throw new RangeError(`the wasm heap cannot grow by ${n} bytes`);
    return p;
  }

  free(p: number): void {
    (this.module._free as unknown as (p: number) => void)(p);
  }

  /** Wipes then frees a buffer that held secrets or plaintext. */
  cleanseFree(p: number, n: number): void {
    if (!p) return;
    this.ffi.OPENSSL_cleanse(p as AnyPtr, n);
    this.free(p);
  }

  /**
   * The shared I/O scratch buffer, at least `n` bytes (callers stay within
   * MAX_IO). Reused by every read, write, feed and drain, so no call on the
   * data path allocates heap memory; it holds plaintext between calls and is
   * wiped (OPENSSL_cleanse) before it is replaced or freed.
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

  /** A size_t / pointer out-parameter slot (index 0..7). */
  slot(i = 0): number {
    return this.#slots + 4 * i;
  }

  /** Reads a 32-bit little-endian value from the heap. */
  u32(p: number): number {
    const h = this.heap;
    return (h[p] | (h[p + 1] << 8) | (h[p + 2] << 16) | (h[p + 3] << 24)) >>> 0;
  }

  /** Writes a 32-bit value. */
  setU32(p: number, v: number): void {
    const h = this.heap;
    h[p] = v; h[p + 1] = v >>> 8; h[p + 2] = v >>> 16; h[p + 3] = v >>> 24;
  }

  /** A NUL-terminated C string at `p` ("" for NULL). */
  string(p: number): string {
    if (!p) return "";
    const h = this.heap;
    let end = p;
    while (h[end] !== 0) end++;
    return decoder.decode(h.subarray(p, end));
  }

  /** `n` bytes at `p` as UTF-8 text. */
  text(p: number, n: number): string {
    return decoder.decode(this.heap.subarray(p, p + n));
  }

  /** Runs `fn` with `s` as a temporary C string. */
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

  /** Runs `fn` with a temporary heap copy of `bytes` (wiped afterwards). */
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
   * Runs `fn` with a `const unsigned char **` pointing at a heap copy of
   * `bytes` (wiped afterwards): the input d2i_* functions take.
   */
  withD2iInput<T>(bytes: Uint8Array, fn: (pp: number, n: number) => T): T {
    return this.withBytes(bytes, (p, n) => {
      const pp = this.slot(0);
      this.setU32(pp, p);
      return fn(pp, n);
    });
  }

  /** Text an OpenSSL printer writes into a memory BIO ("" if it fails). */
  bioText(print: (bio: Ptr<"BIO">) => number): string {
    const { ffi } = this;
    const bio = ffi.BIO_new(ffi.BIO_s_mem());
    if (!bio) return "";
    try {
      if (print(bio) !== 1) return "";
      const n = ffi.BIO_ctrl_pending(bio);
      const io = this.ensureIO(n);
      if (ffi.BIO_read_ex(bio, io as AnyPtr, n, this.slot(0) as Ptr<"size_t">) !== 1) return "";
      return this.text(io, this.u32(this.slot(0)));
    } finally {
      ffi.BIO_free(bio);
      ffi.ERR_clear_error();
    }
  }

  /** Drains OpenSSL's error queue. */
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

  /** An OpenSSLError from the drained queue. */
  error(message: string, sslError?: SslErrorName, options?: ErrorOptions): OpenSSLError {
    return new OpenSSLError(message, this.drainErrors(), sslError, options);
  }
}

/** Runs a callback handler; an exception becomes `refusal` (never unwinds into wasm). */
function guard(fn: () => number, refusal: number): number {
  try {
    return fn();
  } catch {
    return refusal;
  }
}

const runtimes = new WeakMap<object, Runtime>();

/** Ties a runtime to its public owner (the OpenSSL facade). */
export function bindRuntime(owner: object, runtime: Runtime): void {
  runtimes.set(owner, runtime);
}

/** The runtime behind an OpenSSL instance; a TypeError for anything else. */
export function runtimeOf(owner: unknown): Runtime {
  const rt = typeof owner === "object" && owner !== null ? runtimes.get(owner) : undefined;
  if (!rt) throw new TypeError("expected an OpenSSL instance (from OpenSSL.load() or OpenSSL.instantiate())");
  return rt;
}

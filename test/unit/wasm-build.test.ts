// The wasm build itself (issue 2): it loads in Node from a URL, bytes or a
// compiled module; OpenSSL's RNG is seeded from the platform CSPRNG; and a
// TLS 1.3 client and server inside the module complete a handshake over
// memory BIOs with X25519MLKEM768, then a two-way SSL_shutdown.
// These call the exported C functions directly, through the generated FFI.
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { defaultWasmURL, instantiate, WasmLoadError, type LoadedModule } from "../../bindings/src/engine/load.js";
import * as C from "../../bindings/src/generated/constants.js";
import type { AnyPtr, Ptr } from "../../bindings/src/generated/ffi.js";
import { selfSigned } from "../helpers/pki.js";

function randBytes({ module, ffi }: LoadedModule, n: number): Uint8Array {
  const buf = module._malloc as unknown as (n: number) => number;
  const p = buf(n);
  expect(ffi.RAND_bytes(p as Ptr<"unsigned char">, n)).toBe(1);
  const out = module.HEAPU8.slice(p, p + n);
  (module._free as unknown as (p: number) => void)(p);
  return out;
}

describe("loading openssl.wasm", () => {
  it("loads from the default URL, from bytes and from a compiled WebAssembly.Module", async () => {
    const bytes = await readFile(defaultWasmURL());
    for (const source of [undefined, bytes, await WebAssembly.compile(bytes)]) {
      const { ffi } = await instantiate(source);
      expect(ffi.OpenSSL_version_num()).toBe(C.OPENSSL_VERSION_NUMBER);
      expect(C.OPENSSL_VERSION_NUMBER).toBeGreaterThanOrEqual(0x30500000);
      expect(C.OPENSSL_VERSION_NUMBER).toBeLessThan(0x30600000);
    }
  });

  it("rejects bytes that are not a wasm module with a WasmLoadError", async () => {
    await expect(instantiate(new Uint8Array([0, 1, 2, 3]))).rejects.toBeInstanceOf(WasmLoadError);
    await expect(instantiate(new URL("file:///nonexistent/openssl.wasm"))).rejects.toThrow(/cannot load openssl.wasm/);
  });
});

describe("entropy", () => {
  it("seeds each instance from crypto.getRandomValues: two instances give different RAND_bytes", async () => {
    const a = await instantiate();
    const b = await instantiate();
    expect(a.ffi.RAND_status()).toBe(1);
    const ra = randBytes(a, 32);
    const rb = randBytes(b, 32);
    expect(Buffer.from(ra).equals(Buffer.from(rb))).toBe(false);
    // and successive outputs of one instance differ too
    expect(Buffer.from(randBytes(a, 32)).equals(Buffer.from(ra))).toBe(false);
  });

  it("draws OpenSSL's seed from crypto.getRandomValues and nothing else", async () => {
    const original = globalThis.crypto.getRandomValues.bind(globalThis.crypto);
    let drawn = 0;
    const spy = (<T extends ArrayBufferView | null>(array: T): T => {
      drawn += array?.byteLength ?? 0;
      return original(array as never) as T;
    }) as Crypto["getRandomValues"];
    Object.defineProperty(globalThis.crypto, "getRandomValues", { value: spy, configurable: true });
    try {
      const m = await instantiate();
      randBytes(m, 16);
      expect(drawn).toBeGreaterThanOrEqual(32); // at least a 256-bit seed
    } finally {
      Object.defineProperty(globalThis.crypto, "getRandomValues", { value: original, configurable: true });
    }
  });

  it("fails RAND_bytes cleanly (no abort, no weak fallback) when no CSPRNG exists", async () => {
    const m = await instantiate();
    const original = globalThis.crypto.getRandomValues;
    Object.defineProperty(globalThis.crypto, "getRandomValues", { value: undefined, configurable: true });
    try {
      const p = (m.module._malloc as unknown as (n: number) => number)(16);
      expect(m.ffi.RAND_bytes(p as Ptr<"unsigned char">, 16)).toBe(0); // failure, not output
      expect(m.ffi.ERR_get_error()).not.toBe(0);
    } finally {
      Object.defineProperty(globalThis.crypto, "getRandomValues", { value: original, configurable: true });
    }
  });
});

describe("TLS 1.3 inside the module over memory BIOs", () => {
  it("handshakes with X25519MLKEM768 and completes a two-way SSL_shutdown (0, then 1 on both sides)", async () => {
    const { module, ffi } = await instantiate();
    const malloc = module._malloc as unknown as (n: number) => number;
    const free = module._free as unknown as (p: number) => void;
    const cstr = (s: string): Ptr<"char"> => {
      const b = new TextEncoder().encode(s + "\0");
      const p = malloc(b.length);
      module.HEAPU8.set(b, p);
      return p as Ptr<"char">;
    };
    const jstr = (p: number): string => {
      const h = module.HEAPU8;
      let end = p;
      while (h[end]) end++;
      return new TextDecoder().decode(h.subarray(p, end));
    };
    const pemBio = (pem: string) => {
      const p = cstr(pem);
      return { bio: ffi.BIO_new_mem_buf(p as AnyPtr, -1), p };
    };
    const id = selfSigned("server.test");

    // server context: certificate and key from PEM
    const sctx = ffi.SSL_CTX_new(ffi.TLS_server_method());
    let b = pemBio(id.certPem);
    const cert = ffi.PEM_read_bio_X509(b.bio, 0 as never, 0 as never, 0 as AnyPtr);
    expect(cert).not.toBe(0);
    ffi.BIO_free(b.bio); free(b.p);
    b = pemBio(id.keyPem);
    const key = ffi.PEM_read_bio_PrivateKey(b.bio, 0 as never, 0 as never, 0 as AnyPtr);
    expect(key).not.toBe(0);
    ffi.BIO_free(b.bio); free(b.p);
    expect(ffi.SSL_CTX_use_certificate(sctx, cert)).toBe(1);
    expect(ffi.SSL_CTX_use_PrivateKey(sctx, key)).toBe(1);

    // client context: trusts that certificate, verifies it and the host name
    const cctx = ffi.SSL_CTX_new(ffi.TLS_client_method());
    expect(ffi.X509_STORE_add_cert(ffi.SSL_CTX_get_cert_store(cctx), cert)).toBe(1);
    ffi.SSL_CTX_set_verify(cctx, C.SSL_VERIFY_PEER, 0);
    expect(ffi.SSL_CTX_set_min_proto_version(cctx, C.TLS1_3_VERSION)).toBe(1);

    const conn = (ctx: Ptr<"SSL_CTX">) => {
      const ssl = ffi.SSL_new(ctx);
      const rbio = ffi.BIO_new(ffi.BIO_s_mem());
      const wbio = ffi.BIO_new(ffi.BIO_s_mem());
      ffi.BIO_set_mem_eof_return(rbio, -1); // "no data yet": retry
      ffi.SSL_set_bio(ssl, rbio, wbio);
      return { ssl, rbio, wbio };
    };
    const c = conn(cctx);
    const s = conn(sctx);
    const host = cstr("server.test");
    expect(ffi.SSL_set1_host(c.ssl, host)).toBe(1);
    expect(ffi.SSL_set_tlsext_host_name(c.ssl, host)).toBe(1);
    ffi.SSL_set_connect_state(c.ssl);
    ffi.SSL_set_accept_state(s.ssl);

    // move every pending byte from one side's wbio to the other's rbio
    const buf = malloc(1 << 16);
    const pump = (from: typeof c, to: typeof c): number => {
      const pending = ffi.BIO_ctrl_pending(from.wbio);
      if (pending === 0) return 0;
      const sizeP = malloc(4);
      expect(ffi.BIO_read_ex(from.wbio, buf as AnyPtr, pending, sizeP as Ptr<"size_t">)).toBe(1);
      const n = new DataView(module.HEAPU8.buffer).getUint32(sizeP, true);
      free(sizeP);
      const written = malloc(4);
      expect(ffi.BIO_write_ex(to.rbio, buf as AnyPtr, n, written as Ptr<"size_t">)).toBe(1);
      free(written);
      return n;
    };

    let cdone = 0, sdone = 0;
    for (let round = 0; round < 20 && !(cdone === 1 && sdone === 1); round++) {
      ffi.ERR_clear_error();
      cdone = ffi.SSL_do_handshake(c.ssl);
      if (cdone !== 1) expect(ffi.SSL_get_error(c.ssl, cdone)).toBe(C.SSL_ERROR_WANT_READ);
      pump(c, s);
      ffi.ERR_clear_error();
      sdone = ffi.SSL_do_handshake(s.ssl);
      if (sdone !== 1) expect(ffi.SSL_get_error(s.ssl, sdone)).toBe(C.SSL_ERROR_WANT_READ);
      pump(s, c);
    }
    expect([cdone, sdone]).toEqual([1, 1]);
    expect(jstr(ffi.SSL_get_version(c.ssl))).toBe("TLSv1.3");
    expect(jstr(ffi.SSL_get0_group_name(c.ssl))).toBe("X25519MLKEM768");
    expect(jstr(ffi.SSL_get0_group_name(s.ssl))).toBe("X25519MLKEM768");
    expect(ffi.SSL_get_verify_result(c.ssl)).toBe(C.X509_V_OK);

    // two-way shutdown: client 0, server 0, server 1 (reads the client's
    // close_notify), client 1 (reads the tickets and the server's close_notify)
    expect(ffi.SSL_shutdown(c.ssl)).toBe(0);
    expect(ffi.SSL_get_shutdown(c.ssl)).toBe(C.SSL_SENT_SHUTDOWN);
    expect(pump(c, s)).toBeGreaterThan(0);
    expect(ffi.SSL_shutdown(s.ssl)).toBe(0);
    expect(ffi.SSL_shutdown(s.ssl)).toBe(1);
    expect(ffi.SSL_get_shutdown(s.ssl)).toBe(C.SSL_SENT_SHUTDOWN | C.SSL_RECEIVED_SHUTDOWN);
    expect(pump(s, c)).toBeGreaterThan(0);
    expect(ffi.SSL_shutdown(c.ssl)).toBe(1);
    expect(ffi.SSL_get_shutdown(c.ssl)).toBe(C.SSL_SENT_SHUTDOWN | C.SSL_RECEIVED_SHUTDOWN);
    expect(ffi.ERR_peek_error()).toBe(0);

    ffi.SSL_free(c.ssl); ffi.SSL_free(s.ssl);
    ffi.SSL_CTX_free(cctx); ffi.SSL_CTX_free(sctx);
    ffi.X509_free(cert); ffi.EVP_PKEY_free(key);
    free(buf); free(host);
  });
});

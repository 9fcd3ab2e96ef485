// Ownership in the generated FFI's types (bindings/gen/generate.mjs, STYLE.md 3):
// a returned pointer is Owned<T> when the caller must free it, Borrowed<T>
// when it stays OpenSSL's, both usable wherever a Ptr<T> is taken. These are
// type assertions: `npx tsc -p test` (part of `make test`) is what checks them.
import { describe, expectTypeOf, it } from "vitest";
import type { Borrowed, FFI, Owned, Ptr } from "../../bindings/src/generated/ffi.js";

type Returns<K extends keyof FFI> = ReturnType<FFI[K]>;

describe("ownership in the generated FFI types", () => {
  it("new, get1, d2i and PEM_read results are owned", () => {
    expectTypeOf<Returns<"SSL_CTX_new">>().toEqualTypeOf<Owned<"SSL_CTX">>();
    expectTypeOf<Returns<"BIO_new_buffer">>().toEqualTypeOf<Owned<"BIO">>();
    expectTypeOf<Returns<"SSL_get1_peer_certificate">>().toEqualTypeOf<Owned<"X509">>();
    expectTypeOf<Returns<"SSL_get1_session">>().toEqualTypeOf<Owned<"SSL_SESSION">>();
    expectTypeOf<Returns<"d2i_X509">>().toEqualTypeOf<Owned<"X509">>();
    expectTypeOf<Returns<"PEM_read_bio_PrivateKey">>().toEqualTypeOf<Owned<"EVP_PKEY">>();
  });

  it("get0 and get_ accessors, const results and static tables are borrowed; the override list decides the rest", () => {
    expectTypeOf<Returns<"X509_get0_pubkey">>().toEqualTypeOf<Borrowed<"EVP_PKEY">>();
    expectTypeOf<Returns<"SSL_get_peer_cert_chain">>().toEqualTypeOf<Borrowed<"stack_st_X509">>();
    expectTypeOf<Returns<"X509_STORE_CTX_get_current_cert">>().toEqualTypeOf<Borrowed<"X509">>();
    expectTypeOf<Returns<"SSL_get_version">>().toEqualTypeOf<Borrowed<"char">>();
    expectTypeOf<Returns<"TLS_client_method">>().toEqualTypeOf<Borrowed<"SSL_METHOD">>();
    expectTypeOf<Returns<"SSL_set_SSL_CTX">>().toEqualTypeOf<Borrowed<"SSL_CTX">>();
    expectTypeOf<Returns<"sk_X509_value">>().toEqualTypeOf<Borrowed<"X509">>();
    // X509_NAME_oneline: a new string only when its buffer argument is NULL
    expectTypeOf<Returns<"X509_NAME_oneline">>().toEqualTypeOf<Ptr<"char">>();
  });

  it("both are assignable to Ptr<T>, and not to each other", () => {
    expectTypeOf<Owned<"X509">>().toExtend<Ptr<"X509">>();
    expectTypeOf<Borrowed<"X509">>().toExtend<Ptr<"X509">>();
    expectTypeOf<Owned<"X509">>().not.toExtend<Borrowed<"X509">>();
    expectTypeOf<Borrowed<"X509">>().not.toExtend<Owned<"X509">>();
    expectTypeOf<Owned<"X509">>().not.toExtend<Ptr<"SSL">>();
  });
});

/**
 * Certificates and keys: PEM text or DER bytes into OpenSSL objects, and
 * certificates back into text for display. Returned pointers are owned by
 * the caller (free with X509_free / EVP_PKEY_free).
 */
import * as C from "../generated/constants.js";
import { NULL, type AnyPtr, type Ptr } from "../generated/ffi.js";
import { OpenSSLError } from "./errors.js";
import type { Runtime } from "./runtime.js";
import type { CertificateSummary } from "./types.js";

/** PEM text (one or more blocks) or the DER bytes of one object. */
export type PemOrDer = string | Uint8Array;

function checkInput(input: unknown, what: string): asserts input is PemOrDer {
  if (typeof input !== "string" && !(input instanceof Uint8Array)) {
    throw new TypeError(`${what} must be a PEM string or DER bytes (Uint8Array), got ${input === null ? "null" : typeof input}`);
  }
}

/** Runs `fn` with a read-only memory BIO over `text`. */
function withMemBio<T>(rt: Runtime, text: string, fn: (bio: Ptr<"BIO">) => T): T {
  return rt.withCString(text, (p) => {
    const bio = rt.ffi.BIO_new_mem_buf(p as AnyPtr, -1);
    if (!bio) throw rt.error("BIO_new_mem_buf failed");
    try {
      return fn(bio);
    } finally {
      rt.ffi.BIO_free(bio);
    }
  });
}

/** Every certificate in `input` (all PEM blocks, or one DER certificate), in order. */
export function readCertificates(rt: Runtime, input: PemOrDer, what = "certificate"): Ptr<"X509">[] {
  checkInput(input, what);
  const { ffi } = rt;
  ffi.ERR_clear_error();
  if (input instanceof Uint8Array) {
    const x = rt.withD2iInput(input, (pp, n) => ffi.d2i_X509(NULL, pp as never, n));
    if (!x) throw rt.error(`${what}: not a DER X.509 certificate`);
    return [x];
  }
  const certs: Ptr<"X509">[] = [];
  withMemBio(rt, input, (bio) => {
    for (;;) {
      const x = ffi.PEM_read_bio_X509(bio, NULL, NULL, NULL);
      if (!x) break;
      certs.push(x);
    }
  });
  // The loop ends with PEM_R_NO_START_LINE once the text is used up: expected
  // after at least one certificate, an error before.
  const errors = rt.drainErrors();
  const trailing = errors.length === 1 && errors[0]!.reason === C.PEM_R_NO_START_LINE;
  if (certs.length === 0 || !trailing && errors.length > 0) {
    certs.forEach((x) => ffi.X509_free(x));
    throw new OpenSSLError(`${what}: no valid PEM certificate`, errors);
  }
  return certs;
}

/** The private key in `input` (PEM, optionally encrypted with `passphrase`, or DER). */
export function readPrivateKey(rt: Runtime, input: PemOrDer, passphrase?: string): Ptr<"EVP_PKEY"> {
  checkInput(input, "key");
  if (passphrase !== undefined && typeof passphrase !== "string") throw new TypeError("passphrase must be a string");
  const { ffi } = rt;
  ffi.ERR_clear_error();
  let key: Ptr<"EVP_PKEY">;
  if (input instanceof Uint8Array) {
    key = rt.withD2iInput(input, (pp, n) => ffi.d2i_AutoPrivateKey(NULL, pp as never, n));
  } else {
    // With a NULL callback, PEM_read_bio_PrivateKey takes `u` as the passphrase.
    // An empty one stands in when none is given, so an encrypted key fails
    // instead of prompting.
    key = withMemBio(rt, input, (bio) =>
      rt.withCString(passphrase ?? "", (pw) => ffi.PEM_read_bio_PrivateKey(bio, NULL, NULL, pw as AnyPtr)));
  }
  if (!key) throw rt.error(input instanceof Uint8Array ? "key: not a DER private key" : "key: no valid PEM private key (or wrong passphrase)");
  ffi.ERR_clear_error();
  return key;
}

/** X509_NAME_oneline, e.g. "/CN=example.org". */
export function nameText(rt: Runtime, name: Ptr<"X509_NAME">): string {
  const p = rt.ffi.X509_NAME_oneline(name, NULL, 0);
  const s = rt.string(p);
  rt.ffi.OPENSSL_free(p as AnyPtr);
  return s;
}

/** What a certificate says (subject, issuer, validity, key), for display. */
export function summarizeCertificate(rt: Runtime, x: Ptr<"X509">): CertificateSummary {
  const { ffi } = rt;
  const key = ffi.X509_get0_pubkey(x);
  return {
    subject: nameText(rt, ffi.X509_get_subject_name(x)),
    issuer: nameText(rt, ffi.X509_get_issuer_name(x)),
    notBefore: rt.bioText((bio) => ffi.ASN1_TIME_print(bio, ffi.X509_get0_notBefore(x))),
    notAfter: rt.bioText((bio) => ffi.ASN1_TIME_print(bio, ffi.X509_get0_notAfter(x))),
    keyType: key ? rt.string(ffi.EVP_PKEY_get0_type_name(key)) : "",
    keyBits: key ? ffi.EVP_PKEY_get_bits(key) : 0,
  };
}

/**
 * Trusted certificates for a context's `ca` option: PEM/DER given by the
 * caller, the bundled default roots, or Node's. The roots are parsed once
 * per runtime (the 142 default roots took ~29 ms and ~600 KiB per context
 * when every context parsed them), and the X509_STORE of exactly the default
 * roots is shared by every context trusting only them
 * (SSL_CTX_set1_cert_store; nothing modifies a context's store after its
 * creation).
 */
import type { Ptr } from "../generated/ffi.js";
import { readCertificates, type PemOrDer } from "./pki.js";
import { defaultRoots, systemRoots } from "./roots.js";
import type { Runtime } from "./runtime.js";

/** One source of trusted certificates. */
export type CaEntry = PemOrDer | "default" | "system";

const parsedRoots = new WeakMap<Runtime, Map<"default" | "system", Ptr<"X509">[]>>();
const defaultStores = new WeakMap<Runtime, Ptr<"X509_STORE">>();

function roots(rt: Runtime, which: "default" | "system"): Ptr<"X509">[] {
  let byName = parsedRoots.get(rt);
  if (!byName) parsedRoots.set(rt, (byName = new Map()));
  let certs = byName.get(which);
  if (!certs) {
    if (which === "default") {
      const store = defaultRoots();
      if (!store) throw new TypeError('ca: "default" needs the root store: await OpenSSL.loadDefaultRoots() first');
      certs = store.certificates.flatMap((der) => readCertificates(rt, der, "default root"));
    } else {
      certs = systemRoots().flatMap((pem) => readCertificates(rt, pem, "system root"));
    }
    byName.set(which, certs);
  }
  return certs;
}

/** The shared store of exactly the default roots (owned by the cache: up-ref it to keep it). */
export function defaultStore(rt: Runtime): Ptr<"X509_STORE"> {
  let store = defaultStores.get(rt);
  if (!store) {
    const { ffi } = rt;
    const certs = roots(rt, "default");
    store = ffi.X509_STORE_new();
    if (!store) throw rt.error("X509_STORE_new failed");
    for (const x of certs) {
      if (!ffi.X509_STORE_add_cert(store, x)) {
        ffi.X509_STORE_free(store);
        throw rt.error("X509_STORE_add_cert failed");
      }
    }
    defaultStores.set(rt, store);
  }
  return store;
}

/** The certificates one `ca` entry stands for (the caller frees them: roots come as new references). */
export function caCertificates(rt: Runtime, ca: CaEntry): Ptr<"X509">[] {
  if (ca === "default" || ca === "system") {
    const certs = roots(rt, ca);
    for (const x of certs) rt.ffi.X509_up_ref(x);
    return [...certs];
  }
  return readCertificates(rt, ca, "ca");
}

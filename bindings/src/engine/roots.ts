/**
 * The default root store, for runtimes that have none to give (browsers,
 * Deno, Bun, workerd): Mozilla's roots as Debian's ca-certificates package
 * ships them, built by scripts/roots.mjs into wasm/dist/roots.{der,json}.
 * Fetched once when first needed (loadDefaultRoots), split into DER
 * certificates, parsed into each context that uses `ca: "default"`.
 */
import { readUrl } from "./read-url.js";

/** Where the default root store came from (OpenSSL.rootStoreInfo()). */
export interface RootStoreInfo {
  /** Where the roots were read from. */
  source: string;
  /** The Debian package and version the roots came from. */
  package: string;
  /** That version's date. */
  date: string;
  /** How many roots. */
  count: number;
  /** SHA-256 of the concatenated DER. */
  sha256: string;
}

export interface RootStore {
  info: RootStoreInfo;
  certificates: Uint8Array[];
}

let loaded: RootStore | undefined;
let loading: Promise<RootStore> | undefined;

/** Where the build put them; one literal `new URL()` each, so bundlers copy exactly these two files. */
const ROOTS_URLS = {
  "roots.der": () => new URL("../../../wasm/dist/roots.der", import.meta.url),
  "roots.json": () => new URL("../../../wasm/dist/roots.json", import.meta.url),
};

function fetchBytes(url: URL): Promise<Uint8Array> {
  return readUrl(url, (message) => new Error(`cannot load the default root store: ${message}`));
}

/** Splits concatenated DER certificates (each an ASN.1 SEQUENCE). */
export function splitDer(der: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < der.length;) {
    if (der[at] !== 0x30) throw new TypeError(`not a DER SEQUENCE at byte ${at}`);
    let len = der[at + 1]!;
    let header = 2;
    if (at + 2 > der.length) throw new TypeError(`truncated DER at byte ${at}`);
    if (len & 0x80) {
      const n = len & 0x7f;
      if (n < 1 || n > 4) throw new TypeError(`bad DER length at byte ${at}`);
      if (at + 2 + n > der.length) throw new TypeError(`truncated DER at byte ${at}`);
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + der[at + 2 + i]!;
      header += n;
    }
    if (at + header + len > der.length) throw new TypeError(`truncated DER at byte ${at}`);
    out.push(der.subarray(at, at + header + len));
    at += header + len;
  }
  return out;
}

/**
 * Loads the default root store (once per process). `source` overrides where
 * it comes from: the bytes of roots.der and the parsed roots.json (workerd
 * imports them as modules), or a base URL holding both.
 */
export function loadDefaultRoots(source?: URL | string | { der: Uint8Array; info: RootStoreInfo }): Promise<RootStore> {
  if (loaded) return Promise.resolve(loaded);
  loading ??= (async () => {
    let der: Uint8Array;
    let info: RootStoreInfo;
    if (source && typeof source === "object" && !(source instanceof URL)) {
      ({ der, info } = source);
    } else {
      const base = source === undefined ? undefined : new URL(String(source));
      const url = (f: keyof typeof ROOTS_URLS) => (base ? new URL(f, base) : ROOTS_URLS[f]());
      [der, info] = await Promise.all([fetchBytes(url("roots.der")),
        fetchBytes(url("roots.json")).then((b) => JSON.parse(new TextDecoder().decode(b)) as RootStoreInfo)]);
    }
    const certificates = splitDer(der);
    if (certificates.length !== info.count) throw new Error(`the root store holds ${certificates.length} certificates, its description says ${info.count}`);
    loaded = { info, certificates };
    return loaded;
  })().catch((e: unknown) => {
    loading = undefined;
    throw e;
  });
  return loading;
}

/** The default root store if it was loaded, else undefined. */
export function defaultRoots(): RootStore | undefined {
  return loaded;
}

/** Node's bundled roots (`ca: "system"`): tls.rootCertificates. */
export function systemRoots(): readonly string[] {
  const getBuiltin = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule;
  const tls = getBuiltin?.("node:tls") as { rootCertificates?: readonly string[] } | undefined;
  if (!tls?.rootCertificates) throw new TypeError('ca: "system" needs Node (tls.rootCertificates); elsewhere use ca: "default"');
  return tls.rootCertificates;
}

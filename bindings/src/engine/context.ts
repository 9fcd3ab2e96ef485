/**
 * Context: an SSL_CTX, the configuration shared by connections.
 * @see https://docs.openssl.org/3.5/man3/SSL_CTX_new/
 */
import * as C from "../generated/constants.js";
import type { AnyPtr, Ptr } from "../generated/ffi.js";
import { Connection, type ConnectionOptions } from "./connection.js";
import { disposable } from "./dispose.js";
import { UseAfterFreeError } from "./errors.js";
import type { OpenSSL } from "./openssl.js";
import { readCertificates, readPrivateKey, type PemOrDer } from "./pki.js";
import { defaultRoots, systemRoots } from "./roots.js";

export type ProtocolVersion = "TLSv1.2" | "TLSv1.3";
/** What a stapled OCSP response said about the server's certificate. */
export type OcspStatus = "good" | "revoked" | "unknown" | "none" | "invalid";
/** One source of trusted certificates. */
export type CaEntry = PemOrDer | "default" | "system";
/** TLS 1.3 suites when `ciphersuites` is not given: OpenSSL's three, ChaCha20-Poly1305 first. */
export const DEFAULT_CIPHERSUITES = "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384";
/** TLS 1.2 cipher list when `ciphers` is not given: OpenSSL's DEFAULT with its ECDHE ChaCha20-Poly1305 suites first. */
export const DEFAULT_CIPHERS = "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DEFAULT";
const VERSIONS: Record<ProtocolVersion, number> = { "TLSv1.2": C.TLS1_2_VERSION, "TLSv1.3": C.TLS1_3_VERSION };

export interface ContextOptions {
  /** Client (SSL_connect side) or server (SSL_accept side). */
  role: "client" | "server";
  /** SSL_CTX_set_min_proto_version / max. This build has TLS 1.2 and 1.3 only. */
  minVersion?: ProtocolVersion;
  maxVersion?: ProtocolVersion;
  /**
   * TLS 1.2 cipher list (SSL_CTX_set_cipher_list), e.g. "ECDHE-ECDSA-AES128-GCM-SHA256".
   * Default: DEFAULT_CIPHERS (OpenSSL's DEFAULT, ChaCha20-Poly1305 first).
   */
  ciphers?: string;
  /**
   * TLS 1.3 ciphersuites (SSL_CTX_set_ciphersuites), e.g. "TLS_AES_128_GCM_SHA256".
   * Default: DEFAULT_CIPHERSUITES (ChaCha20-Poly1305, AES-128-GCM, AES-256-GCM).
   * With neither this nor `ciphers`, a server picks by its own order
   * (SSL_OP_CIPHER_SERVER_PREFERENCE): ChaCha20-Poly1305 whenever offered.
   */
  ciphersuites?: string;
  /** Key-exchange groups in preference order (SSL_CTX_set1_groups_list). Default: OpenSSL's, X25519MLKEM768 first. */
  groups?: string | readonly string[];
  /** Signature algorithms (SSL_CTX_set1_sigalgs_list). */
  sigalgs?: string;
  /** Certificate (PEM: the leaf first, then its chain; or DER of the leaf). */
  cert?: PemOrDer;
  /** Extra chain certificates (PEM or DER). */
  chain?: PemOrDer | readonly PemOrDer[];
  /** Private key (PEM, optionally encrypted, or DER). */
  key?: PemOrDer;
  /** Passphrase of an encrypted PEM key. */
  passphrase?: string;
  /**
   * Trusted CA certificates: PEM strings (possibly several blocks each), DER
   * bytes, "default" (the bundled Mozilla roots, after
   * OpenSSL.loadDefaultRoots()), "system" (Node's tls.rootCertificates), or a
   * mix of them; or "none": an empty store, which together with
   * `verify: false` is the only way to skip verification. Clients default to
   * "default" once it is loaded (TlsSocket loads it), else to an empty store.
   */
  ca?: CaEntry | readonly CaEntry[] | "none";
  /**
   * Verify the peer's certificate (SSL_VERIFY_PEER). Clients always do,
   * unless `verify: false` and `ca: "none"` are both given (and
   * `info.verification` then says "disabled"). Servers: see clientCertificate.
   */
  verify?: boolean;
  /**
   * Servers: ask for a client certificate ("request": verified if sent) or
   * insist on one ("require": SSL_VERIFY_FAIL_IF_NO_PEER_CERT). Default "none".
   * (`verify: true` on a server means "require".)
   */
  clientCertificate?: "none" | "request" | "require";
  /**
   * Servers: certificates by SNI host name (the default `cert`/`key` serve
   * every other name). Each entry is its own context, chosen in the
   * servername callback (SSL_set_SSL_CTX).
   */
  sni?: Readonly<Record<string, { cert: PemOrDer; key: PemOrDer; chain?: PemOrDer | readonly PemOrDer[]; passphrase?: string }>>;
  /** SSL_CTX_set_verify_depth. */
  verifyDepth?: number;
  /** SSL_CTX_set_quiet_shutdown: SSL_shutdown sends no close_notify. */
  quietShutdown?: boolean;
  /**
   * SSL_OP_IGNORE_UNEXPECTED_EOF: a transport EOF without close_notify reads
   * as a clean close. Only safe when the application protocol detects
   * truncation itself; never the default.
   */
  ignoreUnexpectedEof?: boolean;
  /** Session tickets (TLS 1.2 tickets, TLS 1.3 stateless tickets). Default true; false sets SSL_OP_NO_TICKET. */
  tickets?: boolean;
  /** TLS 1.3 tickets a server sends after the handshake (SSL_CTX_set_num_tickets). */
  numTickets?: number;
  /** Server session cache (SSL_CTX_set_session_cache_mode). Default true. */
  sessionCache?: boolean;
  /** SSL_CTX_set_timeout, seconds. */
  sessionTimeout?: number;
  /** ALPN protocols: offered by a client, or accepted by a server in its order of preference. */
  alpn?: readonly string[];
  /**
   * Servers: choose the ALPN protocol from the client's offer (return one of
   * them, or undefined to refuse with no_application_protocol). Overrides `alpn`.
   */
  alpnSelect?: (offered: string[]) => string | undefined;
  /**
   * Clients: turn on OpenSSL's client session cache without its internal
   * store (SSL_SESS_CACHE_CLIENT | NO_INTERNAL_STORE) and the new-session
   * callback, so connections can take each session as it arrives
   * (Connection onSession). With it, OpenSSL treats TLS 1.3 tickets as
   * single-use, as RFC 8446 advises: a resumed session's ticket is retired
   * when its successor arrives. Off by default, as in OpenSSL.
   */
  collectSessions?: boolean;
  /**
   * Clients: ask the server to staple an OCSP response ("request": checked
   * and reported in info.ocsp; "require": the handshake fails unless it says
   * the certificate is good). Default "off".
   */
  ocsp?: "off" | "request" | "require";
  /** Servers: the DER OCSP response to staple (from your CA's responder), when clients ask. */
  ocspResponse?: Uint8Array;
  /** Servers: the 80-byte TLS session ticket keys (SSL_CTX_set_tlsext_ticket_keys); see setTicketKeys(). */
  ticketKeys?: Uint8Array;
  /** Extra SSL_OP_* bits to set. */
  options?: bigint;
  /** SSL_CTX_set_security_level. */
  securityLevel?: number;
}

function list<T>(v: T | readonly T[] | undefined): readonly T[] {
  return v === undefined ? [] : Array.isArray(v) ? (v as readonly T[]) : [v as T];
}

/** A set of connections' shared configuration (SSL_CTX). Dispose it when done. */
export class Context {
  readonly ossl: OpenSSL;
  readonly role: "client" | "server";
  /** @internal Live connections, disposed with the context. */
  readonly connections = new Set<Connection>();
  #ptr: Ptr<"SSL_CTX"> | 0;
  #serverAlpn: string[] | undefined;
  #alpnSelect: ((offered: string[]) => string | undefined) | undefined;
  /** SNI host name (lower case) -> its own context (servers with `sni`). */
  readonly #sni = new Map<string, Context>();
  /** Client: verification was explicitly switched off (verify: false with ca: "none"). */
  verificationDisabled = false;
  /** Client: created with collectSessions (Connection onSession works). */
  collectsSessions = false;
  /** Client: OCSP stapling requested or required. */
  ocsp: "off" | "request" | "require" = "off";
  #ocspResponse: Uint8Array | undefined;

  constructor(ossl: OpenSSL, options: ContextOptions) {
    if (options === null || typeof options !== "object") throw new TypeError("createContext: options must be an object");
    if (options.role !== "client" && options.role !== "server") {
      throw new TypeError(`createContext: role must be "client" or "server", got ${JSON.stringify(options.role)}`);
    }
    this.ossl = ossl;
    this.role = options.role;
    const { ffi } = ossl;
    ffi.ERR_clear_error();
    const ctx = ffi.SSL_CTX_new(this.role === "client" ? ffi.TLS_client_method() : ffi.TLS_server_method());
    if (!ctx) throw ossl.error("SSL_CTX_new failed");
    this.#ptr = ctx;
    try {
      this.#configure(options);
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  #configure(o: ContextOptions): void {
    const { ossl } = this;
    const { ffi } = ossl;
    const ctx = this.ptr;
    const fail = (what: string) => { throw ossl.error(what); };
    const version = (v: ProtocolVersion | undefined, what: string) => {
      if (v === undefined) return 0;
      if (!(v in VERSIONS)) throw new RangeError(`${what} must be "TLSv1.2" or "TLSv1.3", got ${JSON.stringify(v)}`);
      return VERSIONS[v];
    };
    const min = version(o.minVersion, "minVersion");
    const max = version(o.maxVersion, "maxVersion");
    if (min && !ffi.SSL_CTX_set_min_proto_version(ctx, min)) fail("SSL_CTX_set_min_proto_version failed");
    if (max && !ffi.SSL_CTX_set_max_proto_version(ctx, max)) fail("SSL_CTX_set_max_proto_version failed");

    // A moved write buffer is fine: write() copies into a shared scratch buffer.
    // Released buffers: OpenSSL frees its 17 KiB record buffers while a
    // connection is idle (with our draining BIOs, an idle connection then
    // holds ~23 KiB instead of ~98 KiB; no measurable cost to bulk transfer).
    ffi.SSL_CTX_set_mode(ctx, C.SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | C.SSL_MODE_RELEASE_BUFFERS);

    // ChaCha20-Poly1305 first unless the caller chose (README: Defaults): in
    // WebAssembly it is the fastest constant-time suite, 2-3x AES-GCM.
    const ciphers = o.ciphers ?? DEFAULT_CIPHERS;
    const ciphersuites = o.ciphersuites ?? DEFAULT_CIPHERSUITES;
    if (!ossl.withCString(ciphers, (p) => ffi.SSL_CTX_set_cipher_list(ctx, p))) fail(`invalid ciphers "${ciphers}"`);
    if (!ossl.withCString(ciphersuites, (p) => ffi.SSL_CTX_set_ciphersuites(ctx, p))) fail(`invalid ciphersuites "${ciphersuites}"`);
    if (o.groups !== undefined) {
      const groups = typeof o.groups === "string" ? o.groups : o.groups.join(":");
      if (!ossl.withCString(groups, (p) => ffi.SSL_CTX_set1_groups_list(ctx, p))) fail(`invalid groups "${groups}"`);
    }
    if (o.sigalgs !== undefined && !ossl.withCString(o.sigalgs, (p) => ffi.SSL_CTX_set1_sigalgs_list(ctx, p))) fail(`invalid sigalgs "${o.sigalgs}"`);
    if (o.securityLevel !== undefined) ffi.SSL_CTX_set_security_level(ctx, o.securityLevel);

    let options = o.options ?? 0n;
    if (typeof options !== "bigint") throw new TypeError("options must be a bigint of SSL_OP_* bits");
    // A server with the default order picks by its own preference, so ChaCha20
    // whenever the client offers it (what the client's CPU prefers does not
    // make this end's cipher any cheaper).
    if (this.role === "server" && o.ciphers === undefined && o.ciphersuites === undefined) options |= C.SSL_OP_CIPHER_SERVER_PREFERENCE;
    if (o.ignoreUnexpectedEof) options |= C.SSL_OP_IGNORE_UNEXPECTED_EOF;
    if (o.tickets === false) options |= C.SSL_OP_NO_TICKET;
    if (options) ffi.SSL_CTX_set_options(ctx, options);
    if (o.numTickets !== undefined) ffi.SSL_CTX_set_num_tickets(ctx, o.numTickets);
    if (o.quietShutdown) ffi.SSL_CTX_set_quiet_shutdown(ctx, 1);
    if (o.sessionTimeout !== undefined) ffi.SSL_CTX_set_timeout(ctx, o.sessionTimeout);
    if (o.collectSessions) {
      if (this.role !== "client") throw new TypeError("collectSessions is for clients");
      // The new-session callback is how a client learns of each ticket as it
      // arrives; OpenSSL calls it only with client caching on. Nothing is
      // stored in the context itself.
      ffi.SSL_CTX_set_session_cache_mode(ctx, C.SSL_SESS_CACHE_CLIENT | C.SSL_SESS_CACHE_NO_INTERNAL_STORE);
      ffi.SSL_CTX_set_session_callbacks(ctx, 1);
      this.collectsSessions = true;
    }
    if (this.role === "server") {
      ffi.SSL_CTX_set_session_cache_mode(ctx, o.sessionCache === false ? C.SSL_SESS_CACHE_OFF : C.SSL_SESS_CACHE_SERVER);
      // A session ID context lets sessions resume when client certificates are verified.
      ossl.withBytes(new TextEncoder().encode("openssl-wasm"), (p, n) => ffi.SSL_CTX_set_session_id_context(ctx, p, n));
    }

    if (o.cert !== undefined || o.key !== undefined) {
      if (o.cert === undefined || o.key === undefined) throw new TypeError("cert and key must be given together");
      const [leaf, ...chain] = readCertificates(ossl, o.cert, "cert");
      try {
        if (!ffi.SSL_CTX_use_certificate(ctx, leaf!)) fail("SSL_CTX_use_certificate failed");
        for (const x of [...chain, ...list(o.chain).flatMap((c) => readCertificates(ossl, c, "chain"))]) {
          const ok = ffi.SSL_CTX_add1_chain_cert(ctx, x);
          ffi.X509_free(x);
          if (!ok) fail("SSL_CTX_add1_chain_cert failed");
        }
      } finally {
        ffi.X509_free(leaf!);
      }
      const key = readPrivateKey(ossl, o.key, o.passphrase);
      const ok = ffi.SSL_CTX_use_PrivateKey(ctx, key);
      ffi.EVP_PKEY_free(key);
      if (!ok) fail("SSL_CTX_use_PrivateKey failed");
      if (!ffi.SSL_CTX_check_private_key(ctx)) fail("the key does not match the certificate");
    }

    if (o.ca !== "none") {
      const entries = o.ca === undefined ? (this.role === "client" && defaultRoots() ? ["default" as const] : []) : list(o.ca);
      if (entries.length === 1 && entries[0] === "default") {
        ffi.SSL_CTX_set1_cert_store(ctx, defaultStore(ossl)); // shared, read-only: no parsing per context
      } else {
        const store = ffi.SSL_CTX_get_cert_store(ctx);
        for (const x of entries.flatMap((ca) => caCertificates(ossl, ca))) {
          const ok = ffi.X509_STORE_add_cert(store, x);
          ffi.X509_free(x);
          if (!ok) fail("X509_STORE_add_cert failed");
        }
      }
    }
    if (o.verify !== undefined && typeof o.verify !== "boolean") throw new TypeError("verify must be a boolean");
    let mode: number;
    if (this.role === "client") {
      // Secure by default: skipping verification takes two explicit words.
      if (o.verify === false && o.ca !== "none") {
        throw new TypeError('verify: false also needs ca: "none" (certificate verification is only skipped when both say so)');
      }
      this.verificationDisabled = o.verify === false;
      mode = this.verificationDisabled ? C.SSL_VERIFY_NONE : C.SSL_VERIFY_PEER;
    } else {
      const want = o.clientCertificate ?? (o.verify ? "require" : "none");
      if (want !== "none" && want !== "request" && want !== "require") throw new TypeError('clientCertificate must be "none", "request" or "require"');
      mode = want === "none" ? C.SSL_VERIFY_NONE
        : want === "request" ? C.SSL_VERIFY_PEER : C.SSL_VERIFY_PEER | C.SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    }
    ffi.SSL_CTX_set_verify(ctx, mode, mode === C.SSL_VERIFY_NONE ? 0 : 1);
    if (o.verifyDepth !== undefined) ffi.SSL_CTX_set_verify_depth(ctx, o.verifyDepth);

    if (o.sni !== undefined) {
      if (this.role !== "server") throw new TypeError("sni certificates are for servers");
      for (const [name, id] of Object.entries(o.sni)) {
        // Each name's context shares everything but the certificate with this one.
        const { sni: _, cert: _c, key: _k, chain: _ch, passphrase: _p, ...shared } = o;
        this.#sni.set(name.toLowerCase(), new Context(ossl, { ...shared, ...id }));
      }
      if (!ffi.SSL_CTX_set_servername_callback(ctx, 1)) fail("SSL_CTX_set_tlsext_servername_callback failed");
    }

    if (o.ticketKeys !== undefined) this.setTicketKeys(o.ticketKeys);
    if (o.ocsp !== undefined && o.ocsp !== "off") {
      if (this.role !== "client" || (o.ocsp !== "request" && o.ocsp !== "require")) throw new TypeError('ocsp is "off", "request" or "require", for clients');
      this.ocsp = o.ocsp;
      ffi.SSL_CTX_set_status_callback(ctx, 1);
    }
    if (o.ocspResponse !== undefined) {
      if (this.role !== "server" || !(o.ocspResponse instanceof Uint8Array)) throw new TypeError("ocspResponse is DER bytes, for servers");
      this.#ocspResponse = o.ocspResponse;
      ffi.SSL_CTX_set_status_callback(ctx, 1);
    }
    if (o.alpnSelect !== undefined) {
      if (this.role !== "server" || typeof o.alpnSelect !== "function") throw new TypeError("alpnSelect is a function, for servers");
      this.#alpnSelect = o.alpnSelect;
      ffi.SSL_CTX_set_alpn_select_callback(ctx, 1);
    } else if (o.alpn !== undefined) {
      const names = [...o.alpn];
      const wire = encodeAlpn(names);
      if (this.role === "client") {
        // SSL_CTX_set_alpn_protos returns 0 on success.
        if (ossl.withBytes(wire, (p, n) => ffi.SSL_CTX_set_alpn_protos(ctx, p, n)) !== 0) fail("SSL_CTX_set_alpn_protos failed");
      } else {
        this.#serverAlpn = names;
        ffi.SSL_CTX_set_alpn_select_callback(ctx, 1);
      }
    }
  }

  /** The SSL_CTX pointer; throws UseAfterFreeError after dispose(). */
  get ptr(): Ptr<"SSL_CTX"> {
    if (!this.#ptr) throw new UseAfterFreeError("Context");
    return this.#ptr;
  }

  /** Whether dispose() was called. */
  get disposed(): boolean {
    return this.#ptr === 0;
  }

  /** Creates a connection (SSL object with memory BIOs). */
  createConnection(options: ConnectionOptions = {}): Connection {
    return new Connection(this, options);
  }

  /** SSL_CTX_get_quiet_shutdown / SSL_CTX_set_quiet_shutdown (applies to connections created later). */
  get quietShutdown(): boolean {
    return this.ossl.ffi.SSL_CTX_get_quiet_shutdown(this.ptr) === 1;
  }
  set quietShutdown(on: boolean) {
    this.ossl.ffi.SSL_CTX_set_quiet_shutdown(this.ptr, on ? 1 : 0);
  }

  /** SSL_CTX_get_options. */
  get options(): bigint {
    return this.ossl.ffi.SSL_CTX_get_options(this.ptr);
  }

  /**
   * Servers: replaces the session ticket keys (80 bytes: name, HMAC and AES
   * keys; SSL_CTX_set_tlsext_ticket_keys). Tickets issued under the old keys
   * no longer resume: rotate them to bound how long a stolen key matters.
   */
  setTicketKeys(keys: Uint8Array): void {
    if (this.role !== "server") throw new TypeError("ticket keys are for servers");
    if (!(keys instanceof Uint8Array) || keys.length !== 80) throw new RangeError("ticket keys are 80 bytes");
    const { ossl } = this;
    if (ossl.withBytes(keys, (p, n) => ossl.ffi.SSL_CTX_ctrl(this.ptr, C.SSL_CTRL_SET_TLSEXT_TICKET_KEYS, n, p as AnyPtr)) !== 1) {
      throw ossl.error("SSL_CTX_set_tlsext_ticket_keys failed");
    }
  }

  /** Number of sessions in the server's cache (SSL_CTX_sess_number). */
  get cachedSessions(): number {
    return this.ossl.ffi.SSL_CTX_sess_number(this.ptr);
  }

  /** @internal Server ALPN selection (trampoline): offset of the chosen protocol in the client's list, or -1. */
  _selectAlpn(inp: number, inlen: number): number {
    const offered: [string, number][] = [];
    const h = this.ossl.heap;
    for (let i = 0; i < inlen;) {
      const n = h[inp + i]!;
      offered.push([new TextDecoder().decode(h.subarray(inp + i + 1, inp + i + 1 + n)), i]);
      i += 1 + n;
    }
    if (this.#alpnSelect) {
      const choice = this.#alpnSelect(offered.map(([name]) => name));
      return offered.find(([name]) => name === choice)?.[1] ?? -1;
    }
    for (const want of this.#serverAlpn ?? []) {
      const hit = offered.find(([name]) => name === want);
      if (hit) return hit[1];
    }
    return -1; // no_application_protocol (RFC 7301)
  }

  /**
   * @internal Servername callback (trampoline): switch the connection to the
   * context for the name the client asked for, if there is one.
   */
  _selectSni(ssl: Ptr<"SSL">): number {
    const { ffi } = this.ossl;
    const name = this.ossl.string(ffi.SSL_get_servername(ssl, C.TLSEXT_NAMETYPE_host_name)).toLowerCase();
    const ctx = this.#sni.get(name);
    if (ctx && !ffi.SSL_set_SSL_CTX(ssl, ctx.ptr)) return C.SSL_TLSEXT_ERR_ALERT_FATAL;
    return C.SSL_TLSEXT_ERR_OK; // unknown names get the default certificate
  }

  /**
   * @internal Status callback (trampoline). Servers staple their response
   * (SSL_TLSEXT_ERR_OK) or nothing (NOACK); clients check what was stapled
   * and, with ocsp: "require", refuse (0) anything but "good".
   */
  _onStatus(conn: Connection): number {
    const { ffi } = this.ossl;
    if (this.role === "server") {
      const der = this.#ocspResponse;
      if (!der) return C.SSL_TLSEXT_ERR_NOACK;
      const ok = this.ossl.withBytes(der, (p, n) => ffi.SSL_set_ocsp_response(conn.ptr, p, n));
      return ok ? C.SSL_TLSEXT_ERR_OK : C.SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    const status = ({ 0: "good", 1: "revoked", 2: "unknown", [-1]: "none" } as Record<number, OcspStatus>)[ffi.SSL_check_ocsp(conn.ptr)] ?? "invalid";
    conn.ocspStatus = status;
    ffi.ERR_clear_error();
    return this.ocsp === "require" && status !== "good" ? 0 : 1;
  }

  /** Frees the SSL_CTX after disposing every connection created from it. */
  dispose(): void {
    if (!this.#ptr) return;
    for (const c of [...this.connections]) c.dispose();
    for (const c of this.#sni.values()) c.dispose();
    this.ossl.ffi.SSL_CTX_free(this.#ptr);
    this.#ptr = 0;
  }
}

// `[Symbol.dispose]()`, for `using` (engine/dispose.ts: keyed so that it works where Symbol.dispose is missing)
export interface Context extends Disposable {}
disposable(Context);

/**
 * The root stores' certificates, parsed once per OpenSSL instance (the 142
 * default roots took ~29 ms and ~600 KiB per context when every context
 * parsed them), and the X509_STORE of exactly the default roots, which every
 * context trusting only them shares (SSL_CTX_set1_cert_store; nothing
 * modifies a context's store after its creation).
 */
const parsedRoots = new WeakMap<OpenSSL, Map<"default" | "system", Ptr<"X509">[]>>();
const defaultStores = new WeakMap<OpenSSL, Ptr<"X509_STORE">>();

function roots(ossl: OpenSSL, which: "default" | "system"): Ptr<"X509">[] {
  let byName = parsedRoots.get(ossl);
  if (!byName) parsedRoots.set(ossl, (byName = new Map()));
  let certs = byName.get(which);
  if (!certs) {
    if (which === "default") {
      const store = defaultRoots();
      if (!store) throw new TypeError('ca: "default" needs the root store: await OpenSSL.loadDefaultRoots() first');
      certs = store.certificates.flatMap((der) => readCertificates(ossl, der, "default root"));
    } else {
      certs = systemRoots().flatMap((pem) => readCertificates(ossl, pem, "system root"));
    }
    byName.set(which, certs);
  }
  return certs;
}

function defaultStore(ossl: OpenSSL): Ptr<"X509_STORE"> {
  let store = defaultStores.get(ossl);
  if (!store) {
    const { ffi } = ossl;
    const certs = roots(ossl, "default");
    store = ffi.X509_STORE_new();
    if (!store) throw ossl.error("X509_STORE_new failed");
    for (const x of certs) {
      if (!ffi.X509_STORE_add_cert(store, x)) {
        ffi.X509_STORE_free(store);
        throw ossl.error("X509_STORE_add_cert failed");
      }
    }
    defaultStores.set(ossl, store);
  }
  return store;
}

/** The certificates one `ca` entry stands for (caller frees them: roots come as new references). */
function caCertificates(ossl: OpenSSL, ca: CaEntry): Ptr<"X509">[] {
  if (ca === "default" || ca === "system") {
    const certs = roots(ossl, ca);
    for (const x of certs) ossl.ffi.X509_up_ref(x);
    return [...certs];
  }
  return readCertificates(ossl, ca, "ca");
}

function encodeAlpn(names: string[]): Uint8Array {
  const parts = names.map((n) => {
    if (typeof n !== "string") throw new TypeError("alpn entries must be strings");
    const b = new TextEncoder().encode(n);
    if (b.length === 0 || b.length > 255) throw new RangeError(`alpn protocol names must be 1..255 bytes: ${JSON.stringify(n)}`);
    return b;
  });
  const out = new Uint8Array(parts.reduce((s, b) => s + 1 + b.length, 0));
  let at = 0;
  for (const b of parts) {
    out[at++] = b.length;
    out.set(b, at);
    at += b.length;
  }
  return out;
}

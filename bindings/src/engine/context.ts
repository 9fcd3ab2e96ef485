/**
 * TlsContext: an SSL_CTX, the configuration shared by connections.
 */
import * as C from "../generated/constants.js";
import type { AnyPtr, Ptr } from "../generated/ffi.js";
import { TlsConnection, type ConnectionOptions } from "./connection.js";
import { disposable } from "./dispose.js";
import { UseAfterFreeError } from "./errors.js";
import type { OpenSSL } from "./openssl.js";
import { readCertificates, readPrivateKey, type PemOrDer } from "./pki.js";
import { defaultRoots } from "./roots.js";
import type { Runtime } from "./runtime.js";
import { caCertificates, defaultStore, type CaEntry } from "./trust.js";
import type { OcspStatus, ProtocolVersion } from "./types.js";

/** TLS 1.3 suites when `ciphersuites` is not given: OpenSSL's three, ChaCha20-Poly1305 first. */
export const DEFAULT_CIPHERSUITES = "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384";
/** TLS 1.2 cipher list when `ciphers` is not given: OpenSSL's DEFAULT with its ECDHE ChaCha20-Poly1305 suites first. */
export const DEFAULT_CIPHERS = "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DEFAULT";
const VERSIONS: Record<ProtocolVersion, number> = { "TLSv1.2": C.TLS1_2_VERSION, "TLSv1.3": C.TLS1_3_VERSION };

/** A certificate of a server's `sni` table. */
export interface SniIdentity {
  /** Certificate (PEM: the leaf first, then its chain; or DER of the leaf). */
  cert: PemOrDer;
  /** Private key (PEM, optionally encrypted, or DER). */
  key: PemOrDer;
  /** Extra chain certificates. */
  chain?: PemOrDer | readonly PemOrDer[];
  /** Passphrase of an encrypted PEM key. */
  passphrase?: string;
}

/** Options of OpenSSL.createContext(). */
export interface ContextOptions {
  /** Client (SSL_connect side) or server (SSL_accept side). */
  role: "client" | "server";
  /** SSL_CTX_set_min_proto_version. This build has TLS 1.2 and 1.3 only. */
  minVersion?: ProtocolVersion;
  /** SSL_CTX_set_max_proto_version. */
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
  sni?: Readonly<Record<string, SniIdentity>>;
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
  /**
   * ALPN protocols (Deno's and the WinterTC name; Node's `ALPNProtocols`):
   * offered by a client, or accepted by a server in its order of preference.
   * The result is `info.alpnProtocol`.
   */
  alpnProtocols?: readonly string[];
  /**
   * Servers: choose the ALPN protocol from the client's offer (return one of
   * them, or undefined to refuse with no_application_protocol; Node's
   * `ALPNCallback`). Overrides `alpnProtocols`.
   */
  alpnCallback?: (offered: string[]) => string | undefined;
  /**
   * Clients: turn on OpenSSL's client session cache without its internal
   * store (SSL_SESS_CACHE_CLIENT | NO_INTERNAL_STORE) and the new-session
   * callback, so connections can take each session as it arrives
   * (TlsConnection onSession). With it, OpenSSL treats TLS 1.3 tickets as
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

/**
 * A set of connections' shared configuration (SSL_CTX). Dispose it when
 * done (`using` works): that disposes its live connections too.
 * @see https://docs.openssl.org/3.5/man3/SSL_CTX_new/
 */
export class TlsContext {
  /** The OpenSSL instance it belongs to. */
  readonly openssl: OpenSSL;
  /** Client (SSL_connect side) or server (SSL_accept side). */
  readonly role: "client" | "server";
  readonly #rt: Runtime;
  /** Live connections, disposed with the context. */
  readonly #connections = new Set<TlsConnection>();
  #ptr: Ptr<"SSL_CTX"> | 0;
  #serverAlpn: string[] | undefined;
  #alpnCallback: ((offered: string[]) => string | undefined) | undefined;
  /** SNI host name (lower case) -> its own context (servers with `sni`). */
  readonly #sni = new Map<string, TlsContext>();
  #verificationDisabled = false;
  #collectsSessions = false;
  #ocsp: "off" | "request" | "require" = "off";
  #ocspResponse: Uint8Array | undefined;

  /** @internal Use OpenSSL.createContext(). */
  constructor(openssl: OpenSSL, rt: Runtime, options: ContextOptions) {
    if (options === null || typeof options !== "object") throw new TypeError("createContext: options must be an object");
    if (options.role !== "client" && options.role !== "server") {
      throw new TypeError(`createContext: role must be "client" or "server", got ${JSON.stringify(options.role)}`);
    }
    this.openssl = openssl;
    this.#rt = rt;
    this.role = options.role;
    const { ffi } = rt;
    ffi.ERR_clear_error();
    const ctx = ffi.SSL_CTX_new(this.role === "client" ? ffi.TLS_client_method() : ffi.TLS_server_method());
    if (!ctx) throw rt.error("SSL_CTX_new failed");
    this.#ptr = ctx;
    try {
      this.#configure(options);
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  /** Each concern in turn; a failure throws, and the constructor disposes what was made. */
  #configure(o: ContextOptions): void {
    this.#protocol(o);
    this.#optionBits(o);
    this.#sessions(o);
    this.#identity(o);
    this.#trust(o);
    this.#verification(o);
    this.#sniContexts(o);
    this.#stapling(o);
    this.#alpn(o);
  }

  #fail(what: string): never {
    throw this.#rt.error(what);
  }

  /** Versions, buffer modes, cipher suites, groups, signature algorithms, security level. */
  #protocol(o: ContextOptions): void {
    const rt = this.#rt;
    const { ffi } = rt;
    const ctx = this.ptr;
    const version = (v: ProtocolVersion | undefined, what: string) => {
      if (v === undefined) return 0;
      if (!(v in VERSIONS)) throw new RangeError(`${what} must be "TLSv1.2" or "TLSv1.3", got ${JSON.stringify(v)}`);
      return VERSIONS[v];
    };
    const min = version(o.minVersion, "minVersion");
    const max = version(o.maxVersion, "maxVersion");
    if (min && !ffi.SSL_CTX_set_min_proto_version(ctx, min)) this.#fail("SSL_CTX_set_min_proto_version failed");
    if (max && !ffi.SSL_CTX_set_max_proto_version(ctx, max)) this.#fail("SSL_CTX_set_max_proto_version failed");

    // A moved write buffer is fine: write() copies into a shared scratch buffer.
    // Released buffers: OpenSSL frees its 17 KiB record buffers while a
    // connection is idle (with our draining BIOs, an idle connection then
    // holds ~23 KiB instead of ~98 KiB; no measurable cost to bulk transfer).
    ffi.SSL_CTX_set_mode(ctx, C.SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | C.SSL_MODE_RELEASE_BUFFERS);

    // ChaCha20-Poly1305 first unless the caller chose (README: Defaults): in
    // WebAssembly it is the fastest constant-time suite, 2-3x AES-GCM.
    const ciphers = o.ciphers ?? DEFAULT_CIPHERS;
    const ciphersuites = o.ciphersuites ?? DEFAULT_CIPHERSUITES;
    if (!rt.withCString(ciphers, (p) => ffi.SSL_CTX_set_cipher_list(ctx, p))) this.#fail(`invalid ciphers "${ciphers}"`);
    if (!rt.withCString(ciphersuites, (p) => ffi.SSL_CTX_set_ciphersuites(ctx, p))) this.#fail(`invalid ciphersuites "${ciphersuites}"`);
    if (o.groups !== undefined) {
      const groups = typeof o.groups === "string" ? o.groups : o.groups.join(":");
      if (!rt.withCString(groups, (p) => ffi.SSL_CTX_set1_groups_list(ctx, p))) this.#fail(`invalid groups "${groups}"`);
    }
    if (o.sigalgs !== undefined && !rt.withCString(o.sigalgs, (p) => ffi.SSL_CTX_set1_sigalgs_list(ctx, p))) this.#fail(`invalid sigalgs "${o.sigalgs}"`);
    if (o.securityLevel !== undefined) ffi.SSL_CTX_set_security_level(ctx, o.securityLevel);
  }

  /** SSL_OP_* bits: the caller's, server preference by default, unexpected EOF, tickets; quiet shutdown. */
  #optionBits(o: ContextOptions): void {
    const { ffi } = this.#rt;
    const ctx = this.ptr;
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
  }

  /** Session caching: the client's collected sessions, the server's cache and ID context, ticket keys. */
  #sessions(o: ContextOptions): void {
    const rt = this.#rt;
    const { ffi } = rt;
    const ctx = this.ptr;
    if (o.sessionTimeout !== undefined) ffi.SSL_CTX_set_timeout(ctx, o.sessionTimeout);
    if (o.collectSessions) {
      if (this.role !== "client") throw new TypeError("collectSessions is for clients");
      // The new-session callback is how a client learns of each ticket as it
      // arrives; OpenSSL calls it only with client caching on. Nothing is
      // stored in the context itself.
      ffi.SSL_CTX_set_session_cache_mode(ctx, C.SSL_SESS_CACHE_CLIENT | C.SSL_SESS_CACHE_NO_INTERNAL_STORE);
      ffi.SSL_CTX_set_session_callbacks(ctx, 1);
      this.#collectsSessions = true;
    }
    if (this.role === "server") {
      ffi.SSL_CTX_set_session_cache_mode(ctx, o.sessionCache === false ? C.SSL_SESS_CACHE_OFF : C.SSL_SESS_CACHE_SERVER);
      // A session ID context lets sessions resume when client certificates are verified.
      rt.withBytes(new TextEncoder().encode("openssl-wasm"), (p, n) => ffi.SSL_CTX_set_session_id_context(ctx, p, n));
    }
    if (o.ticketKeys !== undefined) this.setTicketKeys(o.ticketKeys);
  }

  /** The certificate, its chain and the private key. */
  #identity(o: ContextOptions): void {
    if (o.cert === undefined && o.key === undefined) return;
    if (o.cert === undefined || o.key === undefined) throw new TypeError("cert and key must be given together");
    const rt = this.#rt;
    const { ffi } = rt;
    const ctx = this.ptr;
    const [leaf, ...chain] = readCertificates(rt, o.cert, "cert");
    try {
      if (!ffi.SSL_CTX_use_certificate(ctx, leaf!)) this.#fail("SSL_CTX_use_certificate failed");
      for (const x of [...chain, ...list(o.chain).flatMap((c) => readCertificates(rt, c, "chain"))]) {
        const ok = ffi.SSL_CTX_add1_chain_cert(ctx, x);
        ffi.X509_free(x);
        if (!ok) this.#fail("SSL_CTX_add1_chain_cert failed");
      }
    } finally {
      ffi.X509_free(leaf!);
    }
    const key = readPrivateKey(rt, o.key, o.passphrase);
    const ok = ffi.SSL_CTX_use_PrivateKey(ctx, key);
    ffi.EVP_PKEY_free(key);
    if (!ok) this.#fail("SSL_CTX_use_PrivateKey failed");
    if (!ffi.SSL_CTX_check_private_key(ctx)) this.#fail("the key does not match the certificate");
  }

  /** The trusted certificates (`ca`). */
  #trust(o: ContextOptions): void {
    if (o.ca === "none") return;
    const rt = this.#rt;
    const { ffi } = rt;
    const ctx = this.ptr;
    const entries = o.ca === undefined ? (this.role === "client" && defaultRoots() ? ["default" as const] : []) : list(o.ca);
    if (entries.length === 1 && entries[0] === "default") {
      ffi.SSL_CTX_set1_cert_store(ctx, defaultStore(rt)); // shared, read-only: no parsing per context
      return;
    }
    const store = ffi.SSL_CTX_get_cert_store(ctx);
    for (const x of entries.flatMap((ca) => caCertificates(rt, ca))) {
      const ok = ffi.X509_STORE_add_cert(store, x);
      ffi.X509_free(x);
      if (!ok) this.#fail("X509_STORE_add_cert failed");
    }
  }

  /** The verify mode: clients always verify unless told twice; servers as `clientCertificate` says. */
  #verification(o: ContextOptions): void {
    const { ffi } = this.#rt;
    if (o.verify !== undefined && typeof o.verify !== "boolean") throw new TypeError("verify must be a boolean");
    let mode: number;
    if (this.role === "client") {
      // Secure by default: skipping verification takes two explicit words.
      if (o.verify === false && o.ca !== "none") {
        throw new TypeError('verify: false also needs ca: "none" (certificate verification is only skipped when both say so)');
      }
      this.#verificationDisabled = o.verify === false;
      mode = this.#verificationDisabled ? C.SSL_VERIFY_NONE : C.SSL_VERIFY_PEER;
    } else {
      const want = o.clientCertificate ?? (o.verify ? "require" : "none");
      if (want !== "none" && want !== "request" && want !== "require") throw new TypeError('clientCertificate must be "none", "request" or "require"');
      mode = want === "none" ? C.SSL_VERIFY_NONE
        : want === "request" ? C.SSL_VERIFY_PEER : C.SSL_VERIFY_PEER | C.SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    }
    ffi.SSL_CTX_set_verify(this.ptr, mode, mode === C.SSL_VERIFY_NONE ? 0 : 1);
    if (o.verifyDepth !== undefined) ffi.SSL_CTX_set_verify_depth(this.ptr, o.verifyDepth);
  }

  /** Servers: a context per SNI name, chosen in the servername callback. */
  #sniContexts(o: ContextOptions): void {
    if (o.sni === undefined) return;
    if (this.role !== "server") throw new TypeError("sni certificates are for servers");
    for (const [name, id] of Object.entries(o.sni)) {
      // Each name's context shares everything but the certificate with this one.
      const { sni: _, cert: _c, key: _k, chain: _ch, passphrase: _p, ...shared } = o;
      this.#sni.set(name.toLowerCase(), new TlsContext(this.openssl, this.#rt, { ...shared, ...id }));
    }
    if (!this.#rt.ffi.SSL_CTX_set_servername_callback(this.ptr, 1)) this.#fail("SSL_CTX_set_tlsext_servername_callback failed");
  }

  /** OCSP stapling: clients ask and check, servers staple. */
  #stapling(o: ContextOptions): void {
    const { ffi } = this.#rt;
    if (o.ocsp !== undefined && o.ocsp !== "off") {
      if (this.role !== "client" || (o.ocsp !== "request" && o.ocsp !== "require")) throw new TypeError('ocsp is "off", "request" or "require", for clients');
      this.#ocsp = o.ocsp;
      ffi.SSL_CTX_set_status_callback(this.ptr, 1);
    }
    if (o.ocspResponse !== undefined) {
      if (this.role !== "server" || !(o.ocspResponse instanceof Uint8Array)) throw new TypeError("ocspResponse is DER bytes, for servers");
      this.#ocspResponse = o.ocspResponse;
      ffi.SSL_CTX_set_status_callback(this.ptr, 1);
    }
  }

  /** ALPN: the client's offer, or the server's choice (its list or its callback). */
  #alpn(o: ContextOptions): void {
    const rt = this.#rt;
    const { ffi } = rt;
    if (o.alpnCallback !== undefined) {
      if (this.role !== "server" || typeof o.alpnCallback !== "function") throw new TypeError("alpnCallback is a function, for servers");
      this.#alpnCallback = o.alpnCallback;
      ffi.SSL_CTX_set_alpn_select_callback(this.ptr, 1);
    } else if (o.alpnProtocols !== undefined) {
      if (!Array.isArray(o.alpnProtocols)) throw new TypeError("alpnProtocols must be an array of strings");
      const names = [...o.alpnProtocols];
      const wire = encodeAlpn(names);
      if (this.role === "client") {
        // SSL_CTX_set_alpn_protos returns 0 on success.
        if (rt.withBytes(wire, (p, n) => ffi.SSL_CTX_set_alpn_protos(this.ptr, p, n)) !== 0) this.#fail("SSL_CTX_set_alpn_protos failed");
      } else {
        this.#serverAlpn = names;
        ffi.SSL_CTX_set_alpn_select_callback(this.ptr, 1);
      }
    }
  }

  /** @internal The SSL_CTX pointer; throws UseAfterFreeError after dispose(). */
  get ptr(): Ptr<"SSL_CTX"> {
    if (!this.#ptr) throw new UseAfterFreeError("TlsContext");
    return this.#ptr;
  }

  /** Whether dispose() was called. */
  get disposed(): boolean {
    return this.#ptr === 0;
  }

  /** Clients: verification was explicitly switched off (verify: false with ca: "none"). */
  get verificationDisabled(): boolean {
    return this.#verificationDisabled;
  }

  /** Clients: created with collectSessions (TlsConnection onSession works). */
  get collectsSessions(): boolean {
    return this.#collectsSessions;
  }

  /** Clients: OCSP stapling requested, required, or off. */
  get ocsp(): "off" | "request" | "require" {
    return this.#ocsp;
  }

  /** Live connections created from it. */
  get connectionCount(): number {
    return this.#connections.size;
  }

  /** Creates a connection (an SSL object with memory BIOs). */
  createConnection(options: ConnectionOptions = {}): TlsConnection {
    return new TlsConnection(this, this.#rt, options);
  }

  /** SSL_CTX_get_quiet_shutdown / SSL_CTX_set_quiet_shutdown (applies to connections created later). @see https://docs.openssl.org/3.5/man3/SSL_CTX_set_quiet_shutdown/ */
  get quietShutdown(): boolean {
    return this.#rt.ffi.SSL_CTX_get_quiet_shutdown(this.ptr) === 1;
  }
  /** SSL_CTX_set_quiet_shutdown. */
  set quietShutdown(on: boolean) {
    this.#rt.ffi.SSL_CTX_set_quiet_shutdown(this.ptr, on ? 1 : 0);
  }

  /** SSL_CTX_get_options. @see https://docs.openssl.org/3.5/man3/SSL_CTX_set_options/ */
  get options(): bigint {
    return this.#rt.ffi.SSL_CTX_get_options(this.ptr);
  }

  /**
   * Servers: replaces the session ticket keys (80 bytes: name, HMAC and AES
   * keys; SSL_CTX_set_tlsext_ticket_keys). Tickets issued under the old keys
   * no longer resume: rotate them to bound how long a stolen key matters.
   * @see https://docs.openssl.org/3.5/man3/SSL_CTX_set_tlsext_ticket_key_cb/
   */
  setTicketKeys(keys: Uint8Array): void {
    if (this.role !== "server") throw new TypeError("ticket keys are for servers");
    if (!(keys instanceof Uint8Array) || keys.length !== 80) throw new RangeError("ticket keys are 80 bytes");
    const rt = this.#rt;
    if (rt.withBytes(keys, (p, n) => rt.ffi.SSL_CTX_ctrl(this.ptr, C.SSL_CTRL_SET_TLSEXT_TICKET_KEYS, n, p as AnyPtr)) !== 1) {
      throw rt.error("SSL_CTX_set_tlsext_ticket_keys failed");
    }
  }

  /** Number of sessions in the server's cache (SSL_CTX_sess_number). @see https://docs.openssl.org/3.5/man3/SSL_CTX_sess_number/ */
  get cachedSessions(): number {
    return this.#rt.ffi.SSL_CTX_sess_number(this.ptr);
  }

  /** @internal A connection created from it (disposed with it). */
  _adopt(conn: TlsConnection): void {
    this.#connections.add(conn);
  }

  /** @internal A connection was disposed. */
  _release(conn: TlsConnection): void {
    this.#connections.delete(conn);
  }

  /** @internal Server ALPN selection: offset of the chosen protocol in the client's list, or -1. */
  _selectAlpn(inp: number, inlen: number): number {
    const offered: [string, number][] = [];
    const rt = this.#rt;
    const h = rt.heap;
    for (let i = 0; i < inlen;) {
      const n = h[inp + i]!;
      offered.push([rt.text(inp + i + 1, n), i]);
      i += 1 + n;
    }
    if (this.#alpnCallback) {
      const choice = this.#alpnCallback(offered.map(([name]) => name));
      return offered.find(([name]) => name === choice)?.[1] ?? -1;
    }
    for (const want of this.#serverAlpn ?? []) {
      const hit = offered.find(([name]) => name === want);
      if (hit) return hit[1];
    }
    return -1; // no_application_protocol (RFC 7301)
  }

  /** @internal Servername callback: switch the connection to the context for the name asked for, if any. */
  _selectSni(ssl: Ptr<"SSL">): number {
    const rt = this.#rt;
    const name = rt.string(rt.ffi.SSL_get_servername(ssl, C.TLSEXT_NAMETYPE_host_name)).toLowerCase();
    const ctx = this.#sni.get(name);
    if (ctx && !rt.ffi.SSL_set_SSL_CTX(ssl, ctx.ptr)) return C.SSL_TLSEXT_ERR_ALERT_FATAL;
    return C.SSL_TLSEXT_ERR_OK; // unknown names get the default certificate
  }

  /**
   * @internal Status callback. Servers staple their response
   * (SSL_TLSEXT_ERR_OK) or nothing (NOACK); clients check what was stapled
   * (wasm/shim.c: ow_SSL_check_ocsp) and, with ocsp: "require", refuse (0)
   * anything but "good".
   */
  _onStatus(ssl: Ptr<"SSL">): { ret: number; status?: OcspStatus } {
    const rt = this.#rt;
    const { ffi } = rt;
    if (this.role === "server") {
      const der = this.#ocspResponse;
      if (!der) return { ret: C.SSL_TLSEXT_ERR_NOACK };
      const ok = rt.withBytes(der, (p, n) => ffi.SSL_set_ocsp_response(ssl, p, n));
      return { ret: ok ? C.SSL_TLSEXT_ERR_OK : C.SSL_TLSEXT_ERR_ALERT_FATAL };
    }
    const status = ({ 0: "good", 1: "revoked", 2: "unknown", [-1]: "none" } as Record<number, OcspStatus>)[ffi.SSL_check_ocsp(ssl)] ?? "invalid";
    ffi.ERR_clear_error();
    return { ret: this.#ocsp === "require" && status !== "good" ? 0 : 1, status };
  }

  /** Frees the SSL_CTX after disposing every connection created from it. Idempotent. @see https://docs.openssl.org/3.5/man3/SSL_CTX_free/ */
  dispose(): void {
    if (!this.#ptr) return;
    for (const c of [...this.#connections]) c.dispose();
    for (const c of this.#sni.values()) c.dispose();
    this.#rt.ffi.SSL_CTX_free(this.#ptr);
    this.#ptr = 0;
  }
}

// `[Symbol.dispose]()`, for `using` (engine/dispose.ts: keyed so that it works where Symbol.dispose is missing)
export interface TlsContext extends Disposable {}
disposable(TlsContext);

function encodeAlpn(names: string[]): Uint8Array {
  const parts = names.map((n) => {
    if (typeof n !== "string") throw new TypeError("alpnProtocols entries must be strings");
    const b = new TextEncoder().encode(n);
    if (b.length === 0 || b.length > 255) throw new RangeError(`ALPN protocol names must be 1..255 bytes: ${JSON.stringify(n)}`);
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

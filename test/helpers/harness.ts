/**
 * Test harness: two engine connections (client and server in the same wasm
 * module) joined by explicit byte transfers, like OpenSSL's own
 * test/helpers/ssltestlib.c. Nothing moves unless a test moves it, so a test
 * can hold bytes back, cut the transport, or deliver one byte at a time.
 */
import { afterEach, beforeEach, expect } from "vitest";
import {
  OpenSSL, type TlsConnection, type ConnectionOptions, type TlsContext, type ContextOptions,
  type ProtocolVersion, type Result,
} from "../../bindings/src/index.js";
import { selfSigned, type Identity, type KeyType } from "./pki.js";

export const SERVER_NAME = "server.test";
const identities = new Map<KeyType, Identity>();
/** A self-signed certificate for SERVER_NAME, made once per key type per test file. */
export function identity(type: KeyType = "ec-p256"): Identity {
  let id = identities.get(type);
  if (!id) identities.set(type, (id = selfSigned(SERVER_NAME, type)));
  return id;
}

export function load(): Promise<OpenSSL> {
  return OpenSSL.load();
}

export interface PairOptions {
  version?: ProtocolVersion;
  keyType?: KeyType;
  client?: Partial<ContextOptions>;
  server?: Partial<ContextOptions>;
  clientConnection?: ConnectionOptions;
  serverConnection?: ConnectionOptions;
  /** Reuse contexts (for resumption), instead of creating them. */
  clientContext?: TlsContext;
  serverContext?: TlsContext;
}

export function contexts(ossl: OpenSSL, o: PairOptions = {}): { cctx: TlsContext; sctx: TlsContext } {
  const id = identity(o.keyType);
  const v = o.version ? { minVersion: o.version, maxVersion: o.version } : {};
  const cctx = o.clientContext ?? ossl.createContext({ role: "client", ca: id.certPem, ...v, ...o.client });
  const sctx = o.serverContext ?? ossl.createContext({ role: "server", cert: id.certPem, key: id.keyPem, ...v, ...o.server });
  return { cctx, sctx };
}

/** A client and a server connection, and the wire between them. */
export class Pair {
  readonly client: TlsConnection;
  readonly server: TlsConnection;
  readonly cctx: TlsContext;
  readonly sctx: TlsContext;
  readonly #ownsContexts: boolean[];

  constructor(ossl: OpenSSL, o: PairOptions = {}) {
    const { cctx, sctx } = contexts(ossl, o);
    this.cctx = cctx;
    this.sctx = sctx;
    this.#ownsContexts = [!o.clientContext, !o.serverContext];
    this.client = cctx.createConnection({ servername: SERVER_NAME, ...o.clientConnection });
    this.server = sctx.createConnection(o.serverConnection ?? {});
  }

  /** Moves everything the client wrote to the server; returns the bytes. */
  toServer(): Uint8Array {
    const b = this.client.drain();
    if (b.length) this.server.feed(b);
    return b;
  }

  /** Moves everything the server wrote to the client; returns the bytes. */
  toClient(): Uint8Array {
    const b = this.server.drain();
    if (b.length) this.client.feed(b);
    return b;
  }

  /** Runs both handshakes to completion (every step must be 1 or WANT_READ). */
  handshake(): void {
    let c: Result = { ret: -1, sslError: "want_read" };
    let s: Result = { ret: -1, sslError: "want_read" };
    for (let i = 0; i < 20 && !(c.ret === 1 && s.ret === 1); i++) {
      if (c.ret !== 1) c = this.client.handshake();
      this.toServer();
      if (s.ret !== 1) s = this.server.handshake();
      this.toClient();
      for (const r of [c, s]) if (r.ret !== 1) expect(r.sslError, r.failure?.message).toBe("want_read");
    }
    expect([c.ret, s.ret]).toEqual([1, 1]);
  }

  /** A clean two-way close, client first (scenario 1). */
  closeCleanly(): void {
    expect(this.client.shutdown().ret).toBe(0);
    this.toServer();
    expect(this.server.read().sslError).toBe("zero_return");
    expect(this.server.shutdown().ret).toBe(1);
    this.toClient();
    expect(this.client.shutdown().ret).toBe(1);
  }

  dispose(): void {
    this.client.dispose();
    this.server.dispose();
    if (this.#ownsContexts[0]) this.cctx.dispose();
    if (this.#ownsContexts[1]) this.sctx.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** TLS records in `bytes`: outer content type and payload length. */
export function records(bytes: Uint8Array): { type: number; length: number }[] {
  const out: { type: number; length: number }[] = [];
  for (let at = 0; at + 5 <= bytes.length;) {
    const length = (bytes[at + 3]! << 8) | bytes[at + 4]!;
    out.push({ type: bytes[at]!, length });
    at += 5 + length;
  }
  return out;
}

export const text = (s: string) => new TextEncoder().encode(s);
export const str = (b: Uint8Array) => new TextDecoder().decode(b);

/** Asserts an OpenSSL result: ret, SSL_get_error name and (for failures) the reason code. */
export function expectResult(r: Result, ret: number, error: string, reason?: number): void {
  expect({ ret: r.ret, sslError: r.sslError }, r.failure?.message).toEqual({ ret, sslError: error });
  if (reason !== undefined) {
    expect(r.failure, `expected reason ${reason}`).toBeDefined();
    expect(r.failure!.reason, r.failure!.message).toBe(reason);
  } else if (error !== "ssl" && error !== "syscall") {
    expect(r.failure).toBeUndefined();
  }
}

/**
 * Heap slack per test: OpenSSL's own process-wide tables still grow by a
 * few bytes now and then once warmed up (at most 72 seen), while the
 * smallest leak these tests could make (a session) is over a kilobyte.
 */
export const HEAP_SLACK = 256;

/**
 * Allocates what OpenSSL keeps for the process once an algorithm is used
 * (providers, fetched methods, decoders): both versions with EC, Ed25519 and
 * RSA certificates and two groups, DER input, the I/O buffer at its largest.
 */
export function warmUp(ossl: OpenSSL): void {
  const runs: PairOptions[] = [
    { version: "TLSv1.2" }, { version: "TLSv1.3" }, { version: "TLSv1.2", client: { groups: "X25519:P-256" } },
    { version: "TLSv1.3", keyType: "ed25519" }, { version: "TLSv1.3", keyType: "rsa-2048" },
  ];
  for (const o of runs) {
    const p = new Pair(ossl, o);
    p.handshake();
    p.closeCleanly();
    p.dispose();
  }
  // The decoders of DER certificates and keys (OpenSSL caches them once used).
  const id = identity("ec-p256");
  const der = (pem: string) => Uint8Array.from(atob(pem.replace(/-----[^-]+-----|\s/g, "")), (c) => c.charCodeAt(0));
  ossl.createContext({ role: "server", cert: der(id.certPem), key: der(id.keyPem) }).dispose();
  ossl.randomBytes(256 * 1024);
}

/**
 * After each test of the file (and its `cleanup`), the wasm heap is back
 * where it was before the test, within HEAP_SLACK: every engine test frees
 * what it made (quickjs's assertNoMemoryAllocated, per test).
 */
export function expectHeapRestoredAfterEach(openssl: () => OpenSSL, cleanup: () => void = () => {}): void {
  let before = 0;
  beforeEach(() => {
    before = openssl().heapInUse();
  });
  afterEach(() => {
    cleanup();
    expect(openssl().heapInUse(), "wasm heap bytes after the test, against before it").toBeLessThanOrEqual(before + HEAP_SLACK);
  });
}

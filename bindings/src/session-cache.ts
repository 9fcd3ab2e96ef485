/**
 * The sessions TlsSocket clients keep for their next connection, so that
 * reconnecting resumes by default (an abbreviated handshake: no certificate
 * exchange, no new key pair). One cache per OpenSSL instance.
 *
 * A session is reused only by a connection made with the same options that
 * decide what a peer must prove (trust, verification, versions, ...) and to
 * the same server name: resuming skips the certificate check, so a session
 * verified under one configuration never stands in for another. TLS 1.3
 * tickets are used once (taken out); a TLS 1.2 session goes back after use.
 * Sessions OpenSSL marked not resumable (after an unclean end) are dropped.
 */
import type { TlsConnection } from "./engine/connection.js";
import type { OpenSSL } from "./engine/openssl.js";
import type { TlsSession } from "./engine/session.js";

/** At most this many sessions per server (the newest kept) and servers per instance (least recently used dropped). */
const PER_KEY = 4;
const MAX_KEYS = 256;

export class SessionCache {
  readonly #byKey = new Map<string, TlsSession[]>();

  /** The newest resumable session for `key`, taken out of the cache (the caller owns it), or undefined. */
  take(key: string): TlsSession | undefined {
    const list = this.#byKey.get(key);
    if (!list) return undefined;
    let found: TlsSession | undefined;
    while (!found && list.length) {
      const s = list.pop()!;
      if (s.resumable) found = s;
      else s.dispose();
    }
    if (!list.length) this.#byKey.delete(key);
    return found;
  }

  /** Keeps `session` for `key` (the cache owns it now). */
  put(key: string, session: TlsSession): void {
    let list = this.#byKey.get(key);
    if (list) this.#byKey.delete(key); // re-inserted below: most recently used last
    else list = [];
    list.push(session);
    while (list.length > PER_KEY) list.shift()!.dispose();
    this.#byKey.set(key, list);
    while (this.#byKey.size > MAX_KEYS) {
      const [oldest, sessions] = this.#byKey.entries().next().value as [string, TlsSession[]];
      for (const s of sessions) s.dispose();
      this.#byKey.delete(oldest);
    }
  }

  /** Sessions kept, over all servers. */
  get size(): number {
    let n = 0;
    for (const list of this.#byKey.values()) n += list.length;
    return n;
  }

  /** Forgets every session (disposing them). */
  clear(): void {
    for (const list of this.#byKey.values()) for (const s of list) s.dispose();
    this.#byKey.clear();
  }
}

const caches = new WeakMap<OpenSSL, SessionCache>();

/** The instance's cache. */
export function sessionCacheOf(ossl: OpenSSL): SessionCache {
  let cache = caches.get(ossl);
  if (!cache) caches.set(ossl, (cache = new SessionCache()));
  return cache;
}

/**
 * A key for `options` (the context's), `servername` and `checkHost`, or undefined
 * if the options hold something that cannot be compared (a function): no
 * reuse then.
 */
export function sessionKey(options: object, servername: string | undefined, checkHost: string | false | undefined): string | undefined {
  let comparable = true;
  const canonical = (v: unknown): unknown => {
    if (typeof v === "function") comparable = false;
    if (v instanceof Uint8Array) return { bytes: Array.from(v, (b) => b.toString(16).padStart(2, "0")).join("") };
    if (typeof v === "bigint") return { bigint: v.toString() };
    if (Array.isArray(v)) return v.map(canonical);
    if (v && typeof v === "object") {
      return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical((v as Record<string, unknown>)[k])]));
    }
    return v;
  };
  const key = JSON.stringify([canonical(options), servername ?? null, checkHost ?? null]);
  return comparable ? key : undefined;
}

/** What a client TlsSocket does with the cache for one connection. */
export interface SessionReuse {
  /** A session to resume, if one is kept (the caller owns it). */
  take(): TlsSession | undefined;
  /** A new session (TLS 1.3 ticket) arrived: keep another reference to it. */
  offer(session: TlsSession): void;
  /** The handshake is done: keep a TLS 1.2 session (reusable; no callback announces it when resumed). */
  established(conn: TlsConnection): void;
}

const TLS1_3_VERSION = 0x0304;

/** Reuse for a client connection with these context options and names, or undefined when they cannot be compared. */
export function sessionReuse(ossl: OpenSSL, options: object, servername: string | undefined, checkHost: string | false | undefined): SessionReuse | undefined {
  const key = sessionKey(options, servername, checkHost);
  if (key === undefined) return undefined;
  const cache = sessionCacheOf(ossl);
  return {
    take: () => cache.take(key),
    offer: (session) => {
      if (session.protocolVersion === TLS1_3_VERSION) cache.put(key, session.clone());
    },
    established: (conn) => {
      const session = conn.getSession();
      if (!session) return;
      if (session.protocolVersion !== TLS1_3_VERSION && session.resumable) cache.put(key, session);
      else session.dispose();
    },
  };
}

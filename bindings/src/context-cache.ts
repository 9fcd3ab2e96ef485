/**
 * The client contexts TlsSocket makes for itself, shared between sockets
 * whose options are equal, so a connection does not pay for a new SSL_CTX
 * (and its configuration) each time. One cache per OpenSSL instance.
 *
 * Only what is safe to share is shared: client options that are plain data
 * (strings, numbers, booleans, bigints, bytes, and arrays of them) and hold
 * no private key. A client certificate with its key, SNI tables and
 * callbacks make a context of the socket's own, as before. A shared context
 * lives while a socket uses it; of the unused ones the most recently used
 * few are kept for the next connection, the rest disposed.
 */
import type { TlsContext } from "./engine/context.js";
import type { OpenSSL } from "./engine/openssl.js";

/** Unused shared contexts kept per instance, for the next connection. */
export const IDLE_CONTEXTS_KEPT = 8;

/** Options that carry a private key, or behaviour, are never shared. */
const NOT_SHARED = new Set(["key", "passphrase", "sni", "alpnCallback"]);

function encode(v: unknown): string | undefined {
  if (v === undefined || v === null || typeof v === "boolean" || typeof v === "number") return JSON.stringify(v ?? null);
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "bigint") return `${v}n`;
  if (v instanceof Uint8Array) return `b:${Array.from(v, (b) => b.toString(16).padStart(2, "0")).join("")}`;
  if (Array.isArray(v)) {
    const parts = v.map(encode);
    return parts.some((p) => p === undefined) ? undefined : `[${parts.join(",")}]`;
  }
  return undefined; // functions, objects: not plain data
}

/**
 * A key naming `options` (a client's context options), equal for equal
 * options; undefined when they must not be shared.
 */
export function shareKey(options: Readonly<Record<string, unknown>>): string | undefined {
  const parts: string[] = [];
  for (const name of Object.keys(options).sort()) {
    if (options[name] === undefined) continue;
    if (NOT_SHARED.has(name)) return undefined;
    const value = encode(options[name]);
    if (value === undefined) return undefined;
    parts.push(`${name}=${value}`);
  }
  return parts.join(";");
}

interface Entry {
  context: TlsContext;
  users: number;
}

export class ContextCache {
  readonly #entries = new Map<string, Entry>(); // insertion order: least recently used first

  /**
   * The context for `key`, made by `make` if there is none (or it was
   * disposed); the caller must call the returned release() exactly once.
   */
  acquire(key: string, make: () => TlsContext): { context: TlsContext; release: () => void } {
    let entry = this.#entries.get(key);
    if (entry && entry.context.disposed) {
      this.#entries.delete(key);
      entry = undefined;
    }
    if (!entry) entry = { context: make(), users: 0 };
    this.#entries.delete(key);
    this.#entries.set(key, entry); // most recently used last
    entry.users++;
    let released = false;
    return {
      context: entry.context,
      release: () => {
        if (released) return;
        released = true;
        entry.users--;
        this.#trim();
      },
    };
  }

  /** Disposes unused contexts beyond the IDLE_CONTEXTS_KEPT most recently used. */
  #trim(): void {
    let idle = 0;
    for (const e of this.#entries.values()) if (e.users === 0) idle++;
    for (const [key, e] of this.#entries) {
      if (idle <= IDLE_CONTEXTS_KEPT) break;
      if (e.users !== 0) continue;
      this.#entries.delete(key);
      e.context.dispose();
      idle--;
    }
  }

  /** Contexts held (in use or kept), and how many of them are in use. */
  get stats(): { contexts: number; inUse: number } {
    let inUse = 0;
    for (const e of this.#entries.values()) if (e.users > 0) inUse++;
    return { contexts: this.#entries.size, inUse };
  }

  /** Disposes every unused context (those in use stay until released). */
  clear(): void {
    for (const [key, e] of this.#entries) {
      if (e.users !== 0) continue;
      this.#entries.delete(key);
      e.context.dispose();
    }
  }
}

const caches = new WeakMap<OpenSSL, ContextCache>();

/** The shared-context cache of `ossl`. */
export function contextCacheOf(ossl: OpenSSL): ContextCache {
  let c = caches.get(ossl);
  if (!c) caches.set(ossl, (c = new ContextCache()));
  return c;
}

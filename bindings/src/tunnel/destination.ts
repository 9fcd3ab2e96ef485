/**
 * Where a tunnel may go: the allowlist rules (`host:port`, `host:*`) and the
 * `/<host>:<port>` path a client asks for (the "wsproxy" convention).
 */

/** A destination a client asked for. Hosts are lower-case, IPv6 without brackets. */
export interface Destination {
  host: string;
  port: number;
}

/** One allowlist entry: a host and one port, or any port. */
export interface AllowRule {
  host: string;
  port: number | "*";
}

/**
 * A host as a destination path and an allowlist entry name it: a DNS name
 * or IPv4 address (ASCII letters, digits, dots, hyphens), or an IPv6
 * address in brackets. Both sides use this one grammar: an entry with any
 * other host could never match a destination, or (once lower-cased: the
 * Kelvin sign "\u212a" becomes "k") would match a host other than the one
 * written, so such an entry is refused.
 */
const HOST = String.raw`\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+`;
const ALLOW_RULE = new RegExp(`^(${HOST}):(\\d{1,5}|\\*)$`);
const DESTINATION = new RegExp(`^(${HOST}):(\\d{1,5})$`);

/**
 * Parses an allowlist entry, `host:port` or `host:*` (IPv6 in brackets).
 *
 * @throws TypeError when the entry is not of that form; RangeError when the port is not 1-65535.
 */
export function parseAllowRule(rule: string): AllowRule {
  if (typeof rule !== "string") throw new TypeError(`tunnel: allow entries must be strings, got ${typeof rule}`);
  const m = ALLOW_RULE.exec(rule.trim());
  if (!m) {
    throw new TypeError(`tunnel: --allow wants host:port or host:* (a host of letters, digits, dots and hyphens, ` +
      `or an IPv6 address in brackets), got ${JSON.stringify(rule)}`);
  }
  const port = m[2] === "*" ? "*" : Number(m[2]);
  if (port !== "*" && (port < 1 || port > 65535)) throw new RangeError(`tunnel: port out of range in ${rule}`);
  return { host: m[1]!.replace(/^\[|\]$/g, "").toLowerCase(), port };
}

/** `/<host>:<port>` (IPv6 in brackets) -> destination, or null. */
export function parseDestination(path: string): Destination | null {
  let p: string;
  try {
    // Everything from the first "?" or "#" goes, line breaks included ("s").
    p = decodeURIComponent(path.replace(/^\/+/, "").replace(/[?#].*$/s, ""));
  } catch {
    return null;
  }
  const m = DESTINATION.exec(p);
  if (!m) return null;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return null;
  return { host: m[1]!.replace(/^\[|\]$/g, "").toLowerCase(), port };
}

/** Whether some rule allows the destination (exact host, the port or any port). */
export function isAllowed(rules: readonly AllowRule[], destination: Destination): boolean {
  return rules.some((r) => r.host === destination.host && (r.port === "*" || r.port === destination.port));
}

/** `host:port`, with an IPv6 host in brackets. */
export function formatHostPort(host: string, port: number): string {
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}

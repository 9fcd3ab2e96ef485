/**
 * Where a tunnel may go: the allowlist rules and the `/<host>:<port>` path a
 * client asks for (the "wsproxy" convention). A rule is one of
 * - `host:port` or `host:*`: that exact host (a name, an IPv4 address, an
 *   IPv6 address in brackets), compared lower-case;
 * - `*.example.org:port` (or `:*`): any name ending in `.example.org`, at
 *   least one label before it, the apex `example.org` not included;
 * - `public:port` (or `public:*`): any host whose resolved addresses are all
 *   public unicast (see public-address.ts); the tunnel resolves the name,
 *   checks every address, and connects to the checked one.
 */

/** A destination a client asked for. Hosts are lower-case, IPv6 without brackets. */
export interface Destination {
  host: string;
  port: number;
}

/** One allowlist entry: an exact host, the subdomains of a domain, or any public address; one port, or any port. */
export type AllowRule =
  | { kind: "host"; host: string; port: number | "*" }
  | { kind: "subdomains"; domain: string; port: number | "*" }
  | { kind: "public"; port: number | "*" };

/**
 * A host as a destination path and an allowlist entry name it: a DNS name
 * or IPv4 address (ASCII letters, digits, dots, hyphens), or an IPv6
 * address in brackets. Both sides use this one grammar: an entry with any
 * other host could never match a destination, or (once lower-cased: the
 * Kelvin sign "\u212a" becomes "k") would match a host other than the one
 * written, so such an entry is refused.
 */
const HOST = String.raw`\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+`;
const PORT = String.raw`(\d{1,5}|\*)`;
const ALLOW_RULE = new RegExp(`^(${HOST}):${PORT}$`);
/** `*.` and a domain: labels of ASCII letters, digits and hyphens (the last one must not be all digits: see parseAllowRule). */
const SUBDOMAINS_RULE = new RegExp(String.raw`^\*\.((?:[A-Za-z0-9-]+\.)*([A-Za-z0-9-]+)):` + PORT + "$");
const DESTINATION = new RegExp(`^(${HOST}):(\\d{1,5})$`);
/** What may stand before `.domain` in a name a subdomains rule matches: one label or more, none empty. */
const LABELS = /^[a-z0-9-]+(?:\.[a-z0-9-]+)*$/;

const FORMS = "host:port, host:*, *.domain:port or public:port";

/**
 * Parses an allowlist entry: `host:port` or `host:*` (IPv6 in brackets),
 * `*.domain:port`, `public:port` (each with a port or `*`).
 *
 * @throws TypeError when the entry is none of these; RangeError when the port is not 1-65535.
 */
export function parseAllowRule(rule: string): AllowRule {
  if (typeof rule !== "string") throw new TypeError(`tunnel: allow entries must be strings, got ${typeof rule}`);
  const text = rule.trim();
  const port = (p: string) => {
    if (p === "*") return "*";
    const n = Number(p);
    if (n < 1 || n > 65535) throw new RangeError(`tunnel: port out of range in ${rule}`);
    return n;
  };
  if (text.replace(/:\*$/, "").includes("*")) {
    const wild = SUBDOMAINS_RULE.exec(text);
    // A last label of digits only would make the "domain" the tail of an IPv4 address (*.0.1).
    if (wild && !/^\d+$/.test(wild[2]!)) return { kind: "subdomains", domain: wild[1]!.toLowerCase(), port: port(wild[3]!) };
    if (/^\*\.[^*]*(:\*)?$/.test(text)) {
      throw new TypeError(`tunnel: --allow wants *.domain:port or *.domain:* (a domain of letters, digits, hyphens and dots, ` +
        `not an IP address), got ${JSON.stringify(rule)}`);
    }
    throw new TypeError(`tunnel: --allow takes "*" only as the whole first label (*.example.org:443) or as the port, got ${JSON.stringify(rule)}`);
  }
  const m = ALLOW_RULE.exec(text);
  if (!m) {
    throw new TypeError(`tunnel: --allow wants ${FORMS} (a host of letters, digits, dots and hyphens, ` +
      `or an IPv6 address in brackets; a port or *), got ${JSON.stringify(rule)}`);
  }
  const host = m[1]!.replace(/^\[|\]$/g, "").toLowerCase();
  if (host === "public") return { kind: "public", port: port(m[2]!) };
  return { kind: "host", host, port: port(m[2]!) };
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

/** Whether `rule` takes `port`. */
const portMatches = (rule: AllowRule, port: number) => rule.port === "*" || rule.port === port;

/** Whether a subdomains rule for `domain` matches `host`: one label or more, then `.domain`, on a label boundary. */
function isSubdomain(host: string, domain: string): boolean {
  return host.endsWith(`.${domain}`) && LABELS.test(host.slice(0, -domain.length - 1));
}

/**
 * Whether a rule allows the destination by its name: an exact host rule, or
 * a subdomains rule; the port, or any port. (`public` rules are
 * {@link needsAddressCheck}'s.)
 */
export function isAllowed(rules: readonly AllowRule[], destination: Destination): boolean {
  const { host, port } = destination;
  return rules.some((r) => portMatches(r, port) &&
    (r.kind === "host" ? r.host === host : r.kind === "subdomains" && isSubdomain(host, r.domain)));
}

/** Whether a `public` rule takes the destination's port: then it may go once every address it resolves to is public. */
export function needsAddressCheck(rules: readonly AllowRule[], destination: Destination): boolean {
  return rules.some((r) => r.kind === "public" && portMatches(r, destination.port));
}

/** `host:port`, with an IPv6 host in brackets. */
export function formatHostPort(host: string, port: number): string {
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}

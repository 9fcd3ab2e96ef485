/**
 * Which IP addresses a `public:` allow rule may reach: public unicast only.
 * The tunnel checks every address a name resolves to with this, then
 * connects to the checked address itself, so a name cannot be made to
 * point at the tunnel's own machine, its network or its cloud's metadata
 * service (DNS rebinding) through a rule meant for the open web.
 *
 * A table of named ranges, the first match wins; for IPv6, anything outside
 * 2000::/3 (global unicast, RFC 4291) is refused too, which covers the
 * deprecated IPv4-compatible (::a.b.c.d) and site-local (fec0::/10)
 * addresses and whatever IANA assigns there later. Addresses that embed an
 * IPv4 address in a way that reaches it (IPv4-mapped, NAT64, 6to4) are
 * checked as that IPv4 address.
 */
import * as net from "node:net";

/** One range: an address, its prefix length, what it is; `embedded` says where an IPv4 address to check instead sits (bit offset). */
interface Range {
  readonly cidr: string;
  readonly name: string;
  readonly embedded?: number;
}

/** IANA special-purpose IPv4 ranges that are not public unicast (RFC 6890 and its updates). */
const IPV4_RANGES: readonly Range[] = [
  { cidr: "0.0.0.0/8", name: "\"this network\"" },
  { cidr: "10.0.0.0/8", name: "private" },
  { cidr: "100.64.0.0/10", name: "shared address space (CGNAT)" },
  { cidr: "127.0.0.0/8", name: "loopback" },
  { cidr: "169.254.169.254/32", name: "cloud metadata" }, // AWS, GCP, Azure, ...; within the link-local range below
  { cidr: "169.254.0.0/16", name: "link-local" },
  { cidr: "172.16.0.0/12", name: "private" },
  { cidr: "192.0.0.0/24", name: "IETF protocol assignments" },
  { cidr: "192.0.2.0/24", name: "documentation" },
  { cidr: "192.168.0.0/16", name: "private" },
  { cidr: "198.18.0.0/15", name: "benchmarking" },
  { cidr: "198.51.100.0/24", name: "documentation" },
  { cidr: "203.0.113.0/24", name: "documentation" },
  { cidr: "224.0.0.0/4", name: "multicast" },
  { cidr: "255.255.255.255/32", name: "broadcast" }, // within the reserved range below
  { cidr: "240.0.0.0/4", name: "reserved" },
];

/** IPv6 ranges checked before the "outside 2000::/3" rule, more specific first. */
const IPV6_RANGES: readonly Range[] = [
  { cidr: "::/128", name: "unspecified" },
  { cidr: "::1/128", name: "loopback" },
  { cidr: "::ffff:0:0/96", name: "IPv4-mapped", embedded: 96 },
  { cidr: "64:ff9b::/96", name: "NAT64", embedded: 96 },
  { cidr: "100::/64", name: "discard-only" },
  { cidr: "2001::/32", name: "Teredo" }, // the client's IPv4 address is obfuscated in it: refused outright
  { cidr: "2001:2::/48", name: "benchmarking" },
  { cidr: "2001:db8::/32", name: "documentation" },
  { cidr: "2002::/16", name: "6to4", embedded: 16 },
  { cidr: "3fff::/20", name: "documentation" },
  { cidr: "fd00:ec2::254/128", name: "cloud metadata (AWS)" }, // within unique-local below
  { cidr: "fc00::/7", name: "unique-local" },
  { cidr: "fe80::/10", name: "link-local" },
  { cidr: "ff00::/8", name: "multicast" },
];

/** Global unicast: an IPv6 address outside it is refused whatever the table says. */
const GLOBAL_UNICAST = "2000::/3";

interface ParsedRange extends Range {
  readonly base: bigint;
  readonly bits: number;
}

function parseRange(range: Range, width: number): ParsedRange {
  const [address = "", bits = ""] = range.cidr.split("/");
  const value = width === 32 ? ipv4Value(address) : ipv6Value(address);
  if (value === null) throw new Error(`public-address: bad range ${range.cidr}`);
  return { ...range, base: value, bits: Number(bits) };
}

const V4 = IPV4_RANGES.map((r) => parseRange(r, 32));
const V6 = IPV6_RANGES.map((r) => parseRange(r, 128));
const UNICAST = parseRange({ cidr: GLOBAL_UNICAST, name: "global unicast" }, 128);

const inRange = (value: bigint, r: ParsedRange, width: number) => value >> BigInt(width - r.bits) === r.base >> BigInt(width - r.bits);

/** A dotted-quad IPv4 address as a number, or null. */
function ipv4Value(address: string): bigint | null {
  if (!net.isIPv4(address)) return null;
  return address.split(".").reduce((v, part) => (v << 8n) | BigInt(Number(part)), 0n);
}

/** An IPv6 address (a dotted IPv4 tail allowed) as a number, or null. */
function ipv6Value(address: string): bigint | null {
  if (!net.isIPv6(address) || address.includes("%")) return null;
  const groups = (s: string) => (s ? s.split(":") : []).flatMap((g) => {
    const v4 = ipv4Value(g);
    return v4 === null ? [BigInt(parseInt(g, 16))] : [v4 >> 16n, v4 & 0xffffn];
  });
  const [head = "", tail] = address.split("::");
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const all = [...left, ...new Array<bigint>(8 - left.length - right.length).fill(0n), ...right];
  return all.reduce((v, g) => (v << 16n) | g, 0n);
}

const dotted = (v: bigint) => [24n, 16n, 8n, 0n].map((s) => (v >> s) & 0xffn).join(".");

/**
 * Why `address` is not a public unicast address ("loopback (127.0.0.0/8)",
 * "IPv4-mapped 10.0.0.1: private (10.0.0.0/8)"), or null
 * when it is one. Anything that is not an IP address is refused too, as is
 * an IPv6 address with a zone (`%eth0`).
 */
export function whyNotPublic(address: string): string | null {
  const v4 = ipv4Value(address);
  if (v4 !== null) {
    const r = V4.find((range) => inRange(v4, range, 32));
    return r ? `${r.name} (${r.cidr})` : null;
  }
  if (net.isIPv6(address) && address.includes("%")) return "a scoped address (with a %zone)";
  const v6 = ipv6Value(address);
  if (v6 === null) return "not an IP address";
  const r = V6.find((range) => inRange(v6, range, 128));
  if (r?.embedded !== undefined) {
    const embedded = dotted((v6 >> BigInt(128 - r.embedded - 32)) & 0xffffffffn);
    const why = whyNotPublic(embedded);
    return why === null ? null : `${r.name} ${embedded}: ${why}`;
  }
  if (r) return `${r.name} (${r.cidr})`;
  return inRange(v6, UNICAST, 128) ? null : `not global unicast (outside ${GLOBAL_UNICAST})`;
}

/** Whether `address` is a public unicast IP address: see {@link whyNotPublic}. */
export function isPublicAddress(address: string): boolean {
  return whyNotPublic(address) === null;
}

/**
 * What a `public:` rule does before the tunnel connects: resolve the name
 * (node:dns lookup, every address), refuse it unless every address is
 * public, and hand back the first checked address for the tunnel to connect
 * to, so a second lookup cannot answer differently (DNS rebinding). It
 * never rejects: a lookup that fails, times out, or a hook that throws is
 * an outcome like any other.
 */
import * as dns from "node:dns";
import * as net from "node:net";
import { describeError } from "./events.js";
import { whyNotPublic } from "./public-address.js";

/** One address a name resolves to, as node:dns `lookup(host, { all: true })` gives it. */
export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Resolves a host name to all its addresses (createTunnel's `resolve` option). */
export type Resolver = (host: string) => Promise<readonly ResolvedAddress[]>;

/** node:dns lookup with `all: true`: what the operating system's resolver says (/etc/hosts, then DNS), in its order. */
export const systemResolver: Resolver = (host) => dns.promises.lookup(host, { all: true });

/** How a destination fared: the address to connect to, refused (an address not public), or failed (no answer). */
export type Screening = { address: string } | { refused: string } | { failed: string };

/** What screenHost needs. */
export interface ScreenOptions {
  resolve: Resolver;
  /** Why an address may not be reached, or null when it may (default whyNotPublic). */
  whyNot: (address: string) => string | null;
  timeoutMs: number;
}

/**
 * Resolves `host` (an IP address stands for itself: no lookup) and checks
 * every address; all must pass. Never rejects.
 */
export async function screenHost(host: string, options: ScreenOptions): Promise<Screening> {
  let addresses: readonly ResolvedAddress[];
  if (net.isIP(host)) {
    addresses = [{ address: host, family: net.isIP(host) }];
  } else {
    const answer = await withTimeout(host, options);
    if ("failed" in answer) return answer;
    addresses = answer.addresses;
  }
  try {
    for (const { address } of addresses) {
      const why = options.whyNot(address);
      if (why !== null) return { refused: `${host === address ? address : `${host} -> ${address}`} is ${why}` };
    }
  } catch (e) {
    return { failed: `the address check failed: ${describeError(e)}` };
  }
  return { address: addresses[0]!.address };
}

/** The resolver's answer, checked for shape, or why there is none (an error, no address, the timeout). */
async function withTimeout(host: string, options: ScreenOptions): Promise<{ addresses: readonly ResolvedAddress[] } | { failed: string }> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<{ failed: string }>((resolve) => {
    timer = setTimeout(() => resolve({ failed: `DNS lookup of ${host} timed out after ${options.timeoutMs} ms` }), options.timeoutMs);
  });
  // Through .then: a resolver that throws instead of rejecting is caught the same way.
  const lookup = Promise.resolve(host).then(options.resolve).then(
    (addresses): { addresses: readonly ResolvedAddress[] } | { failed: string } => {
      if (!Array.isArray(addresses) || !addresses.every((a: ResolvedAddress) => typeof a?.address === "string")) {
        return { failed: `DNS lookup of ${host} gave no list of addresses` };
      }
      return addresses.length === 0 ? { failed: `DNS lookup of ${host} found no address` } : { addresses };
    },
    (e: unknown) => ({ failed: `cannot resolve ${host}: ${describeError(e)}` }),
  );
  try {
    return await Promise.race([lookup, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The address check of createTunnel's `isPublicAddress` hook, or the built-in one. */
export function addressCheck(isPublicAddress: ((address: string) => boolean) | undefined): (address: string) => string | null {
  if (!isPublicAddress) return whyNotPublic;
  return (address) => (isPublicAddress(address) === true ? null : "not public (isPublicAddress)");
}

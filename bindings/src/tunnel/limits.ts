/**
 * The tunnel's accounting: who a client is for per-client limits, counts per
 * client, and the shared bandwidth budget.
 */

/**
 * The key per-client limits count under. IPv4 as is, an IPv4-mapped IPv6
 * address (`::ffff:a.b.c.d`, what a dual-stack listener reports for IPv4
 * clients) as its IPv4 address, other IPv6 addresses by their /64 prefix:
 * one subscriber usually holds a whole /64, so counting single IPv6
 * addresses would let one client pass as 2^64 clients.
 */
export function clientKey(address: string | undefined): string {
  if (!address) return "unknown";
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!address.includes(":")) return address;
  return `${ipv6Groups(address).slice(0, 4).join(":")}::/64`;
}

/** The eight groups of an IPv6 address, in lower-case hex without leading zeros. */
function ipv6Groups(address: string): string[] {
  const bare = address.replace(/%.*$/, ""); // a link-local zone ("%eth0") is not part of the address
  const [head = "", tail] = bare.split("::");
  const parts = (s: string) => (s ? s.split(":").flatMap(ipv4AsGroups) : []);
  const left = parts(head);
  const right = tail === undefined ? [] : parts(tail);
  const zeros = tail === undefined ? [] : new Array<string>(Math.max(0, 8 - left.length - right.length)).fill("0");
  return [...left, ...zeros, ...right].map((g) => (parseInt(g, 16) || 0).toString(16));
}

/** An embedded dotted IPv4 tail (`64:ff9b::1.2.3.4`) stands for two groups. */
function ipv4AsGroups(part: string): string[] {
  if (!part.includes(".")) return [part];
  const [a = 0, b = 0, c = 0, d = 0] = part.split(".").map(Number);
  return [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
}

/**
 * The longest delay setTimeout honours (2^31 - 1 ms, about 24.8 days); a
 * longer one fires at once, so every timeout option is capped at this.
 */
export const MAX_TIMER_MS = 2_147_483_647;

/** How many of something each client key holds. */
export class ClientCounter {
  readonly #counts = new Map<string, number>();

  count(key: string): number {
    return this.#counts.get(key) ?? 0;
  }

  add(key: string): void {
    this.#counts.set(key, this.count(key) + 1);
  }

  /** Forgets keys at zero, so the map holds only clients with something live. */
  remove(key: string): void {
    const n = this.count(key) - 1;
    if (n > 0) this.#counts.set(key, n);
    else this.#counts.delete(key);
  }
}

/**
 * A token bucket shared by every tunnel and both directions: bytes relayed
 * take tokens, tokens come back at `bytesPerSecond`, and a reader that
 * overdraws pauses for as long as the debt takes to repay. Bursts may use
 * up to a quarter second's worth of saved tokens.
 */
export class TokenBucket {
  readonly #bytesPerMs: number;
  readonly #capacity: number;
  readonly #now: () => number;
  #tokens: number;
  #last: number;

  constructor(bytesPerSecond: number, now: () => number = () => performance.now()) {
    this.#bytesPerMs = bytesPerSecond / 1000;
    this.#capacity = bytesPerSecond / 4;
    this.#now = now;
    this.#tokens = this.#capacity;
    this.#last = now();
  }

  /** Takes `bytes` tokens; returns how many ms the reader should pause (0: go on). */
  take(bytes: number): number {
    const now = this.#now();
    this.#tokens = Math.min(this.#capacity, this.#tokens + (now - this.#last) * this.#bytesPerMs);
    this.#last = now;
    this.#tokens -= bytes;
    return this.#tokens >= 0 ? 0 : Math.min(MAX_TIMER_MS, Math.ceil(-this.#tokens / this.#bytesPerMs));
  }
}

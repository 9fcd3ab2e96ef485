// Mutations for the fuzzer: a seeded PRNG (so a run is reproducible from its
// seed) and havoc-style byte mutations plus TLS-aware ones that rewrite the
// record layer (types, versions, lengths, fragmentation, injected records)
// and plaintext handshake message headers, so inputs get past the first
// length check often enough to reach the parsers behind it.

/** xorshift128+: fast, seeded, good enough to pick mutations. */
export class Rng {
  /** @param {number} seed */
  constructor(seed) {
    this.a = (seed ^ 0x9e3779b9) >>> 0 || 1;
    this.b = Math.imul(seed, 0x85ebca6b) >>> 0 || 2;
    for (let i = 0; i < 8; i++) this.u32();
  }
  u32() {
    let x = this.a;
    const y = this.b;
    this.a = y;
    x ^= x << 11;
    x ^= x >>> 8;
    this.b = (x ^ y ^ (y >>> 19)) >>> 0;
    return (this.b + y) >>> 0;
  }
  /** @param {number} n @returns {number} 0..n-1 */
  below(n) {
    return n <= 1 ? 0 : this.u32() % n;
  }
  /** @template T @param {readonly T[]} items @returns {T} */
  pick(items) {
    return items[this.below(items.length)];
  }
  /** @param {number} p */
  chance(p) {
    return this.u32() / 0x100000000 < p;
  }
}

/** A per-input seed from (run seed, worker, index): any input can be replayed alone. */
export function inputSeed(seed, worker, index) {
  let h = Math.imul(seed ^ 0x27d4eb2d, 0x165667b1) ^ Math.imul(worker + 1, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  return (h ^ (h >>> 12)) >>> 0;
}

const INTERESTING_8 = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x16, 0x17, 0x15, 0x14, 0x03];
const INTERESTING_16 = [0x0000, 0x0001, 0x00ff, 0x0100, 0x3fff, 0x4000, 0x4001, 0x7fff, 0x8000, 0xffff, 0x0303, 0x0304, 0x0301];

/** Splits `bytes` into TLS records (type, version, body); a trailing partial record is kept as is. */
export function splitRecords(bytes) {
  const records = [];
  let at = 0;
  while (at + 5 <= bytes.length) {
    const len = (bytes[at + 3] << 8) | bytes[at + 4];
    if (at + 5 + len > bytes.length) break;
    records.push({ type: bytes[at], version: (bytes[at + 1] << 8) | bytes[at + 2], body: bytes.subarray(at + 5, at + 5 + len) });
    at += 5 + len;
  }
  return { records, rest: bytes.subarray(at) };
}

/** The records back to bytes, each with its own (possibly overridden) length. */
export function joinRecords(records, rest = new Uint8Array(0)) {
  let total = rest.length;
  for (const r of records) total += 5 + r.body.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const r of records) {
    const len = r.length ?? r.body.length;
    out[at] = r.type;
    out[at + 1] = r.version >> 8;
    out[at + 2] = r.version & 0xff;
    out[at + 3] = (len >> 8) & 0xff;
    out[at + 4] = len & 0xff;
    out.set(r.body, at + 5);
    at += 5 + r.body.length;
  }
  out.set(rest, at);
  return out;
}

function concat(...parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function randomBytes(rng, n) {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.u32() & 0xff;
  return out;
}

/** Byte-level mutations (AFL's havoc stage, in spirit). */
const BYTE_MUTATIONS = [
  function flipBit(b, rng) {
    if (!b.length) return b;
    const out = b.slice();
    out[rng.below(out.length)] ^= 1 << rng.below(8);
    return out;
  },
  function setInteresting8(b, rng) {
    if (!b.length) return b;
    const out = b.slice();
    out[rng.below(out.length)] = rng.pick(INTERESTING_8);
    return out;
  },
  function setInteresting16(b, rng) {
    if (b.length < 2) return b;
    const out = b.slice();
    const at = rng.below(out.length - 1);
    const v = rng.pick(INTERESTING_16);
    out[at] = v >> 8;
    out[at + 1] = v & 0xff;
    return out;
  },
  function addSub(b, rng) {
    if (!b.length) return b;
    const out = b.slice();
    const at = rng.below(out.length);
    out[at] = (out[at] + (rng.chance(0.5) ? 1 : -1) * (1 + rng.below(16))) & 0xff;
    return out;
  },
  function randomByte(b, rng) {
    if (!b.length) return b;
    const out = b.slice();
    out[rng.below(out.length)] = rng.u32() & 0xff;
    return out;
  },
  function deleteRange(b, rng) {
    if (b.length < 2) return b;
    const at = rng.below(b.length);
    const n = 1 + rng.below(Math.min(64, b.length - at));
    return concat(b.subarray(0, at), b.subarray(at + n));
  },
  function duplicateRange(b, rng) {
    if (!b.length) return b;
    const at = rng.below(b.length);
    const n = 1 + rng.below(Math.min(64, b.length - at));
    return concat(b.subarray(0, at + n), b.subarray(at, at + n), b.subarray(at + n));
  },
  function insertRandom(b, rng) {
    const at = rng.below(b.length + 1);
    return concat(b.subarray(0, at), randomBytes(rng, 1 + rng.below(32)), b.subarray(at));
  },
  function truncate(b, rng) {
    return b.subarray(0, rng.below(b.length + 1));
  },
];

const CONTENT_TYPES = [20, 21, 22, 23, 24, 0, 255];
const VERSIONS = [0x0301, 0x0303, 0x0304, 0x0300, 0xfefd, 0x0000];

/** Record-layer mutations: they keep the framing parseable (or break it deliberately). */
const RECORD_MUTATIONS = [
  function recordType(rs, rng) {
    if (rs.length) rng.pick(rs).type = rng.pick(CONTENT_TYPES);
  },
  function recordVersion(rs, rng) {
    if (rs.length) rng.pick(rs).version = rng.pick(VERSIONS);
  },
  function recordLengthLies(rs, rng) {
    if (!rs.length) return;
    const r = rng.pick(rs);
    r.length = rng.pick([0, 1, r.body.length + 1, Math.max(0, r.body.length - 1), 16384, 16385, 16640, 18432, 18433, 0xffff]);
  },
  function fragment(rs, rng) {
    if (!rs.length) return;
    const i = rng.below(rs.length);
    const r = rs[i];
    if (r.body.length < 2) return;
    const cut = 1 + rng.below(r.body.length - 1);
    rs.splice(i, 1, { ...r, body: r.body.subarray(0, cut) }, { ...r, body: r.body.subarray(cut) });
  },
  function mergeNext(rs, rng) {
    if (rs.length < 2) return;
    const i = rng.below(rs.length - 1);
    rs.splice(i, 2, { ...rs[i], body: concat(rs[i].body, rs[i + 1].body) });
  },
  function injectRecord(rs, rng) {
    const kind = rng.below(6);
    const body = kind === 0 ? new Uint8Array([1]) // ChangeCipherSpec
      : kind === 1 ? new Uint8Array([rng.pick([1, 2]), rng.pick([0, 10, 20, 40, 47, 50, 70, 80, 86, 90, 100, 109, 110, 112, 116, 120])]) // alert
      : kind === 2 ? new Uint8Array(0) // empty
      : kind === 3 ? randomBytes(rng, rng.below(300))
      : kind === 4 ? new Uint8Array(16385) // over the plaintext limit
      : new Uint8Array([rng.pick([0, 4, 5, 13, 15, 20, 24, 254]), 0, 0, rng.below(8)]); // a handshake message header
    const type = kind === 0 ? 20 : kind === 1 ? 21 : rng.pick(CONTENT_TYPES);
    rs.splice(rng.below(rs.length + 1), 0, { type, version: 0x0303, body });
  },
  function dropRecord(rs, rng) {
    if (rs.length) rs.splice(rng.below(rs.length), 1);
  },
  function duplicateRecord(rs, rng) {
    if (!rs.length) return;
    const i = rng.below(rs.length);
    rs.splice(i, 0, { ...rs[i] });
  },
  function swapRecords(rs, rng) {
    if (rs.length < 2) return;
    const i = rng.below(rs.length - 1);
    [rs[i], rs[i + 1]] = [rs[i + 1], rs[i]];
  },
  function handshakeHeader(rs, rng) {
    // plaintext handshake records: rewrite a message's type or its 24-bit length
    const hs = rs.filter((r) => r.type === 22 && r.body.length >= 4);
    if (!hs.length) return;
    const r = rng.pick(hs);
    const body = r.body.slice();
    if (rng.chance(0.5)) body[0] = rng.pick([0, 1, 2, 4, 5, 8, 11, 12, 13, 14, 15, 16, 20, 24, 254, 255]);
    else {
      const n = rng.pick([0, 1, (body[1] << 16 | body[2] << 8 | body[3]) + 1, 0xffffff, body.length - 5, 0x4000]);
      body[1] = (n >> 16) & 0xff;
      body[2] = (n >> 8) & 0xff;
      body[3] = n & 0xff;
    }
    r.body = body;
  },
  function mutateInsideBody(rs, rng) {
    if (!rs.length) return;
    const r = rng.pick(rs);
    r.body = rng.pick(BYTE_MUTATIONS)(r.body, rng);
  },
];

/**
 * Mutates `input`: 1-6 stacked mutations, record-aware ones when the input
 * parses as records; now and then splices in part of `other`.
 * @param {Uint8Array} input @param {Rng} rng @param {Uint8Array} [other]
 * @returns {Uint8Array}
 */
export function mutate(input, rng, other) {
  let out = input;
  const rounds = 1 + rng.below(6);
  for (let i = 0; i < rounds; i++) {
    const choice = rng.below(10);
    if (choice < 5) {
      const { records, rest } = splitRecords(out);
      if (records.length) {
        rng.pick(RECORD_MUTATIONS)(records, rng);
        out = joinRecords(records, rest);
        continue;
      }
    }
    if (choice === 9 && other?.length) {
      const at = rng.below(out.length + 1);
      const from = rng.below(other.length);
      out = concat(out.subarray(0, at), other.subarray(from, from + 1 + rng.below(256)));
      continue;
    }
    out = rng.pick(BYTE_MUTATIONS)(out, rng);
  }
  return out.length > 65536 ? out.subarray(0, 65536) : out;
}

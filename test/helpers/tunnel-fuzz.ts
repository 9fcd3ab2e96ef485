// Hostile input for the tunnel's robustness test: malformed HTTP requests,
// malformed WebSocket frames after a valid upgrade, and random bytes, drawn
// from a seeded PRNG so that a failing run can be replayed exactly.
import { closePayload, frame, upgradeRequest } from "./raw-ws.js";

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
export class Random {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  int(below: number): number {
    return Math.floor(this.next() * below);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  bytes(n: number): Buffer {
    return Buffer.from(Array.from({ length: n }, () => this.int(256)));
  }

  /** Bytes 0x80-0xff: never ASCII. */
  highBytes(n: number): Buffer {
    return Buffer.from(Array.from({ length: n }, () => 0x80 + this.int(128)));
  }

  /** Printable ASCII, for header-ish noise. */
  ascii(n: number): string {
    return String.fromCharCode(...Array.from({ length: n }, () => 0x21 + this.int(94)));
  }
}

/** One input: a name saying what it tries, and the bytes to send in order. */
export interface FuzzInput {
  kind: "http" | "frames" | "random";
  name: string;
  chunks: Buffer[];
}

/** Where the valid parts of inputs point: an allowed destination and an allowed Origin. */
export interface FuzzTarget {
  path: string;
  origin: string;
}

export function fuzzInput(r: Random, target: FuzzTarget): FuzzInput {
  const roll = r.next();
  const input = roll < 0.45 ? malformedHttp(r, target) : roll < 0.9 ? malformedFrames(r, target) : randomBytes(r);
  return { ...input, chunks: splitRandomly(r, input.chunks) };
}

/** Sends the same bytes in random pieces, so parsers meet every boundary. */
function splitRandomly(r: Random, chunks: Buffer[]): Buffer[] {
  const all = Buffer.concat(chunks);
  if (r.next() < 0.5 || all.length < 2) return chunks;
  const pieces: Buffer[] = [];
  for (let at = 0; at < all.length;) {
    const n = 1 + r.int(Math.min(64, all.length - at));
    pieces.push(all.subarray(at, at + n));
    at += n;
  }
  return pieces;
}

function malformedHttp(r: Random, { path, origin }: FuzzTarget): FuzzInput {
  const good = { Origin: origin };
  const cases: [string, () => Buffer[]][] = [
    ["bad request line", () => [Buffer.from(r.pick([
      "GET\r\n\r\n", "GET / HTTP/9.9\r\n\r\n", " / HTTP/1.1\r\n\r\n", "GET /\0 HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\n\n",
      `${r.ascii(8)} ${r.ascii(20)} ${r.ascii(8)}\r\n\r\n`, "\r\n\r\n\r\n", "GET / HTTP/1.1\r\nHost\r\n\r\n",
    ]))]],
    ["huge header", () => [upgradeRequest(path, { ...good, "X-Huge": "h".repeat(8_000 + r.int(40_000)) })]],
    ["many headers", () => [upgradeRequest(path, {
      ...good, ...Object.fromEntries(Array.from({ length: 200 + r.int(3000) }, (_, i) => [`X-${i}`, "v"])),
    })]],
    ["bad Sec-WebSocket-Key", () => [upgradeRequest(path, {
      ...good, "Sec-WebSocket-Key": r.pick(["", "short", "!!!!!!!!!!!!!!!!!!!!!!==", "a".repeat(1000), r.ascii(24), "dGhlIHNhbXBsZSBub25jZQ==, x"]),
    })]],
    ["bad Sec-WebSocket-Version", () => [upgradeRequest(path, {
      ...good, "Sec-WebSocket-Version": r.pick(["", "0", "12", "14", "abc", "13, 8", "1e1", "99999999999999999999", "-13"]),
    })]],
    ["non-ASCII bytes in headers", () => [upgradeRequest(path, {
      Origin: Buffer.concat([Buffer.from("http://"), r.highBytes(1 + r.int(300))]),
      [`X-${r.ascii(3)}`]: r.highBytes(1 + r.int(100)),
    })]],
    ["CR, LF or NUL inside a header", () => [upgradeRequest(path, {
      ...good, "X-Inject": r.pick(["a\rb", "a\nb", "a\r\nInjected: yes", "a\0b", "\r\n\r\nGET / HTTP/1.1"]),
    })]],
    ["absurd path", () => [upgradeRequest(r.pick<string | Buffer>([
      "/", "/%", "/%00:1", "/[::1", `/${"a".repeat(5_000 + r.int(10_000))}:1`, "/127.0.0.1:99999", "/127.0.0.1:0", "//",
      "/../../etc/passwd", "/é:1", "*", "http://x/127.0.0.1:1", "/127.0.0.1:1?x#y", "/%5B%3A%3A1%5D:1", r.bytes(40),
      `/${r.ascii(30)}`, "/localhost:22", "/127.0.0.1:1/extra",
    ]), good)]],
    ["odd method", () => [Buffer.from(upgradeRequest(path, good).toString("latin1")
      .replace("GET", r.pick(["POST", "PUT", "CONNECT", "HEAD", "DELETE", "get", "GET GET"])), "latin1")]],
    ["odd upgrade", () => [upgradeRequest(path, r.pick<Record<string, string>>([
      { ...good, Upgrade: "h2c" }, { ...good, Connection: "close" }, { ...good, Host: "" },
      { ...good, "Content-Length": "100" }, { ...good, "Transfer-Encoding": "chunked" },
      { ...good, "Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits=99; x" },
      { ...good, "Sec-WebSocket-Protocol": r.pick(["a,,b", "a b", ",", "\"quoted\""]) },
      { Origin: "http://evil.test" }, {},
    ]))]],
    ["request after the upgrade", () => [upgradeRequest(path, good), Buffer.from("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")]],
    ["truncated request", () => [upgradeRequest(path, good).subarray(0, 1 + r.int(100))]],
    ["plain HTTP", () => [Buffer.from(r.pick([
      "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
      "GET /healthz?x=1 HTTP/1.1\r\nHost: x\r\n\r\n", "GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET / HTTP/1.0\r\n\r\n", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
    ]))]],
  ];
  const [name, make] = r.pick(cases);
  return { kind: "http", name, chunks: make() };
}

function malformedFrames(r: Random, { path, origin }: FuzzTarget): FuzzInput {
  const payload = () => r.bytes(r.int(200));
  const badUtf8 = () => Buffer.from(r.pick([[0xc3, 0x28], [0xff], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82]]));
  const cases: [string, () => Buffer[]][] = [
    ["reserved opcode", () => [frame({ opcode: r.pick([3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf]), payload: payload() })]],
    ["reserved bits", () => [frame({ opcode: 2, rsv: 1 + r.int(7), payload: payload() })]],
    ["unmasked client frame", () => [frame({ opcode: r.pick([1, 2, 9]), masked: false, payload: Buffer.from("hi") })]],
    ["length says more than comes", () => [frame({ opcode: 2, payload: payload(), declaredLength: 500 + r.int(50_000) })]],
    ["length says less than comes", () => [frame({ opcode: 2, payload: r.bytes(300), declaredLength: r.int(100) })]],
    ["64-bit length with the top bit set", () => [frame({ opcode: 2, payload: payload(), declaredLength: (1n << 63n) + BigInt(r.int(1000)) })]],
    ["length beyond maxFrameBytes", () => [frame({ opcode: 2, declaredLength: r.pick([1n << 20n, 1n << 32n, 1n << 40n, 70_000n]) })]],
    ["control frame over 125 bytes", () => [frame({ opcode: r.pick([8, 9, 10]), payload: r.bytes(126 + r.int(200)) })]],
    ["fragmented control frame", () => [frame({ opcode: r.pick([8, 9, 10]), fin: false, payload: Buffer.from("x") })]],
    ["bad close code", () => [frame({ opcode: 8, payload: closePayload(r.pick([0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535])) })]],
    ["one-byte close payload", () => [frame({ opcode: 8, payload: Buffer.from([3]) })]],
    ["invalid UTF-8 in a close reason", () => [frame({ opcode: 8, payload: closePayload(1000, badUtf8()) })]],
    ["invalid UTF-8 in a text frame", () => [frame({ opcode: 1, payload: badUtf8() })]],
    ["valid text frame (binary only: 1003)", () => [frame({ opcode: 1, payload: Buffer.from("text") })]],
    ["continuation without a start", () => [frame({ opcode: 0, payload: payload() })]],
    ["new message inside a fragmented one", () => [frame({ opcode: 2, fin: false, payload: payload() }), frame({ opcode: 2, payload: payload() })]],
    ["many tiny fragments", () => [
      ...Array.from({ length: 50 + r.int(500) }, (_, i) => frame({ opcode: i === 0 ? 2 : 0, fin: false, payload: Buffer.from([i & 0xff]) })),
      frame({ opcode: 0, payload: Buffer.from("end") }),
    ]],
    ["valid traffic, pings, then a normal close", () => [
      frame({ opcode: 2, payload: payload() }), frame({ opcode: 9, payload: Buffer.from("p") }), frame({ opcode: 10 }),
      frame({ opcode: 2, payload: payload() }), frame({ opcode: 8, payload: closePayload(1000, Buffer.from("bye")) }),
    ]],
    ["random bytes after the upgrade", () => [r.bytes(1 + r.int(2000))]],
    ["data after the close frame", () => [frame({ opcode: 8, payload: closePayload(1000) }), frame({ opcode: 2, payload: payload() }), r.bytes(100)]],
  ];
  const [name, make] = r.pick(cases);
  // Some frames follow valid data, so the relay (not only the handshake) is live when they come.
  const warmUp = r.next() < 0.5 ? [frame({ opcode: 2, payload: Buffer.from("warm") })] : [];
  return { kind: "frames", name, chunks: [upgradeRequest(path, { Origin: origin }), ...warmUp, ...make()] };
}

function randomBytes(r: Random): FuzzInput {
  const prefix = r.pick(["", "GET ", "GET / HTTP/1.1\r\n", "\x16\x03\x01"]); // nothing, HTTP-ish, a TLS ClientHello's start
  return { kind: "random", name: `random bytes after ${JSON.stringify(prefix)}`, chunks: [Buffer.from(prefix, "latin1"), r.bytes(1 + r.int(3000))] };
}

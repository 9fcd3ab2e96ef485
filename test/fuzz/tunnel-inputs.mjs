// Hostile input for the tunnel (its robustness test and the tunnel target of
// make fuzz): malformed HTTP requests, malformed WebSocket frames after a
// valid upgrade, random bytes, and byte-level mutations of valid upgrades
// and frames, drawn from a seeded PRNG so that a failing run can be
// replayed exactly. Plain JavaScript; types in tunnel-inputs.d.mts.
import { mutate } from "./mutate.mjs";
import { closePayload, frame, upgradeRequest } from "./raw-ws.mjs";

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
export class Random {
  #state;

  /** @param {number} seed */
  constructor(seed) {
    this.#state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next() {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** @param {number} below */
  int(below) {
    return Math.floor(this.next() * below);
  }

  /** @template T @param {readonly T[]} items @returns {T} */
  pick(items) {
    return items[this.int(items.length)];
  }

  /** @param {number} n */
  bytes(n) {
    return Buffer.from(Array.from({ length: n }, () => this.int(256)));
  }

  /** Bytes 0x80-0xff: never ASCII. @param {number} n */
  highBytes(n) {
    return Buffer.from(Array.from({ length: n }, () => 0x80 + this.int(128)));
  }

  /** Printable ASCII, for header-ish noise. @param {number} n */
  ascii(n) {
    return String.fromCharCode(...Array.from({ length: n }, () => 0x21 + this.int(94)));
  }

  // What mutate.mjs's mutations ask of a PRNG (its Rng has the same three).
  /** @param {number} n */
  below(n) {
    return this.int(n);
  }

  /** @param {number} p */
  chance(p) {
    return this.next() < p;
  }

  u32() {
    return this.int(0x100000000);
  }
}

/**
 * One input: what it tries, and the bytes to send in order.
 * @param {Random} r @param {import("./tunnel-inputs.d.mts").FuzzTarget} target
 * @returns {import("./tunnel-inputs.d.mts").FuzzInput}
 */
export function fuzzInput(r, target) {
  const roll = r.next();
  const input = roll < 0.35 ? malformedHttp(r, target) : roll < 0.7 ? malformedFrames(r, target) : roll < 0.9 ? malformedWisp(r, target)
    : randomBytes(r);
  return { ...input, chunks: splitRandomly(r, input.chunks) };
}

/** Sends the same bytes in random pieces, so parsers meet every boundary. */
function splitRandomly(r, chunks) {
  const all = Buffer.concat(chunks);
  if (r.next() < 0.5 || all.length < 2) return chunks;
  const pieces = [];
  for (let at = 0; at < all.length;) {
    const n = 1 + r.int(Math.min(64, all.length - at));
    pieces.push(all.subarray(at, at + n));
    at += n;
  }
  return pieces;
}

function malformedHttp(r, { path, origin }) {
  const good = { Origin: origin };
  const cases = [
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
    ["absurd path", () => [upgradeRequest(r.pick([
      "/", "/%", "/%00:1", "/[::1", `/${"a".repeat(5_000 + r.int(10_000))}:1`, "/127.0.0.1:99999", "/127.0.0.1:0", "//",
      "/../../etc/passwd", "/é:1", "*", "http://x/127.0.0.1:1", "/127.0.0.1:1?x#y", "/%5B%3A%3A1%5D:1", r.bytes(40),
      `/${r.ascii(30)}`, "/localhost:22", "/127.0.0.1:1/extra",
    ]), good)]],
    ["odd method", () => [Buffer.from(upgradeRequest(path, good).toString("latin1")
      .replace("GET", r.pick(["POST", "PUT", "CONNECT", "HEAD", "DELETE", "get", "GET GET"])), "latin1")]],
    ["odd upgrade", () => [upgradeRequest(path, r.pick([
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

function malformedFrames(r, { path, origin }) {
  const payload = () => r.bytes(r.int(200));
  const badUtf8 = () => Buffer.from(r.pick([[0xc3, 0x28], [0xff], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82]]));
  const cases = [
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

// ---- Wisp v1, the tunnel's endpoint on paths ending with "/": packets as a client sends them, one per masked binary frame

const WISP_PATH = "/";
const CONNECT = 1, DATA = 2, CONTINUE = 3, CLOSE = 4;

/** A Wisp packet: type, stream id (u32 LE), payload. */
function wispPacket(type, id, payload = Buffer.alloc(0)) {
  const b = Buffer.alloc(5 + payload.length);
  b[0] = type;
  b.writeUInt32LE(id >>> 0, 1);
  payload.copy(b, 5);
  return b;
}

/** CONNECT's payload: stream type (1 TCP, 2 UDP), port (u16 LE), host. */
function wispConnect(id, host, port, streamType = 1) {
  const name = Buffer.isBuffer(host) ? host : Buffer.from(host);
  const p = Buffer.alloc(3 + name.length);
  p[0] = streamType;
  p.writeUInt16LE(port & 0xffff, 1);
  name.copy(p, 3);
  return wispPacket(CONNECT, id, p);
}

const wispClose = (id, reason) => wispPacket(CLOSE, id, Buffer.from([reason & 0xff]));
const wispData = (id, bytes) => wispPacket(DATA, id, bytes);

/** The allowed destination of `path` (`/host:port`) as Wisp names it. */
function wispDestination(path) {
  const at = path.lastIndexOf(":");
  return { host: path.slice(1, at), port: Number(path.slice(at + 1)) };
}

/** A valid Wisp session's packets: streams to the allowed destination, data, closes. */
function wispSession(r, path) {
  const { host, port } = wispDestination(path);
  const packets = [];
  const streams = 1 + r.int(3);
  for (let id = 1; id <= streams; id++) packets.push(wispConnect(id, host, port));
  for (let i = 0; i < 1 + r.int(6); i++) packets.push(wispData(1 + r.int(streams), r.bytes(r.int(200))));
  if (r.chance(0.5)) packets.push(wispClose(1 + r.int(streams), r.pick([0x02, 0x03, 0x41])));
  return packets.map((payload) => frame({ opcode: 2, payload }));
}

function malformedWisp(r, { path, origin }) {
  const { host, port } = wispDestination(path);
  const ok = (id = 1) => wispConnect(id, host, port);
  const data = () => r.bytes(r.int(300));
  const id = () => r.pick([0, 1, 2, 7, 0x7fffffff, 0xffffffff, r.u32()]);
  const cases = [
    ["connect, data, close", () => [ok(), wispData(1, data()), wispClose(1, 0x02)]],
    ["connect to a host that looks like the allowed one", () => [wispConnect(1, r.pick(NEAR_LOOPBACK), port)]],
    ["connect to another port", () => [wispConnect(1, host, r.pick([0, 1, 22, port + 1, port - 1, 65535]))]],
    ["connect with an empty, huge, binary or non-UTF-8 host", () => [wispConnect(1, r.pick([
      Buffer.alloc(0), Buffer.from("a".repeat(300 + r.int(60_000))), r.bytes(1 + r.int(40)), r.highBytes(1 + r.int(40)),
      Buffer.from(`${host}\0`), Buffer.from(` ${host}`), Buffer.from(`${host}:${port}`), Buffer.from(`[${host}]`),
    ]), port)]],
    ["UDP or an unknown stream type", () => [wispConnect(1, host, port, r.pick([0, 2, 3, 0x7f, 0xff]))]],
    ["connect on stream 0", () => [ok(0)]],
    ["connect twice on one stream", () => [ok(5), ok(5), wispData(5, data())]],
    ["data for a stream never opened", () => [wispData(id(), data())]],
    ["data after the stream's close", () => [ok(), wispClose(1, 0x02), wispData(1, data()), wispData(1, data())]],
    ["CONTINUE from the client", () => [ok(), wispPacket(CONTINUE, r.pick([0, 1]), r.bytes(4))]],
    ["close with any reason", () => [ok(), wispClose(1, r.int(256))]],
    ["close for a stream never opened", () => [wispClose(id(), r.int(256))]],
    ["close or CONNECT of the wrong length", () => [r.pick([
      wispPacket(CLOSE, 1, r.bytes(r.pick([0, 2, 3, 9]))), wispPacket(CONNECT, 1, r.bytes(r.int(3))), wispPacket(CONTINUE, 0, r.bytes(r.pick([0, 3, 5])))])]],
    ["unknown packet type", () => [ok(), wispPacket(r.pick([0, 5, 6, 0x40, 0x80, 0xff]), r.pick([0, 1]), data())]],
    ["packet shorter than its header", () => [r.bytes(r.int(5))]],
    ["more streams than the limit", () => Array.from({ length: 9 + r.int(40) }, (_, i) => ok(i + 1))],
    ["data past the stream's credit", () => [ok(), ...Array.from({ length: 17 + r.int(300) }, () => wispData(1, data()))]],
    ["a big DATA packet", () => [ok(), wispData(1, r.bytes(20_000 + r.int(40_000)))]],
    ["random packets", () => Array.from({ length: 1 + r.int(20) }, () => r.bytes(r.int(60)))],
  ];
  const [name, make] = r.pick(cases);
  const frames = [];
  for (const packet of make()) {
    // Now and then a packet split over WebSocket fragments (valid framing, the packet whole once joined).
    if (packet.length > 2 && r.chance(0.1)) {
      const cut = 1 + r.int(packet.length - 1);
      frames.push(frame({ opcode: 2, fin: false, payload: packet.subarray(0, cut) }), frame({ opcode: 0, payload: packet.subarray(cut) }));
    } else frames.push(frame({ opcode: 2, payload: packet }));
  }
  if (r.chance(0.1)) frames.push(frame({ opcode: 1, payload: Buffer.from("text") })); // Wisp is binary only: 1002
  return { kind: "wisp", name, chunks: [upgradeRequest(WISP_PATH, { Origin: origin }), ...frames] };
}

/**
 * A Wisp input alone (for the edge tunnels, which serve the same endpoint):
 * malformed packets (70%) or a valid session mutated (30%).
 * @param {Random} r @param {import("./tunnel-inputs.d.mts").FuzzTarget} target
 * @returns {import("./tunnel-inputs.d.mts").FuzzInput}
 */
export function wispInput(r, target) {
  if (r.chance(0.3)) return mutatedInput(r, target, { wispOnly: true });
  const input = malformedWisp(r, target);
  return { ...input, chunks: splitRandomly(r, input.chunks) };
}

function randomBytes(r) {
  const prefix = r.pick(["", "GET ", "GET / HTTP/1.1\r\n", "\x16\x03\x01"]); // nothing, HTTP-ish, a TLS ClientHello's start
  return { kind: "random", name: `random bytes after ${JSON.stringify(prefix)}`, chunks: [Buffer.from(prefix, "latin1"), r.bytes(1 + r.int(3000))] };
}

/**
 * Hosts that are, or look like, or resolve to, 127.0.0.1 without being the
 * string "127.0.0.1" (what an allowlist of `127.0.0.1:<port>` must refuse),
 * and the allowed one itself.
 */
export const NEAR_LOOPBACK = [
  "127.0.0.1", "127.0.0.2", "127.1", "127.0.1", "127.0.0.1.", "127.000.000.001", "0127.0.0.1", "2130706433", "0x7f000001",
  "0x7f.1", "0x7f.0.0.1", "017700000001", "0177.0.0.1", "127.0.0.01", "[::1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]",
  "[0:0:0:0:0:ffff:7f00:1]", "[::127.0.0.1]", "[0::1]", "[::1]:", "localhost", "LOCALHOST", "localhost.", "127.0.0.1%00",
  "127%2e0%2e0%2e1", "%31%32%37.0.0.1", "127.0.0.1%2f", "127.0.0.1@evil.test", "evil.test@127.0.0.1", "127。0。0。1",
  "%E3%80%82127.0.0.1", "１２７.0.0.1", "127.0.0.1%0d%0a", "127.0.0.1\t", " 127.0.0.1", "0.0.0.0", "0", "[::]",
];

/**
 * A valid upgrade (to an allowed or nearly allowed destination) with valid
 * frames, then changed: its header lines rewritten, or its bytes mutated
 * with mutate.mjs's havoc mutations (the request, the frames, or both).
 * @param {Random} r @param {import("./tunnel-inputs.d.mts").FuzzTarget} target
 * @returns {import("./tunnel-inputs.d.mts").FuzzInput}
 */
export function mutatedInput(r, { path, origin }, { wispOnly = false } = {}) {
  const port = /:(\d+)$/.exec(path)?.[1] ?? "1";
  // A Wisp session (to "/") now and then, else a wsproxy one to the allowed destination or one that looks like it.
  const wisp = wispOnly || r.chance(0.25);
  const to = wisp ? WISP_PATH : r.chance(0.7) ? path : `/${r.pick(NEAR_LOOPBACK)}:${port}`;
  const payload = () => r.bytes(r.int(300));
  const frames = wisp ? wispSession(r, path) : r.pick([
    () => [],
    () => [frame({ opcode: 2, payload: payload() })],
    () => [frame({ opcode: 2, payload: payload() }), frame({ opcode: 9, payload: Buffer.from("ping") }), frame({ opcode: 2, payload: payload() })],
    () => [frame({ opcode: 2, fin: false, payload: payload() }), frame({ opcode: 0, payload: payload() }), frame({ opcode: 8, payload: closePayload(1000, Buffer.from("bye")) })],
  ])();
  let request = upgradeRequest(to, { Origin: origin });
  let name = wisp ? "mutated Wisp session" : to === path ? "mutated upgrade" : `upgrade to ${to.slice(1)}`;
  const where = r.below(4);
  if (where === 0) {
    const lines = request.toString("latin1").split("\r\n");
    const header = 1 + r.below(lines.length - 3); // one of the header lines
    const edit = r.pick(["duplicate", "drop", "case", "lf", "fold", "no colon", "space before colon", "empty value"]);
    const line = lines[header];
    if (edit === "duplicate") lines.splice(header, 0, line);
    else if (edit === "drop") lines.splice(header, 1);
    else if (edit === "case") lines[header] = r.chance(0.5) ? line.toUpperCase() : line.toLowerCase();
    else if (edit === "fold") lines.splice(header + 1, 0, ` ${r.ascii(5)}`);
    else if (edit === "no colon") lines[header] = line.replace(":", "");
    else if (edit === "space before colon") lines[header] = line.replace(":", " :");
    else if (edit === "empty value") lines[header] = line.replace(/:.*/, ":");
    request = Buffer.from(edit === "lf" ? lines.join("\n") : lines.join("\r\n"), "latin1");
    name += `, header ${edit}`;
  } else if (where === 1) {
    request = Buffer.from(mutate(request, r));
    name += ", request bytes mutated";
  }
  let after = Buffer.concat(frames);
  if (where === 2) {
    after = Buffer.from(mutate(after, r));
    name += ", frames mutated";
  }
  let all = Buffer.concat([request, after]);
  if (where === 3) {
    all = Buffer.from(mutate(all, r));
    name += ", bytes mutated";
  }
  return { kind: "mutated", name, chunks: splitRandomly(r, [all]) };
}

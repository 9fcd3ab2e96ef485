// The tunnel fuzz target (make fuzz --targets tunnel), in two parts, on
// loopback only, bounded in count and time:
//
// 1. Parser inputs: the tunnel's own functions that take what a client (or
//    an operator) wrote, called directly: parseDestination (the request
//    path, as Node's HTTP parser hands it over: one character per byte),
//    parseAllowRule (allowlist entries), isAllowed, formatHostPort, and
//    closeReason (every close reason, with the Origin values and paths that
//    refusals quote). Candidates crowd around the allowed destinations
//    (127.0.0.2, [::ffff:127.0.0.1], 2130706433, 0x7f.1, trailing dots,
//    case, percent-encodings, NUL, CRLF, "@", huge strings...). Checked:
//    nothing but the documented TypeError/RangeError is ever thrown; the
//    accept decision equals an independent oracle's (below: exact host
//    equality after the documented normalisation, written without the
//    implementation's regular expressions) and nothing outside the
//    allowlist is ever accepted; parse/format round trips are stable;
//    every close reason fits in a close frame (at most 123 UTF-8 bytes, cut
//    at a character boundary, and what ws itself sends and parses back);
//    no single call takes long (a catastrophic regular expression would).
// 2. Live inputs: a real tunnel in its own process (tunnel-host.mjs) in
//    front of a loopback echo server, driven in parallel batches with
//    tunnel-inputs.mjs's hostile inputs (malformed HTTP and frames, random
//    bytes, mutated upgrades and frames), each ended one of four ways (the
//    client's FIN once the tunnel has gone quiet or at once, a reset, or
//    waiting for the tunnel's own timeouts). Checked per input: the reply is
//    HTTP/1.1 with a status the tunnel documents, and any close frame has a
//    valid code and a reason of at most 123 bytes of valid UTF-8. After
//    each batch: the tunnel process is alive, a real tunnel still relays to
//    the echo server, /healthz answers 200, live and pending counts return
//    to 0, its open file descriptors return to their baseline, no
//    internal-error or server-error event came, and no tunnel was opened to
//    anything but the allowed destination; its heap (after a full GC) stays
//    within HEAP_BOUND of its baseline. A batch that fails is replayed one
//    input at a time on a fresh tunnel to name the input that did it.
//
// Input i of a run gets its own PRNG seed, inputSeed(seed, 0, i) for parser
// inputs and inputSeed(seed, 1, i) for live ones, so any input can be
// regenerated alone; a failure's detail carries the input itself too.
import { fork } from "node:child_process";
import * as http from "node:http";
import * as net from "node:net";
import { fileURLToPath } from "node:url";
import { WebSocket, Receiver, Sender } from "ws";
import { Rng, inputSeed } from "./mutate.mjs";
import { parseCloseFrame, parseStatus } from "./raw-ws.mjs";
import { NEAR_LOOPBACK, Random, fuzzInput, mutatedInput } from "./tunnel-inputs.mjs";

// ---------------------------------------------------------------------------
// Part 1: parser inputs

/** The parsing functions under test, from bindings/dist/tunnel (tests pass the sources instead). */
export async function loadParsers() {
  const destination = await import("../../bindings/dist/tunnel/destination.js");
  const close = await import("../../bindings/dist/tunnel/close.js");
  return {
    parseDestination: destination.parseDestination,
    parseAllowRule: destination.parseAllowRule,
    isAllowed: destination.isAllowed,
    formatHostPort: destination.formatHostPort,
    closeReason: close.closeReason,
  };
}

/** RFC 6455 §5.5: 125 bytes of control frame payload, 2 of them the code. */
const MAX_REASON_BYTES = 123;
const ELLIPSIS = "…";
/** One call slower than this (twice in a row) is a failure: a regular expression gone quadratic, say. */
const SLOW_MS = 250;

// The oracle. It follows the documentation, not the code: a destination is
// the path without its leading slashes and without anything from the first
// "?" or "#", percent-decoded; then `host:port`, split at the last colon;
// the host is letters, digits, dots and hyphens, or hex digits, colons and
// dots in brackets (an IPv6 address), compared lower-case (ASCII) and
// without brackets; the port is 1-5 digits from 1 to 65535. An allow entry
// is the same `host:port`, or `host:*`, around optional white space; or
// `*.domain:port` (domain: non-empty labels of letters, digits and hyphens,
// the last not all digits), or `public:port` (the host "public", any case).
// A destination is allowed by name when some entry has exactly its host, or
// is `*.domain` and the host is one or more non-empty labels of letters,
// digits and hyphens, then "." and the domain; and its port or "*". (A
// `public` entry allows nothing by name: the live tunnel checks addresses.)
// Written character by character, so that it shares no regular expression,
// no decodeURIComponent and no toLowerCase with the code.

const isDigit = (c) => c >= 48 && c <= 57;
const isHex = (c) => isDigit(c) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
const isLetter = (c) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);

function asciiLower(s) {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out += c >= 65 && c <= 90 ? String.fromCharCode(c + 32) : s[i];
  }
  return out;
}

/** The host without brackets and lower-case, or null if it is not a host. */
function oracleHost(h) {
  if (h.length === 0) return null;
  if (h.charCodeAt(0) === 91 /* [ */) {
    if (h.length < 3 || h.charCodeAt(h.length - 1) !== 93 /* ] */) return null;
    for (let i = 1; i < h.length - 1; i++) {
      const c = h.charCodeAt(i);
      if (!isHex(c) && c !== 58 /* : */ && c !== 46 /* . */) return null;
    }
    return asciiLower(h.slice(1, -1));
  }
  for (let i = 0; i < h.length; i++) {
    const c = h.charCodeAt(i);
    if (!isLetter(c) && !isDigit(c) && c !== 46 && c !== 45 /* - */) return null;
  }
  return asciiLower(h);
}

/** 1-5 digits -> the number (range not checked), else null. */
function oraclePortDigits(p) {
  if (p.length < 1 || p.length > 5) return null;
  let n = 0;
  for (let i = 0; i < p.length; i++) {
    const c = p.charCodeAt(i);
    if (!isDigit(c)) return null;
    n = n * 10 + (c - 48);
  }
  return n;
}

/** Percent-decoding, for a result that can only matter if it is ASCII: null on a bad escape or any non-ASCII. */
function oracleDecode(s) {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 37 /* % */) {
      if (i + 2 >= s.length) return null;
      const a = s.charCodeAt(i + 1);
      const b = s.charCodeAt(i + 2);
      if (!isHex(a) || !isHex(b)) return null;
      const byte = parseInt(s.slice(i + 1, i + 3), 16);
      if (byte >= 0x80) return null; // a UTF-8 sequence (or a broken one): not ASCII either way
      out += String.fromCharCode(byte);
      i += 2;
    } else if (c >= 0x80) return null;
    else out += s[i];
  }
  return out;
}

/** What `path` asks for, per the documentation; null if it asks for nothing valid. */
export function oracleDestination(path) {
  let start = 0;
  while (start < path.length && path.charCodeAt(start) === 47 /* / */) start++;
  let end = start;
  while (end < path.length && path.charCodeAt(end) !== 63 /* ? */ && path.charCodeAt(end) !== 35 /* # */) end++;
  const decoded = oracleDecode(path.slice(start, end));
  if (decoded === null) return null;
  const colon = decoded.lastIndexOf(":");
  if (colon < 0) return null;
  const host = oracleHost(decoded.slice(0, colon));
  const port = oraclePortDigits(decoded.slice(colon + 1));
  if (host === null || port === null || port < 1 || port > 65535) return null;
  return { host, port };
}

/** ECMAScript's WhiteSpace and LineTerminator code points (what String.prototype.trim removes), listed. */
const SPACE = new Set([0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0xa0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005,
  0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff]);

/** An allow entry per the documentation: the rule, or the name of the error it must throw. */
export function oracleRule(rule) {
  if (typeof rule !== "string") return { error: "TypeError" };
  let start = 0;
  let end = rule.length;
  while (start < end && SPACE.has(rule.charCodeAt(start))) start++;
  while (end > start && SPACE.has(rule.charCodeAt(end - 1))) end--;
  const s = rule.slice(start, end);
  const colon = s.lastIndexOf(":");
  if (colon < 0) return { error: "TypeError" };
  const hostText = s.slice(0, colon);
  const portText = s.slice(colon + 1);
  const port = portText === "*" ? "*" : oraclePortDigits(portText);
  if (hostText.startsWith("*.")) {
    const domain = hostText.slice(2);
    const labels = domain.split(".");
    const last = labels[labels.length - 1];
    const allDigits = [...last].every((ch) => isDigit(ch.charCodeAt(0)));
    if (!labels.every(isLabel) || allDigits || port === null) return { error: "TypeError" };
    if (port !== "*" && (port < 1 || port > 65535)) return { error: "RangeError" };
    return { rule: { kind: "subdomains", domain: asciiLower(domain), port } };
  }
  const host = oracleHost(hostText);
  if (host === null || port === null) return { error: "TypeError" };
  if (port !== "*" && (port < 1 || port > 65535)) return { error: "RangeError" };
  if (host === "public") return { rule: { kind: "public", port } };
  return { rule: { kind: "host", host, port } };
}

/** A DNS label as allow entries take it: one or more letters, digits and hyphens. */
function isLabel(label) {
  if (label.length === 0) return false;
  for (let i = 0; i < label.length; i++) {
    const c = label.charCodeAt(i);
    if (!isLetter(c) && !isDigit(c) && c !== 45) return false;
  }
  return true;
}

/** Whether `host` is one or more labels, then "." and `domain`. */
function oracleSubdomain(host, domain) {
  if (host.length <= domain.length + 1 || host.slice(host.length - domain.length) !== domain) return false;
  const head = host.slice(0, host.length - domain.length);
  if (head[head.length - 1] !== ".") return false;
  return head.slice(0, -1).split(".").every(isLabel);
}

const oracleAllowed = (rules, d) => d !== null && rules.some((r) => (r.port === "*" || r.port === d.port) &&
  (r.kind === "host" ? r.host === d.host : r.kind === "subdomains" && oracleSubdomain(d.host, r.domain)));
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const show = (v) => JSON.stringify(v);

/** An allow entry as text: `host:*` or `host:port` (IPv6 in brackets), `*.domain:port`, `public:port`. */
const formatRule = (r) => r.kind === "public" ? `public:${r.port}` : r.kind === "subdomains" ? `*.${r.domain}:${r.port}`
  : `${r.host.includes(":") ? `[${r.host}]` : r.host}:${r.port}`;

let closeFrameBytes = [];
const fakeSocket = { cork() {}, uncork() {}, write(b, cb) { closeFrameBytes.push(Buffer.from(b)); cb?.(); return true; } };
const sender = new Sender(fakeSocket);

/** What ws makes of `reason` in a close frame: the frame it sends, parsed back by its own receiver. Problems, if any. */
function closeFrameProblems(code, reason) {
  closeFrameBytes = [];
  try {
    sender.close(code, reason, false);
  } catch (e) {
    return [`ws refuses to send it: ${e.name}: ${e.message}`];
  }
  let got = null;
  let error = null;
  const receiver = new Receiver({ isServer: false });
  receiver.on("conclude", (c, r) => (got = { code: c, reason: r }));
  receiver.on("error", (e) => (error = e));
  receiver.write(Buffer.concat(closeFrameBytes));
  if (error) return [`ws's receiver rejects the frame: ${error.message}`];
  if (!got) return ["ws's receiver did not get a close frame"];
  if (got.code !== code || !got.reason.equals(Buffer.from(reason))) return [`the close frame came back as ${got.code} ${show(got.reason.toString())}`];
  return [];
}

/**
 * Checks closeReason(text): at most 123 UTF-8 bytes; the text itself when
 * it fits; otherwise its longest prefix of whole code points within 120
 * bytes, then "…"; well-formed if the text was; and a close frame ws sends
 * and parses back unchanged.
 */
export function reasonProblems(p, text) {
  const problems = [];
  let reason;
  try {
    reason = p.closeReason(text);
  } catch (e) {
    return [`closeReason threw ${e?.name}: ${e?.message}`];
  }
  if (typeof reason !== "string") return [`closeReason returned ${typeof reason}`];
  const bytes = Buffer.byteLength(reason);
  if (bytes > MAX_REASON_BYTES) problems.push(`close reason of ${bytes} UTF-8 bytes (at most ${MAX_REASON_BYTES})`);
  if (Buffer.byteLength(text) <= MAX_REASON_BYTES) {
    if (reason !== text) problems.push("a reason that fits was changed");
  } else {
    const kept = reason.endsWith(ELLIPSIS) ? reason.slice(0, -ELLIPSIS.length) : null;
    if (kept === null || !text.startsWith(kept)) problems.push("a cut reason is not a prefix of the text and an ellipsis");
    else {
      const next = text.codePointAt(kept.length);
      const nextChar = next === undefined ? "" : String.fromCodePoint(next);
      const split = kept.length > 0 && /[\ud800-\udbff]$/.test(kept) && /^[\udc00-\udfff]/.test(text.slice(kept.length));
      if (split) problems.push("a cut reason splits a surrogate pair");
      else if (Buffer.byteLength(kept) + Buffer.byteLength(nextChar) <= MAX_REASON_BYTES - Buffer.byteLength(ELLIPSIS)) {
        problems.push("a cut reason is shorter than it has to be");
      }
    }
  }
  if (text.isWellFormed() && !reason.isWellFormed()) problems.push("a well-formed text gave a reason with a lone surrogate");
  // What ws would send: only worth the time where it could go wrong.
  if (bytes > 100 || /[^\x20-\x7e]/.test(reason)) problems.push(...closeFrameProblems(1008, reason));
  return problems;
}

/** Calls fn; throws if it was slow twice in a row (once may be the machine). */
function timed(fn) {
  const t = performance.now();
  const result = fn();
  if (performance.now() - t > SLOW_MS) {
    const t2 = performance.now();
    fn();
    const ms = performance.now() - t2;
    if (ms > SLOW_MS) throw Object.assign(new Error(`slow: one call took ${ms.toFixed(0)} ms`), { slow: true });
  }
  return result;
}

/** Any exception from `fn` becomes a problem unless it is one of `allowed` (by name). */
function call(fn, what, allowed = []) {
  try {
    return { value: timed(fn) };
  } catch (e) {
    if (e?.slow) return { problem: `${what}: ${e.message}` };
    if (allowed.includes(e?.constructor?.name) && e instanceof Error) return { error: e.constructor.name };
    return { problem: `${what} threw ${e?.constructor?.name ?? typeof e}: ${e?.message ?? e} (only ${allowed.join("/") || "nothing"} is documented)` };
  }
}

/**
 * One destination input: `path` as the tunnel gets it, against allow
 * entries `rules`. Returns the problems and what happened.
 */
export function destinationProblems(p, path, rules) {
  const problems = [];
  const implRules = [];
  const oracleRules = [];
  for (const text of rules) {
    const o = oracleRule(text);
    const r = call(() => p.parseAllowRule(text), "parseAllowRule", ["TypeError", "RangeError"]);
    if (r.problem) problems.push(r.problem);
    if (o.rule && r.value) {
      implRules.push(r.value);
      oracleRules.push(o.rule);
    }
  }
  const parsed = call(() => p.parseDestination(path), "parseDestination");
  if (parsed.problem) return { problems: [...problems, parsed.problem], outcome: "threw" };
  const d = parsed.value;
  if (d !== null && !(typeof d === "object" && Object.keys(d).length === 2 && typeof d.host === "string" &&
      Number.isInteger(d.port) && d.port >= 1 && d.port <= 65535)) {
    problems.push(`parseDestination returned ${show(d)}`);
    return { problems, outcome: "bad result" };
  }
  const expected = oracleDestination(path);
  const allowed = call(() => d !== null && p.isAllowed(implRules, d), "isAllowed");
  if (allowed.problem) problems.push(allowed.problem);
  const accepted = allowed.value === true;
  const shouldAccept = oracleAllowed(oracleRules, expected);
  // The one that matters most first: anything accepted must be some rule's exact host and port.
  if (accepted && !oracleAllowed(oracleRules, d)) {
    problems.push(`accepted ${show(d)}, which no allow entry names (entries ${show(oracleRules)})`);
  } else if (accepted !== shouldAccept) {
    problems.push(`${accepted ? "accepted" : "refused"} it; the oracle ${shouldAccept ? "accepts" : "refuses"} it (parsed ${show(d)}, oracle ${show(expected)})`);
  }
  if (!same(d, expected)) problems.push(`parseDestination gives ${show(d)}, the oracle ${show(expected)}`);
  if (d !== null) {
    const formatted = call(() => p.formatHostPort(d.host, d.port), "formatHostPort");
    if (formatted.problem) problems.push(formatted.problem);
    else {
      for (const again of [`/${formatted.value}`, `/${encodeURIComponent(formatted.value)}`]) {
        const back = call(() => p.parseDestination(again), "parseDestination");
        if (!same(back.value, d)) problems.push(`round trip: ${show(again)} parses as ${show(back.value ?? back.problem)}, not ${show(d)}`);
      }
      if (!accepted) problems.push(...reasonProblems(p, `destination not allowed: ${formatted.value}`));
    }
  } else {
    problems.push(...reasonProblems(p, `malformed destination path ${JSON.stringify(path)}: want /<host>:<port>`));
  }
  return { problems, outcome: d === null ? "malformed" : accepted ? "accepted" : "refused", parsed: d };
}

/** One allow entry: a rule or a TypeError/RangeError, as the oracle says; a rule formats and parses back to itself. */
export function ruleProblems(p, text) {
  const problems = [];
  const r = call(() => p.parseAllowRule(text), "parseAllowRule", ["TypeError", "RangeError"]);
  if (r.problem) return { problems: [r.problem], outcome: "threw" };
  const o = oracleRule(text);
  const got = r.error ? { error: r.error } : { rule: r.value };
  if (!same(got, o)) problems.push(`parseAllowRule gives ${show(got)}, the oracle ${show(o)}`);
  if (r.value) {
    const back = call(() => p.parseAllowRule(formatRule(r.value)), "parseAllowRule", ["TypeError", "RangeError"]);
    if (!same(back.value, r.value)) problems.push(`round trip: ${show(formatRule(r.value))} parses as ${show(back.value ?? back.error ?? back.problem)}`);
  }
  return { problems, outcome: r.error ?? "rule" };
}

/** One Origin value (undefined: no header) against the allowed `origins`: the refusal's reason must fit. */
export function originProblems(p, origin, origins) {
  const allowed = origin !== undefined && origins.includes(origin);
  if (allowed) return { problems: [], outcome: "allowed" };
  const problems = reasonProblems(p, `origin not allowed: ${origin === undefined ? "(none)" : JSON.stringify(origin)}`);
  return { problems, outcome: "refused" };
}

// Generators. Strings stand for what Node's HTTP parser hands over: one
// character per byte (latin1), so UTF-8 arrives as several characters.

const RULE_POOL = ["127.0.0.1:8080", "localhost:*", "[::1]:443", "example.org:443", "EXAMPLE.org:8443", "a-b.c-d.test:*",
  "[::ffff:127.0.0.1]:1", "[FE80::1]:22", "10.0.0.1:*", "[127.0.0.1]:5", "xn--bcher-kva.example:443", "0.0.0.0:80", "127.0.0.1.:8080",
  "*.example.org:443", "*.A-b.test:*", "public:443", "PUBLIC:*", "*.0x1.example:8443"];
const ODD_CHARS = ["%", ":", "[", "]", "@", ".", "/", "\\", "?", "#", "\0", "\r", "\n", "\t", " ", "+", "-", "_", "~", "*", "é", "\xff",
  "\x80", "\u3002", "\uff0e", "\u212a", "\u0130", "\ud800", "\udc00", "😀", "0", "9", "a", "F", "x", "%00", "%2e", "%2E", "%3a", "%3A",
  "%5b", "%5D", "%25", "%zz", "%4", "%0d%0a", "\u00a0", "\ufeff", "\u2028", "ſ", "K"];
const PORTS = ["0", "1", "22", "80", "443", "8080", "65535", "65536", "99999", "100000", "00443", "+443", "443 ", " 443", "", "4 43",
  "0x1bb", "٤٤٣", "443.0", "1e3", "-1", "*", "443:443"];

function randomBytes(rng, n) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = rng.u32() & 0xff;
  return b;
}

function randomAscii(rng, n, alphabet = "abcdefghijklmnopqrstuvwxyz0123456789.-") {
  let s = "";
  for (let i = 0; i < n; i++) s += alphabet[rng.below(alphabet.length)];
  return s;
}

function percentEncode(rng, ch) {
  const hex = (b) => {
    const h = b.toString(16).padStart(2, "0");
    return `%${rng.chance(0.5) ? h.toUpperCase() : h}`;
  };
  const c = ch.charCodeAt(0);
  if (c < 0x80) return hex(c);
  return [...Buffer.from(ch)].map(hex).join("");
}

/** 0-3 character-level edits: insert an odd character, delete, duplicate, replace, flip case, percent-encode, truncate. */
function mutateText(rng, s, rounds = 1 + rng.below(3)) {
  for (let i = 0; i < rounds; i++) {
    const at = rng.below(s.length + 1);
    switch (rng.below(8)) {
      case 0: s = s.slice(0, at) + rng.pick(ODD_CHARS) + s.slice(at); break;
      case 1: s = s.slice(0, at) + s.slice(at + 1 + rng.below(4)); break;
      case 2: s = s.slice(0, at) + s.slice(at, at + 1 + rng.below(8)).repeat(2) + s.slice(at + 1 + rng.below(8)); break;
      case 3: s = s.slice(0, at) + rng.pick(ODD_CHARS) + s.slice(at + 1); break;
      case 4: {
        const c = s[at];
        if (c) s = s.slice(0, at) + (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase()) + s.slice(at + 1);
        break;
      }
      case 5: if (s[at]) s = s.slice(0, at) + percentEncode(rng, s[at]) + s.slice(at + 1); break;
      case 6: s = s.slice(0, at); break;
      default: if (s[at]) s = s.slice(0, at) + percentEncode(rng, s[at]).replaceAll("%", "%25") + s.slice(at + 1); // double encoding
    }
  }
  return s;
}

/** Something huge: the parsers must stay linear. */
function huge(rng, s) {
  const n = 10_000 + rng.below(100_000);
  return rng.pick([
    () => s.repeat(Math.ceil(n / Math.max(1, s.length))),
    () => `/[${":".repeat(n)}`,
    () => `/${"a".repeat(n)}:${"1".repeat(n)}`,
    () => `/${"%41".repeat(n / 3)}:1`,
    () => `/${"/".repeat(n)}127.0.0.1:1`,
    () => `/127.0.0.1:1${"?#".repeat(n / 2)}`,
    () => `/${"[".repeat(n)}::1]:1`,
    () => `/${"a.".repeat(n / 2)}:80`,
  ])();
}

/** A request path near the allowed destinations. */
function destinationPath(rng, rules) {
  if (rng.chance(0.04)) return randomBytes(rng, rng.below(200)).toString("latin1");
  const rule = rng.pick(rules);
  let ruleHost = /^(.*):[^:]*$/.exec(rule.trim())?.[1] ?? rule;
  // A subdomain pattern: a name under it (or the apex, or an empty label)
  if (ruleHost.startsWith("*.")) ruleHost = rng.pick(["a", "a.b", "", "A-1.x", "*"]) + ruleHost.slice(1);
  const rulePort = /:(\d+)\s*$/.exec(rule)?.[1];
  const r = rng.below(100);
  const host = r < 45 ? ruleHost : r < 80 ? rng.pick(NEAR_LOOPBACK)
    : r < 90 ? `${rng.below(256)}.${rng.below(256)}.${rng.below(256)}.${rng.below(256)}`
      : r < 95 ? `[${randomAscii(rng, 1 + rng.below(20), "0123456789abcdefABCDEF:.")}]` : randomAscii(rng, 1 + rng.below(30));
  const port = rulePort && rng.chance(0.6) ? rulePort : rng.chance(0.5) ? `${1 + rng.below(65535)}` : rng.pick(PORTS);
  const sep = rng.chance(0.9) ? ":" : rng.pick(["%3A", "%3a", "::", ": ", "%253A"]);
  const lead = rng.pick(["/", "/", "/", "", "//", "///", "\\", "/./"]);
  const tail = rng.chance(0.7) ? "" : rng.pick(["?x", "#y", "?a=b#c", "/", "/x", "?x\ny", "#\r\n", "%3F", "%23", "?", "#", "?\u2028", "&x"]);
  let path = `${lead}${host}${sep}${port}${tail}`;
  if (rng.chance(0.02)) path = `http://x${path}`;
  if (rng.chance(0.15)) {
    // percent-encode some characters (either case of hex)
    let out = "";
    for (const ch of path) out += ch !== "/" && rng.chance(0.2) ? percentEncode(rng, ch) : ch;
    path = out;
  }
  if (rng.chance(0.35)) path = mutateText(rng, path);
  if (rng.chance(0.002)) path = huge(rng, path);
  // As Node hands it over: bytes, one character each (UTF-8 arrives as several).
  if (rng.chance(0.5)) path = Buffer.from(path, "utf8").toString("latin1");
  return path;
}

function ruleText(rng) {
  if (rng.chance(0.02)) return rng.pick([undefined, null, 42, {}, ["127.0.0.1:1"], Symbol.for("x")]);
  let s = rng.pick(RULE_POOL);
  if (rng.chance(0.3)) s = `${rng.pick(NEAR_LOOPBACK).replace(/%.*/, "")}:${rng.pick(["*", "1", "443", "65535", "0", "65536"])}`;
  if (rng.chance(0.2)) s = rng.pick([" ", "\t", "\u00a0", "\ufeff", "\n", "\u2028", "\u180e"]) + s + rng.pick(["", " ", "\r\n", "\u3000"]);
  if (rng.chance(0.6)) s = mutateText(rng, s);
  if (rng.chance(0.003)) s = huge(rng, s);
  return s;
}

/** Allow entries for one destination input: 1-4 from the pool, now and then a mutated one. */
function ruleSet(rng) {
  const rules = Array.from({ length: 1 + rng.below(4) }, () => rng.pick(RULE_POOL));
  if (rng.chance(0.2)) rules.push(ruleText(rng));
  return rules.filter((r) => typeof r === "string");
}

const ORIGINS = ["http://good.test", "https://app.example", "http://localhost:5173"];

function originValue(rng) {
  if (rng.chance(0.03)) return undefined;
  const r = rng.below(10);
  let s;
  if (r < 2) s = mutateText(rng, rng.pick(ORIGINS));
  else if (r < 5) {
    // UTF-8 text, as the latin1 characters Node makes of its bytes
    const text = Array.from({ length: 1 + rng.below(rng.chance(0.2) ? 2000 : 120) }, () => rng.pick(["é", "日", "😀", "a", "\u0301", "ß", "€"])).join("");
    s = Buffer.from(`http://${text}.test`, "utf8").toString("latin1");
  } else if (r < 8) s = randomBytes(rng, rng.below(rng.chance(0.1) ? 16_000 : 300)).toString("latin1");
  else s = rng.pick(["", "null", "http://good.test/", "HTTP://GOOD.TEST", "http://good.test:80", " http://good.test", "http://good.test, http://good.test"]);
  return s;
}

function reasonText(rng) {
  const pieces = ["a", "é", "€", "😀", "\ud800", "\udc00", "Ã©", "\0", "\n", "\"", "\\", "\u0301", "\uffff", "\ud83d", "\ude00"];
  const target = rng.pick([rng.below(10), 110 + rng.below(30), 115 + rng.below(10), 200 + rng.below(300), rng.chance(0.05) ? 100_000 : 50]);
  const mostly = rng.pick(pieces);
  const parts = [];
  for (let bytes = 0; bytes < target;) {
    const piece = rng.chance(0.8) ? mostly : rng.pick(pieces);
    parts.push(piece);
    bytes += Buffer.byteLength(piece);
  }
  return parts.join("");
}

/** Input `index` of a run: its kind and the thing itself, from its own seed. */
export function parserInput(seed, index) {
  const s = inputSeed(seed, 0, index);
  const rng = new Rng(s);
  const roll = rng.below(100);
  if (roll < 55) {
    const rules = ruleSet(rng);
    return { seed: s, index, kind: "destination", rules, text: destinationPath(rng, rules.length ? rules : ["127.0.0.1:1"]) };
  }
  if (roll < 70) return { seed: s, index, kind: "rule", text: ruleText(rng) };
  if (roll < 85) return { seed: s, index, kind: "origin", text: originValue(rng), origins: ORIGINS };
  return { seed: s, index, kind: "reason", text: reasonText(rng) };
}

/** Runs one parser input (a generated one or a regression file's). */
export function checkParserInput(p, input) {
  switch (input.kind) {
    case "destination": return destinationProblems(p, input.text, input.rules ?? []);
    case "rule": return ruleProblems(p, input.text);
    case "origin": return originProblems(p, input.text, input.origins ?? ORIGINS);
    case "reason": {
      const problems = reasonProblems(p, input.text);
      return { problems, outcome: Buffer.byteLength(input.text) > MAX_REASON_BYTES ? "cut" : "kept" };
    }
    default: throw new Error(`no parser input kind ${input.kind}`);
  }
}

/** The failure for a parser input: what it was, the input itself (base64 of UTF-8, and as a JSON string, which keeps lone surrogates). */
function parserFailure(input, problems) {
  const text = typeof input.text === "string" ? input.text : String(input.text);
  return {
    message: `${input.kind}: ${problems[0]}`,
    detail: {
      target: "tunnel", kind: input.kind, seed: input.seed, index: input.index, problems,
      what: { destination: "a request path, against allow entries", rule: "an allow entry", origin: "an Origin header value",
        reason: "a close reason" }[input.kind],
      text: input.text, ...(input.rules ? { rules: input.rules } : {}), ...(input.origins ? { origins: input.origins } : {}),
      input: Buffer.from(text).toString("base64"),
    },
  };
}

/**
 * Runs parser inputs 0..count-1 of `seed` (or until `deadline`) through
 * `parsers`; returns how many ran, what happened to them, and up to
 * `maxFailures` failures (one per distinct message start).
 */
export function fuzzParsers({ seed, count, deadline = Infinity, parsers, maxFailures = 10, onProgress = () => {} }) {
  const started = performance.now();
  const outcomes = {};
  const failures = [];
  const seen = new Set();
  let done = 0;
  for (; done < count && (done % 256 !== 0 || Date.now() < deadline) && failures.length < maxFailures; done++) {
    const input = parserInput(seed, done);
    const { problems, outcome } = checkParserInput(parsers, input);
    const key = `${input.kind} ${outcome}`;
    outcomes[key] = (outcomes[key] ?? 0) + 1;
    if (problems.length) {
      const kindOfProblem = `${input.kind}: ${problems[0].replace(/[\d"{[].*$/s, "")}`;
      if (!seen.has(kindOfProblem)) {
        seen.add(kindOfProblem);
        failures.push(parserFailure(input, problems));
      }
    }
    if (done % 100_000 === 0 && done) onProgress(done);
  }
  return { done, seconds: (performance.now() - started) / 1000, outcomes, failures };
}

// ---------------------------------------------------------------------------
// Part 2: live inputs

/** What the tunnel may answer: 101 (WebSocket), /healthz's 200, 426 (plain HTTP), 400/405/408/431 (bad requests). */
const STATUSES = new Set([101, 200, 400, 405, 408, 426, 431]);
/** ws's rule for close codes on the wire (RFC 6455 §7.4), and 1005 for a close frame without one (an echo of the client's). */
const validCloseCode = (c) => (c >= 1000 && c <= 1014 && c !== 1004 && c !== 1005 && c !== 1006) || (c >= 3000 && c <= 4999) || c === 1005;
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * How the client ends (after the tunnel's close frame, if one comes, it
 * always sends FIN at once): "quiet", FIN once the tunnel sent nothing for
 * QUIET_MS (fast, but under load the tunnel may not have got to everything
 * yet); "fin", FIN at once; "rst", a reset at once; "linger", FIN after
 * LINGER_MS, so the tunnel's own deadlines (upgradeTimeoutMs is 1 s in
 * tunnel-host.mjs) and all its replies come first (what regressions with an
 * expected outcome use).
 */
const ENDINGS = [["quiet", 0.6], ["fin", 0.25], ["rst", 0.145], ["linger", 0.005]];
const QUIET_MS = 20;
const LINGER_MS = 1500;
/** After the client's FIN, the tunnel has this long to close the connection. */
const CLOSE_AFTER_FIN_MS = 5000;
/**
 * The tunnel process's heap in use, after a full GC, stays within this of
 * its baseline (taken after the first batch). It levels off about 1 MiB
 * above it, by 20,000 inputs as by 100,000: what V8 keeps of compiled code
 * and inline caches for the paths the inputs reached.
 */
const HEAP_BOUND = 16 << 20;
/** How long closed connections get to give back their fds (sockets close asynchronously, the echo server's after the tunnel's). */
const FD_SETTLE_MS = 2000;

/** Live input `index` of a run against a tunnel to `target`. */
export function liveInput(seed, index, target) {
  const s = inputSeed(seed, 1, index);
  const r = new Random(s);
  const input = r.chance(0.65) ? fuzzInput(r, target) : mutatedInput(r, target);
  let roll = r.next();
  const ending = ENDINGS.find(([, share]) => (roll -= share) < 0)?.[0] ?? "quiet";
  return { seed: s, index, ...input, ending };
}

/**
 * One connection: writes `chunks`, ends as `ending` says, and resolves with
 * what came back once the tunnel closed the connection (or it was reset).
 */
export function exchange(port, chunks, ending) {
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = net.connect({ host: "127.0.0.1", port });
    socket.setNoDelay(true);
    const got = [];
    let closeFrame = null;
    let finSent = false;
    let timedOut = false;
    let wait;
    const fin = () => {
      if (finSent || socket.destroyed) return;
      finSent = true;
      clearTimeout(wait);
      socket.end();
      wait = setTimeout(() => {
        timedOut = true;
        socket.destroy();
      }, CLOSE_AFTER_FIN_MS);
    };
    const quiet = () => {
      if (ending !== "quiet" || finSent) return;
      clearTimeout(wait);
      wait = setTimeout(fin, QUIET_MS);
    };
    socket.on("error", () => {});
    socket.on("data", (d) => {
      got.push(d);
      if (!closeFrame) closeFrame = parseCloseFrame(got.length === 1 ? d : Buffer.concat(got));
      if (closeFrame) fin(); // the tunnel is done with it; we never answer its close frame
      else quiet();
    });
    socket.on("connect", () => {
      for (const c of chunks) socket.write(c);
      if (ending === "fin") fin();
      else if (ending === "rst") socket.resetAndDestroy();
      else if (ending === "linger") wait = setTimeout(fin, LINGER_MS);
      else quiet();
    });
    socket.on("close", () => {
      clearTimeout(wait);
      const bytes = Buffer.concat(got);
      resolve({ bytes, status: parseStatus(bytes), close: closeFrame ?? parseCloseFrame(bytes), clientEnded: finSent || ending === "rst", timedOut,
        ms: performance.now() - started });
    });
  });
}

/** Problems with one reply: its status, its close frame, and whether the tunnel let go after the client's FIN. */
export function replyProblems(reply) {
  const problems = [];
  if (reply.bytes.length && reply.status === null) problems.push(`a reply that is not HTTP/1.1: ${show(reply.bytes.subarray(0, 40).toString("latin1"))}`);
  if (reply.status !== null && !STATUSES.has(reply.status)) problems.push(`HTTP status ${reply.status}, not one the tunnel answers`);
  if (reply.close) {
    const { code, reason } = reply.close;
    if (!validCloseCode(code)) problems.push(`close code ${code}`);
    if (reason.length > MAX_REASON_BYTES) problems.push(`a close reason of ${reason.length} bytes`);
    try {
      utf8.decode(reason);
    } catch {
      problems.push(`a close reason that is not UTF-8: ${reason.toString("base64")}`);
    }
  }
  if (reply.timedOut) problems.push(`the tunnel kept the connection open ${CLOSE_AFTER_FIN_MS} ms after the client's FIN`);
  return problems;
}

/** Runs `work` over `items`, at most `limit` at a time; results in order. */
async function inParallel(items, limit, work) {
  const results = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i]);
    }
  }));
  return results;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The tunnel under test, in its own process (tunnel-host.mjs). */
export class TunnelHost {
  /** Events that must never happen, as the host reported them. */
  problems = [];
  exit = null;
  /** Resolves once it exited (and `exit` says how). */
  exited;
  #child;
  #replies = new Map();
  #nextId = 1;
  #stderr = "";

  /** @param {{ module?: string; maxSeconds?: number }} [options] */
  static async start(options = {}) {
    const host = new TunnelHost();
    await host.#start(options);
    return host;
  }

  async #start({ module, maxSeconds = 7200 }) {
    const child = fork(fileURLToPath(new URL("./tunnel-host.mjs", import.meta.url)), [JSON.stringify({ module, maxSeconds })], {
      execArgv: ["--expose-gc"], stdio: ["ignore", "ignore", "pipe", "ipc"],
    });
    this.#child = child;
    // "close", not "exit": by then its stderr (what it died of) has been read too.
    this.exited = new Promise((resolve) => child.once("close", () => resolve()));
    child.on("error", () => {}); // a send after the channel closed; "exit" says what happened
    child.stderr.on("data", (d) => (this.#stderr = (this.#stderr + d).slice(-4000)));
    const ready = new Promise((resolve, reject) => {
      child.on("message", (m) => {
        if (m.type === "ready") resolve(m);
        else if (m.type === "event") this.problems.push(m.event);
        else if (m.type === "reply") this.#replies.get(m.id)?.(m);
      });
      child.on("close", (code, signal) => {
        this.exit = { code, signal, stderr: this.#stderr };
        for (const reply of this.#replies.values()) reply(null);
        reject(new Error(`the tunnel process exited before it listened (${code ?? signal}): ${this.#stderr}`));
      });
    });
    const { port, echoPort, allowed, origin } = await ready;
    Object.assign(this, { port, echoPort, allowed, origin, pid: child.pid });
  }

  get alive() {
    return this.exit === null;
  }

  /** Its counts, fds, handles, heap in use (after a full GC if `gc`), events by name; null once it exited. */
  stats(gc = false) {
    if (!this.alive) return Promise.resolve(null);
    const id = this.#nextId++;
    return new Promise((resolve) => {
      this.#replies.set(id, (m) => {
        this.#replies.delete(id);
        resolve(m);
      });
      // An error here: the channel closed, it is exiting.
      this.#child.send({ op: "stats", id, gc }, (e) => e && this.#replies.get(id)?.(null));
    });
  }

  async stop() {
    if (!this.alive) return;
    this.#child.send({ op: "stop", id: this.#nextId++ }, () => {});
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), 10_000);
    await this.exited;
    clearTimeout(timer);
  }
}

/** A real tunnel through `host` to its echo server still relays both ways; a problem, or null. */
function echoProblem(host) {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${host.port}/${host.allowed}`, { headers: { Origin: host.origin } });
    let data = "";
    const timer = setTimeout(() => {
      ws.terminate();
      resolve("a tunnel to the echo server did not echo within 5 s");
    }, 5000);
    ws.on("open", () => ws.send(Buffer.from("still alive")));
    ws.on("message", (d) => {
      data += d.toString();
      if (data.length >= 11) ws.close(1000);
    });
    ws.on("close", (code) => {
      clearTimeout(timer);
      resolve(data === "still alive" && code === 1000 ? null : `a tunnel to the echo server gave ${show(data)} and close ${code}`);
    });
    ws.on("error", () => {});
  });
}

/** GET /healthz: a problem, or null. */
function healthProblem(host) {
  return new Promise((resolve) => {
    const req = http.get({ host: "127.0.0.1", port: host.port, path: "/healthz", agent: false, timeout: 5000 }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => {
        let ok = false;
        try {
          ok = JSON.parse(body).ok === true;
        } catch {}
        resolve(res.statusCode === 200 && ok ? null : `/healthz answered ${res.statusCode} ${show(body)}`);
      });
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (e) => resolve(`/healthz failed: ${e.message}`));
  });
}

/** Polls the host's stats until `condition` holds (or `ms` passed); the last stats. */
async function statsUntil(host, condition, ms) {
  const end = Date.now() + ms;
  for (;;) {
    const s = await host.stats();
    if (!s || condition(s) || Date.now() > end) return s;
    await sleep(5);
  }
}

/**
 * The checks after a batch: alive, relays, /healthz, counts back to 0, fds
 * back to `baseline.fds`, no event that must never happen. Problems.
 */
async function hostProblems(host, baseline) {
  // Its IPC channel can close a moment before its "exit" event.
  const exited = async () => {
    await Promise.race([host.exited, sleep(5000)]);
    if (!host.exit) return ["the tunnel process stopped answering"];
    return [`the tunnel process exited (${host.exit.code ?? host.exit.signal}): ${host.exit.stderr.trim().split("\n").slice(-5).join(" | ")}`];
  };
  if (!host.alive) return exited();
  const problems = [];
  const echo = await echoProblem(host);
  if (echo) problems.push(echo);
  const health = await healthProblem(host);
  if (health) problems.push(health);
  const settled = await statsUntil(host, (s) => s.connections === 0 && s.pending === 0 && !s.streams, 5000);
  if (!settled) return exited();
  if (settled.connections || settled.pending || settled.streams) {
    problems.push(`${settled.connections} live, ${settled.pending} pending and ${settled.streams} Wisp streams 5 s after the batch`);
  }
  if (baseline) {
    const fds = await statsUntil(host, (s) => s.fds <= baseline.fds, FD_SETTLE_MS);
    if (fds && fds.fds > baseline.fds) problems.push(`${fds.fds} open file descriptors, ${baseline.fds} before`);
  }
  for (const e of host.problems.splice(0)) {
    problems.push(e.event === "connecting" ? `a tunnel to ${e.target}, which is not allowed` : `${e.event} event: ${e.reason}`);
  }
  if (!host.alive) return exited();
  return problems;
}

/** A live input's failure detail: what it was and its bytes (base64). */
function liveDetail(input, host, extra = {}) {
  return {
    target: "tunnel", kind: "live", seed: input.seed, index: input.index, what: `${input.kind}: ${input.name}`,
    ending: input.ending, allowed: host.allowed, origin: host.origin,
    chunks: input.chunks.map((c) => c.toString("base64")), input: Buffer.concat(input.chunks).toString("base64"), ...extra,
  };
}

/** Replays a failed batch one input at a time on a fresh tunnel; the failure of the first input that fails alone, or null. */
async function narrow(batch, module) {
  const host = await TunnelHost.start({ module, maxSeconds: 600 });
  try {
    await hostProblems(host, null);
    const baseline = await statsUntil(host, (s) => s.connections === 0 && s.pending === 0, 2000);
    for (const input of batch) {
      const reply = await exchange(host.port, input.chunks, input.ending);
      const problems = [...replyProblems(reply), ...(await hostProblems(host, baseline))];
      if (problems.length) {
        return { message: `live: ${problems[0]}`, detail: liveDetail(input, host, { problems, narrowed: true, reply: replySummary(reply) }) };
      }
    }
    return null;
  } finally {
    await host.stop();
  }
}

/** A reply as a failure's detail and a regression's outcome show it. */
const replySummary = (r) => ({
  status: r.status, close: r.close && { code: r.close.code, reason: r.close.reason.toString() }, clientEnded: r.clientEnded, ms: Math.round(r.ms),
});

/**
 * Runs live inputs 0..count-1 of `seed` (or until `deadline`) against a
 * tunnel in its own process, `parallel` at a time in batches of `batchSize`.
 */
export async function runLive({ seed, count, deadline = Infinity, parallel = 32, batchSize = 1000, module, onProgress = () => {} }) {
  const started = performance.now();
  // The tunnel process ends by itself a minute after the deadline, whatever happens here.
  const maxSeconds = Number.isFinite(deadline) ? Math.ceil((deadline - Date.now()) / 1000) + 60 : 3600;
  const host = await TunnelHost.start({ module, maxSeconds });
  const tally = { kinds: {}, endings: {}, statuses: {}, closeCodes: {} };
  const count1 = (table, key) => (table[key] = (table[key] ?? 0) + 1);
  const failures = [];
  let done = 0;
  let baseline = null;
  let heap = { baseline: 0, last: 0 };
  try {
    const target = { path: `/${host.allowed}`, origin: host.origin };
    const broken = (await hostProblems(host, null))[0];
    if (broken) failures.push({ message: `live: before any input: ${broken}`, detail: { target: "tunnel", kind: "live-start" } });
    for (let batchNo = 0; !broken && done < count && Date.now() < deadline; batchNo++) {
      const batch = Array.from({ length: Math.min(batchSize, count - done) }, (_, k) => liveInput(seed, done + k, target));
      // The slow ones (waiting for the tunnel's timeouts) first, so the rest run meanwhile.
      const order = [...batch.keys()].sort((a, b) => Number(batch[b].ending === "linger") - Number(batch[a].ending === "linger"));
      const replies = new Array(batch.length);
      await inParallel(order, parallel, async (k) => (replies[k] = await exchange(host.port, batch[k].chunks, batch[k].ending)));
      batch.forEach((input, k) => {
        count1(tally.kinds, input.kind);
        count1(tally.endings, input.ending);
        count1(tally.statuses, replies[k].status ?? "none");
        if (replies[k].close) count1(tally.closeCodes, replies[k].close.code);
        const problems = replyProblems(replies[k]);
        if (problems.length && failures.length < 10) {
          failures.push({ message: `live: ${problems[0]}`, detail: liveDetail(input, host, { problems, reply: replySummary(replies[k]) }) });
        }
      });
      const problems = await hostProblems(host, baseline);
      if (problems.length) {
        const culprit = await narrow(batch, module);
        failures.push(culprit ?? {
          message: `live: ${problems[0]} (after batch ${batchNo}; no input of it fails alone)`,
          detail: { target: "tunnel", kind: "live-batch", seed, index: done, problems, input: "",
            batch: batch.map((input) => liveDetail(input, host)) },
        });
        break;
      }
      done += batch.length;
      if (failures.length) break;
      if (!baseline) {
        // After one batch: whatever the tunnel opens once (and keeps) is open.
        baseline = await host.stats(true);
        heap = { baseline: baseline.heapUsed, last: baseline.heapUsed };
      } else if (batchNo % 10 === 0 || done >= count) {
        heap.last = (await host.stats(true)).heapUsed;
        if (heap.last - heap.baseline > HEAP_BOUND) {
          failures.push({ message: `live: the tunnel's heap in use grew by ${heap.last - heap.baseline} bytes after ${done} inputs`,
            detail: { target: "tunnel", kind: "live-heap", seed, index: done, heap } });
          break;
        }
      }
      onProgress(done);
    }
    const final = await host.stats(true);
    if (final) heap.last = final.heapUsed;
    return {
      done, seconds: (performance.now() - started) / 1000, failures, tally, heap,
      fds: { baseline: baseline?.fds ?? 0, last: final?.fds ?? 0 }, events: final?.events ?? {},
    };
  } finally {
    await host.stop();
  }
}

/**
 * Replays one regression file's tunnel input: a parser input (checked as the
 * fuzzer checks it) or a live one (against `host`, then the batch checks).
 * Returns the problems and what happened.
 */
export async function replayTunnel(regression, { parsers, host } = {}) {
  if (regression.kind !== "live") {
    const r = checkParserInput(parsers, regression);
    return { problems: r.problems, outcome: r.outcome };
  }
  const before = await statsUntil(host, (s) => s.connections === 0 && s.pending === 0, 2000);
  // The file names the allowed destination it was made against; this host's may differ.
  const from = Buffer.from(regression.allowed ?? host.allowed);
  const chunks = regression.chunks.map((c) => {
    const b = Buffer.from(c, "base64");
    const at = b.indexOf(from);
    return at < 0 ? b : Buffer.concat([b.subarray(0, at), Buffer.from(host.allowed), b.subarray(at + from.length)]);
  });
  const reply = await exchange(host.port, chunks, regression.ending ?? "quiet");
  const problems = [...replyProblems(reply), ...(await hostProblems(host, before))];
  return { problems, outcome: replySummary(reply) };
}

/** The tunnel target of make fuzz: parser inputs first (up to half the time), then live inputs; one row of figures. */
export async function fuzzTunnel(o) {
  const started = Date.now();
  const deadline = started + o.seconds * 1000;
  const parsers = await loadParsers();
  const parser = fuzzParsers({
    seed: o.seed, count: o.inputs, deadline: started + o.seconds * 500, parsers,
    onProgress: (n) => console.log(`fuzz: tunnel: ${n} parser inputs`),
  });
  const p = (n, s) => `${n} in ${s.toFixed(1)} s (${(n / s).toFixed(0)}/s)`;
  console.log(`fuzz: tunnel: parser inputs: ${p(parser.done, parser.seconds)}; ${Object.entries(parser.outcomes).map(([k, v]) => `${k} ${v}`).join(", ")}`);
  const live = await runLive({
    seed: o.seed, count: o.tunnelLive ?? 20_000, deadline,
    onProgress: (n) => n % 5000 === 0 && console.log(`fuzz: tunnel: ${n} live inputs`),
  });
  const t = live.tally;
  const table = (x) => Object.entries(x).map(([k, v]) => `${k} ${v}`).join(", ");
  console.log(`fuzz: tunnel: live inputs: ${p(live.done, live.seconds)}; kinds: ${table(t.kinds)}; endings: ${table(t.endings)}; ` +
    `HTTP statuses: ${table(t.statuses)}; close codes: ${table(t.closeCodes)}; tunnel events: ${table(live.events)}`);
  return {
    target: "tunnel",
    inputs: parser.done + live.done,
    seconds: (Date.now() - started) / 1000,
    failures: [...parser.failures, ...live.failures],
    parser: { inputs: parser.done, seconds: parser.seconds },
    live: { inputs: live.done, seconds: live.seconds },
    summary: `${p(parser.done, parser.seconds)} parser inputs, ${p(live.done, live.seconds)} live inputs; ` +
      `tunnel heap after GC ${(live.heap.last / 2 ** 20).toFixed(1)} MiB (baseline ${(live.heap.baseline / 2 ** 20).toFixed(1)}), ` +
      `open fds ${live.fds.last} (baseline ${live.fds.baseline})`,
  };
}

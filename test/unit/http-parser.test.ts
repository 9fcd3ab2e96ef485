// bindings/src/http/parser.ts over llhttp in the wasm (wasm/http.c): heads,
// bodies in every framing, interim responses, HEAD, and the typed refusal of
// malformed or ambiguous responses; any split of the input gives the same
// result; mutated inputs end in a result or an HttpParseError, never in
// another exception, and leave the heap as it was.
import { beforeAll, describe, expect, it } from "vitest";
import { OpenSSL } from "../../bindings/src/index.js";
import { runtimeOf, type Runtime } from "../../bindings/src/engine/runtime.js";
import { ResponseParser, type ParserLimits, type ResponseHead } from "../../bindings/src/http/parser.js";
import { HttpParseError } from "../../bindings/src/http/errors.js";
import { runHttpInputs } from "../fuzz/http.mjs";

let rt: Runtime;
beforeAll(async () => {
  rt = runtimeOf(await OpenSSL.instantiate());
});

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

interface Parsed { head?: ResponseHead; interim: number[]; body: string; complete: boolean; rest: string }

/** Parses `input` cut at `cuts`, then EOF if `eof`. */
function parse(input: string | Uint8Array, o: { cuts?: number[]; eof?: boolean; head?: boolean; limits?: ParserLimits } = {}): Parsed {
  const bytes = typeof input === "string" ? enc(input) : input;
  using p = new ResponseParser(rt);
  p.start(o.head ?? false, o.limits);
  const out: Parsed = { interim: [], body: "", complete: false, rest: "" };
  const bodies: Uint8Array[] = [];
  const edges = [0, ...(o.cuts ?? []).filter((c) => c > 0 && c < bytes.length).sort((a, b) => a - b), bytes.length];
  const take = (r: ReturnType<ResponseParser["push"]>) => {
    out.interim.push(...r.interim.map((h) => h.status));
    if (r.head) out.head = r.head;
    bodies.push(...r.body.map((b) => b.slice()));
    if (r.complete) out.complete = true;
    if (r.rest) out.rest += dec(r.rest);
  };
  for (let i = 0; i + 1 < edges.length; i++) take(p.push(bytes.subarray(edges[i], edges[i + 1])));
  if (o.eof) take(p.finish());
  out.body = dec(Buffer.concat(bodies));
  return out;
}

function refusal(input: string, o: Parameters<typeof parse>[1] = {}): HttpParseError {
  try {
    parse(input, o);
  } catch (e) {
    expect(e).toBeInstanceOf(HttpParseError);
    return e as HttpParseError;
  }
  throw new Error("parsed without an error");
}

describe("ResponseParser", () => {
  it("reads a Content-Length response and stops at its end", () => {
    const r = parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A:  v  \r\nEmpty:\r\n\r\nhelloNEXT");
    expect(r.head).toMatchObject({ status: 200, statusText: "OK", version: "1.1", keepAlive: true,
      headers: [["Content-Length", "5"], ["X-A", "v"], ["Empty", ""]] });
    expect(r).toMatchObject({ body: "hello", complete: true, rest: "NEXT" });
  });

  it("reads a chunked body with extensions and trailers", () => {
    const r = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n");
    expect(r).toMatchObject({ body: "hello world", complete: true, rest: "" });
  });

  it("gives the same result for every split of the input", () => {
    const input = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nSet: a\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
    const whole = parse(input);
    expect(whole.head?.transferCodings).toEqual(["gzip"]);
    for (let i = 1; i < input.length; i++) {
      for (const j of [i + 1, i + 7, input.length - 1]) expect(parse(input, { cuts: [i, j] })).toEqual(whole);
    }
  });

  it("passes interim responses by and reads the final one", () => {
    const r = parse("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n");
    expect(r.interim).toEqual([100, 103]);
    expect(r.head?.status).toBe(204);
    expect(r.complete).toBe(true);
  });

  it("reads no body in a response to HEAD, whatever its Content-Length", () => {
    const r = parse("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", { head: true });
    expect(r).toMatchObject({ body: "", complete: true });
  });

  it("reads a body delimited by the connection's end to its end, and HTTP/1.0 without keep-alive", () => {
    const r = parse("HTTP/1.0 200 OK\r\n\r\nall of it", { eof: true });
    expect(r).toMatchObject({ body: "all of it", complete: true });
    expect(r.head).toMatchObject({ version: "1.0", keepAlive: false });
    expect(parse("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").head?.keepAlive).toBe(false);
  });

  it.each([
    ["a malformed status line", "HTTP/1.1 2x0 OK\r\n\r\n", "INVALID_STATUS_LINE"],
    ["not HTTP", "SSH-2.0-OpenSSH\r\n\r\n", "INVALID_STATUS_LINE"],
    ["a bare LF", "HTTP/1.1 200 OK\nContent-Length: 0\n\n", "INVALID_HEADER"],
    ["a space before the colon", "HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n", "INVALID_HEADER"],
    ["obsolete line folding", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", "INVALID_HEADER"],
    ["a control character in a value", "HTTP/1.1 200 OK\r\nX: a\x01b\r\n\r\n", "INVALID_HEADER"],
    ["a negative Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "INVALID_CONTENT_LENGTH"],
    ["a Content-Length list", "HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\na", "INVALID_CONTENT_LENGTH"],
    ["two Content-Lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na", "AMBIGUOUS_FRAMING"],
    ["Content-Length then Transfer-Encoding", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "AMBIGUOUS_FRAMING"],
    ["Transfer-Encoding then Content-Length", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n0\r\n\r\n", "AMBIGUOUS_FRAMING"],
    ["a Transfer-Encoding not ending in chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc", "UNSUPPORTED_TRANSFER_ENCODING"],
    ["chunked twice", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", "UNSUPPORTED_TRANSFER_ENCODING"],
    ["an unknown transfer coding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: zstd, chunked\r\n\r\n0\r\n\r\n", "UNSUPPORTED_TRANSFER_ENCODING"],
    ["a bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "INVALID_CHUNK"],
    ["a chunk longer than its size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n0\r\n\r\n", "INVALID_CHUNK"],
    ["a chunk size that overflows", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n", "INVALID_CHUNK"],
    ["an unasked-for upgrade", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n", "UNEXPECTED_UPGRADE"],
  ])("refuses %s", (_what, input, code) => {
    expect(refusal(input).code).toBe(code);
  });

  it("refuses a body shorter than its length, a head cut short, and nothing at all, at EOF", () => {
    expect(refusal("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", { eof: true }).code).toBe("INCOMPLETE_MESSAGE");
    expect(refusal("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", { eof: true }).code).toBe("INCOMPLETE_MESSAGE");
    expect(refusal("HTTP/1.1 200 OK\r\nContent-Le", { eof: true }).code).toBe("INCOMPLETE_MESSAGE");
    expect(refusal("", { eof: true }).code).toBe("INCOMPLETE_MESSAGE");
  });

  it("enforces maxHeaderBytes and maxHeaders, however the head is split", () => {
    const big = `HTTP/1.1 200 OK\r\nX: ${"a".repeat(2000)}\r\n\r\n`;
    expect(refusal(big, { limits: { maxHeaderBytes: 1024 } }).code).toBe("HEADERS_TOO_LARGE");
    expect(refusal(big, { limits: { maxHeaderBytes: 1024 }, cuts: [30, 500, 1000] }).code).toBe("HEADERS_TOO_LARGE");
    expect(parse(big, { limits: { maxHeaderBytes: 4096 } }).head?.headers[0]?.[1]).toHaveLength(2000);
    const many = `HTTP/1.1 200 OK\r\n${"A: b\r\n".repeat(11)}\r\n`;
    expect(refusal(many, { limits: { maxHeaders: 10 } }).code).toBe("TOO_MANY_HEADERS");
    // the default, 16 KiB: a megabyte of headers is refused long before it is all read
    expect(refusal(`HTTP/1.1 200 OK\r\nX: ${"a".repeat(1 << 20)}\r\n\r\n`).code).toBe("HEADERS_TOO_LARGE");
  });

  it("reads bodies larger than one C call's input, and many tiny chunks in one input", () => {
    const body = "x".repeat(100_000);
    expect(parse(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`).body).toBe(body);
    const tiny = "1\r\nz\r\n".repeat(20_000);
    expect(parse(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${tiny}0\r\n\r\n`).body).toBe("z".repeat(20_000));
  });

  it("keeps header bytes as bytes (ISO-8859-1), as fetch's Headers expect", () => {
    const r = parse(new Uint8Array([...enc("HTTP/1.1 200 OK\r\nX: "), 0x80, 0xe9, ...enc("\r\nContent-Length: 0\r\n\r\n")]));
    expect(r.head?.headers[0]).toEqual(["X", "\x80\xe9"]);
  });

  it("fuzz (test/fuzz/http.mjs, make fuzz's http target, fixed seed): 20,000 mutated, split inputs end in a result or an HttpParseError, and free everything", () => {
    const r = runHttpInputs({ ResponseParser, HttpParseError, rt }, { seed: 20261127, count: 20_000 });
    expect(r.failures).toEqual([]);
    expect(r.done).toBe(20_000);
    expect(r.heapDelta).toBe(0);
    // many distinct outcomes: the mutations reach every part of a response
    expect(Object.keys(r.outcomes).length).toBeGreaterThan(8);
    expect(r.outcomes.HEADERS_TOO_LARGE).toBeGreaterThan(0);
    expect(r.outcomes.complete).toBeGreaterThan(100);
  });
});

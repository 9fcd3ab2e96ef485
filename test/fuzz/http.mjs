// The "http" target of make fuzz: mutated HTTP/1.1 responses, cut at random
// points, through ResponseParser (llhttp in the wasm, wasm/http.c). The
// invariants: every input ends in a result or an HttpParseError (no trap,
// no other exception), a body never holds more bytes than the input, and
// the heap is back at its baseline after every parser is disposed.

const SEEDS = [
  "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nA: b\r\n\r\nhello",
  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;e=1\r\nhello\r\n0\r\nT: x\r\n\r\n",
  "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 404 Not Found\r\n\r\nbody",
  "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Encoding: br\r\n\r\n1\r\nz\r\n0\r\n\r\n",
  "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n",
  "HTTP/1.1 301 Moved\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n",
  // near the limits run with (200 header bytes, 8 header lines)
  `HTTP/1.1 200 OK\r\n${"H: v\r\n".repeat(8)}Content-Length: 1\r\n\r\nx`,
  `HTTP/1.1 200 OK\r\nX: ${"v".repeat(170)}\r\n\r\n`,
].map((s) => new TextEncoder().encode(s));
const TOKENS = ["\r\n", "\n", ":", " ", "0", ";", "chunked", "Content-Length: ", "Transfer-Encoding: ", "HTTP/1.1 ", "\r\n\r\n", "ffffffff"]
  .map((s) => new TextEncoder().encode(s));

/** A small deterministic PRNG (xorshift32). */
function prng(seed) {
  let x = seed >>> 0 || 1;
  return (n) => {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    return x % n;
  };
}

/** One mutated input from `seed`. */
export function mutate(seed) {
  const rand = prng(seed);
  let input = SEEDS[rand(SEEDS.length)].slice();
  for (let m = 1 + rand(5); m > 0; m--) {
    const at = rand(input.length + 1);
    switch (rand(5)) {
      case 0: if (at < input.length) input[at] = rand(256); break;
      case 1: { // insert a token
        const t = TOKENS[rand(TOKENS.length)];
        input = new Uint8Array([...input.subarray(0, at), ...t, ...input.subarray(at)]);
        break;
      }
      case 2: input = new Uint8Array([...input.subarray(0, at), ...input.subarray(Math.min(input.length, at + 1 + rand(8)))]); break;
      case 3: input = new Uint8Array([...input.subarray(0, at), ...input.subarray(rand(input.length)).subarray(0, 1 + rand(40)), ...input.subarray(at)]); break;
      default: if (at < input.length) input[at] ^= 1 << rand(8);
    }
  }
  const cuts = [rand(input.length + 1), rand(input.length + 1)].sort((a, b) => a - b);
  return { input, cuts, eof: rand(2) === 0, head: rand(8) === 0 };
}

/**
 * Runs `count` inputs (or until `deadline`, a Date.now() value): `ResponseParser`,
 * `HttpParseError` and the runtime `rt` come from the sources or bindings/dist.
 * Returns { done, outcomes, failures, heapDelta }.
 */
export function runHttpInputs({ ResponseParser, HttpParseError, rt }, { seed, count, deadline = Infinity }) {
  const outcomes = {};
  const failures = [];
  const before = rt.ffi.heap_in_use();
  let done = 0;
  for (; done < count && Date.now() < deadline; done++) {
    const inputSeed = (seed * 1_000_003 + done) >>> 0;
    const { input, cuts, eof, head } = mutate(inputSeed);
    const parser = new ResponseParser(rt);
    let outcome;
    try {
      parser.start(head, { maxHeaderBytes: 200, maxHeaders: 8 });
      let bodyBytes = 0;
      const edges = [0, ...cuts, input.length];
      let complete = false;
      for (let i = 0; i + 1 < edges.length; i++) {
        const r = parser.push(input.subarray(edges[i], edges[i + 1]));
        bodyBytes += r.body.reduce((n, b) => n + b.length, 0);
        complete ||= r.complete;
      }
      if (eof) complete ||= parser.finish().complete;
      if (bodyBytes > input.length) throw new Error(`a body of ${bodyBytes} bytes from ${input.length} bytes of input`);
      outcome = complete ? "complete" : "partial";
    } catch (e) {
      if (!(e instanceof HttpParseError)) {
        failures.push({ message: String(e?.stack ?? e), detail: { target: "http", seed: inputSeed, index: done, input: Buffer.from(input).toString("base64"), cuts, eof } });
        outcome = "FAILURE";
      } else {
        outcome = e.code;
      }
    } finally {
      parser.dispose();
    }
    outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
    if (failures.length >= 5) break;
  }
  const heapDelta = rt.ffi.heap_in_use() - before;
  if (heapDelta !== 0) failures.push({ message: `heap in use grew by ${heapDelta} bytes`, detail: { target: "http", seed } });
  return { done, outcomes, failures, heapDelta };
}

/** make fuzz's entry: the built bindings (bindings/dist). */
export async function fuzzHttp(o) {
  const { OpenSSL } = await import("../../bindings/dist/index.js");
  const { runtimeOf } = await import("../../bindings/dist/engine/runtime.js");
  const { ResponseParser } = await import("../../bindings/dist/http/parser.js");
  const { HttpParseError } = await import("../../bindings/dist/http/errors.js");
  const rt = runtimeOf(await OpenSSL.instantiate());
  const started = Date.now();
  const r = runHttpInputs({ ResponseParser, HttpParseError, rt }, { seed: o.seed, count: o.inputs, deadline: started + o.seconds * 1000 });
  const seconds = (Date.now() - started) / 1000;
  return {
    target: "http", inputs: r.done, seconds, failures: r.failures,
    summary: `outcomes: ${Object.entries(r.outcomes).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(", ")}; heap delta ${r.heapDelta}`,
  };
}

/**
 * An HTTP/1.1 response parser over llhttp in the wasm (wasm/http.c): bytes
 * in, the response head and body pieces out. One C call per input slice;
 * the events it recorded are read from one array, and body pieces are
 * views of the caller's input (never copied through the heap twice).
 * Framing that llhttp accepts but fetch must not (a Transfer-Encoding that
 * does not end in chunked, unknown codings) is refused here.
 */
import * as C from "../generated/constants.js";
import type { Ptr } from "../generated/ffi.js";
import type { Runtime } from "../engine/runtime.js";
import { HttpParseError, type HttpParseErrorCode } from "./errors.js";

/** A response's status line and headers. */
export interface ResponseHead {
  status: number;
  statusText: string;
  /** "1.1" or "1.0". */
  version: string;
  /** In order, names as sent, values without surrounding whitespace. */
  headers: [string, string][];
  /** The Transfer-Encoding codings other than the final chunked, lowercase, in order (e.g. ["gzip"]). */
  transferCodings: string[];
  /** Whether the connection may carry another request after this response (llhttp_should_keep_alive). */
  keepAlive: boolean;
}

/** What one push() found. */
export interface ParseResult {
  /** Interim (1xx, not 101) responses completed in this input. */
  interim: ResponseHead[];
  /** The final response's head, in the push that completed it. */
  head?: ResponseHead;
  /** Body bytes, views of the input. */
  body: Uint8Array[];
  /** The final response is complete. */
  complete: boolean;
  /** Input after the end of the response (nothing should follow it: no pipelining). */
  rest?: Uint8Array;
}

/** Limits on one response head. */
export interface ParserLimits {
  /** Bytes of the status line and header lines (default 16 KiB, Node's default). */
  maxHeaderBytes?: number;
  /** Header lines (default 100). */
  maxHeaders?: number;
}

const TRANSFER_CODINGS = new Set(["gzip", "x-gzip", "deflate", "br"]);

/** Bytes as ISO-8859-1, one char per byte (TextDecoder's "latin1" is windows-1252, whose 0x80-0x9f are not bytes). */
function latin1(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode(...b.subarray(i, i + 8192));
  return s;
}

/** @internal One response at a time (start() before each); dispose() frees the C parser. */
export class ResponseParser {
  readonly #rt: Runtime;
  #p: Ptr<"ow_http"> | 0;
  #status = "";
  #field = "";
  #value = "";
  #headers: [string, string][] = [];
  #head: ResponseHead | undefined;
  #complete = false;
  #chunked = false;

  constructor(rt: Runtime) {
    this.#rt = rt;
    const p = rt.ffi.http_new();
    if (!p) throw new RangeError("the wasm heap cannot hold another HTTP parser");
    this.#p = p;
  }

  /** Resets for the response to the next request (`head`: a HEAD request, whose response has no body). */
  start(head: boolean, limits: ParserLimits = {}): void {
    this.#rt.ffi.http_start(this.#ptr(), head ? 1 : 0, limits.maxHeaderBytes ?? 16384, limits.maxHeaders ?? 100);
    this.#resetHead();
    this.#head = undefined;
    this.#complete = false;
    this.#chunked = false;
  }

  /** Parses the next bytes; throws HttpParseError on bad input. */
  push(input: Uint8Array): ParseResult {
    const out: ParseResult = { interim: [], body: [], complete: false };
    if (this.#complete) {
      if (input.length) out.rest = input;
      out.complete = true;
      return out;
    }
    const { ffi } = this.#rt;
    const p = this.#ptr();
    for (let at = 0; at < input.length;) {
      const n = Math.min(C.OW_HTTP_MAX_INPUT, input.length - at);
      const slice = input.subarray(at, at + n);
      const io = this.#rt.ensureIO(n);
      this.#rt.heap.set(slice, io);
      const r = ffi.http_execute(p, io as Ptr<"char">, n);
      this.#events(slice, out);
      if (r === C.OW_HTTP_PAUSED) {
        const used = ffi.http_consumed(p);
        this.#complete = out.complete = true;
        if (at + used < input.length) out.rest = input.subarray(at + used);
        return out;
      }
      if (r !== C.OW_HTTP_OK) throw this.#error(r);
      at += n;
    }
    return out;
  }

  /**
   * The input ended: completes a body delimited by the connection's end, or
   * throws HttpParseError "INCOMPLETE_MESSAGE".
   */
  finish(): ParseResult {
    const out: ParseResult = { interim: [], body: [], complete: this.#complete };
    if (this.#complete) return out;
    const r = this.#rt.ffi.http_finish(this.#ptr());
    this.#events(new Uint8Array(0), out);
    if (r === C.OW_HTTP_PAUSED || (r === C.OW_HTTP_OK && out.complete)) {
      this.#complete = out.complete = true;
      return out;
    }
    if (r === C.OW_HTTP_OK) { // nothing had arrived at all
      throw new HttpParseError("INCOMPLETE_MESSAGE", "the connection ended before a response");
    }
    throw this.#error(r);
  }

  dispose(): void {
    if (this.#p) this.#rt.ffi.http_free(this.#p);
    this.#p = 0;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  #ptr(): Ptr<"ow_http"> {
    if (!this.#p) throw new TypeError("the HTTP parser was disposed");
    return this.#p;
  }

  #resetHead(): void {
    this.#status = this.#field = this.#value = "";
    this.#headers = [];
  }

  #events(input: Uint8Array, out: ParseResult): void {
    const { ffi } = this.#rt;
    const count = ffi.http_event_count();
    if (!count) return;
    const base = ffi.http_events() >>> 2;
    const u32 = new Uint32Array(this.#rt.heap.buffer, 0, (this.#rt.heap.length >>> 2));
    for (let i = 0; i < count; i++) {
      const e = base + i * 4;
      const kind = u32[e]!, offset = u32[e + 1]!, length = u32[e + 2]!, value = u32[e + 3]!;
      switch (kind) {
        case C.OW_HTTP_STATUS:
          this.#status += latin1(input.subarray(offset, offset + length));
          break;
        case C.OW_HTTP_FIELD:
          this.#field += latin1(input.subarray(offset, offset + length));
          break;
        case C.OW_HTTP_VALUE:
          this.#value += latin1(input.subarray(offset, offset + length));
          break;
        case C.OW_HTTP_HEADER_END:
          this.#headers.push([this.#field, this.#value.trim()]);
          this.#field = this.#value = "";
          break;
        case C.OW_HTTP_HEADERS_COMPLETE: {
          const head = this.#headersComplete(offset, length, value);
          if (head.status >= 200 || head.status === 101) this.#head = out.head = head;
          else out.interim.push(head);
          this.#resetHead();
          break;
        }
        case C.OW_HTTP_BODY:
          if (length) out.body.push(input.subarray(offset, offset + length));
          break;
        case C.OW_HTTP_MESSAGE_COMPLETE:
          if (this.#head) {
            this.#head.keepAlive = value === 1;
            out.complete = true;
          }
          break;
      }
    }
  }

  #headersComplete(status: number, flags: number, version: number): ResponseHead {
    const head: ResponseHead = {
      status, statusText: this.#status, version: `${version >> 8 & 0xff}.${version & 0xff}`,
      headers: this.#headers, transferCodings: [], keepAlive: false,
    };
    const final = status >= 200;
    if (status === 101 || (final && version >> 16 & 1)) {
      throw new HttpParseError("UNEXPECTED_UPGRADE", `the server switched protocols (${status}) without being asked`);
    }
    if (final && flags & C.OW_HTTP_F_TRANSFER_ENCODING) {
      // llhttp reads a response whose Transfer-Encoding does not end in
      // chunked until the connection closes (RFC 9112 6.3); we refuse it, as
      // the issue asks: such a body cannot be told from a truncated one.
      const codings = head.headers.filter(([n]) => n.toLowerCase() === "transfer-encoding")
        .flatMap(([, v]) => v.split(",")).map((c) => c.trim().toLowerCase()).filter((c) => c);
      if (!(flags & C.OW_HTTP_F_CHUNKED) || codings.at(-1) !== "chunked") {
        throw new HttpParseError("UNSUPPORTED_TRANSFER_ENCODING", `a Transfer-Encoding that does not end in chunked: ${codings.join(", ")}`);
      }
      const rest = codings.slice(0, -1);
      const unknown = rest.find((c) => !TRANSFER_CODINGS.has(c));
      if (unknown !== undefined || rest.includes("chunked")) {
        throw new HttpParseError("UNSUPPORTED_TRANSFER_ENCODING", `an unsupported transfer coding: ${codings.join(", ")}`);
      }
      head.transferCodings = rest;
      this.#chunked = true;
    }
    return head;
  }

  #error(r: number): HttpParseError {
    const { ffi } = this.#rt;
    const name = this.#rt.string(ffi.http_error_name(r));
    const reason = this.#rt.string(ffi.http_reason(this.#ptr()));
    const code: HttpParseErrorCode = r === C.OW_HTTP_USER
      ? reason === "header overflow" ? "HEADERS_TOO_LARGE" : reason === "too many headers" ? "TOO_MANY_HEADERS" : "INVALID"
      // llhttp says HPE_INVALID_TRANSFER_ENCODING for Transfer-Encoding after Content-Length
      : /Content-Length/.test(reason) && /Transfer-Encoding/.test(reason) ? "AMBIGUOUS_FRAMING"
      : CODES[name] ?? (!this.#head ? "INVALID_HEADER" : this.#chunked ? "INVALID_CHUNK" : "INVALID");
    return new HttpParseError(code, `invalid HTTP response: ${reason} (${name})`, name);
  }
}

/** llhttp's errors (llhttp.h enum llhttp_errno) by what they mean for a response. */
const CODES: Record<string, HttpParseErrorCode> = {
  HPE_INVALID_CONSTANT: "INVALID_STATUS_LINE",
  HPE_INVALID_VERSION: "INVALID_STATUS_LINE",
  HPE_INVALID_STATUS: "INVALID_STATUS_LINE",
  HPE_INVALID_HEADER_TOKEN: "INVALID_HEADER",
  HPE_UNEXPECTED_SPACE: "INVALID_HEADER",
  HPE_INVALID_CONTENT_LENGTH: "INVALID_CONTENT_LENGTH",
  HPE_UNEXPECTED_CONTENT_LENGTH: "AMBIGUOUS_FRAMING",
  HPE_INVALID_TRANSFER_ENCODING: "UNSUPPORTED_TRANSFER_ENCODING",
  HPE_INVALID_CHUNK_SIZE: "INVALID_CHUNK",
  HPE_STRICT: "INVALID_CHUNK",
  HPE_INVALID_EOF_STATE: "INCOMPLETE_MESSAGE",
  HPE_PAUSED_UPGRADE: "UNEXPECTED_UPGRADE",
};

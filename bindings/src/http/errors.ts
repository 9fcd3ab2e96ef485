/** The errors of the HTTP layer (fetch), each with its own `name`. */

/**
 * What was wrong with a response (HttpParseError `code`):
 * - `"INVALID_STATUS_LINE"`, `"INVALID_HEADER"`: not HTTP/1.x syntax (llhttp's strict mode: no bare LF, no
 *   space before a colon, no obsolete line folding);
 * - `"HEADERS_TOO_LARGE"`, `"TOO_MANY_HEADERS"`: over `maxHeaderBytes` / `maxHeaders`;
 * - `"INVALID_CONTENT_LENGTH"`: not a decimal number;
 * - `"AMBIGUOUS_FRAMING"`: both Content-Length and Transfer-Encoding, or Content-Length twice (the
 *   request-smuggling shapes curl and undici refuse);
 * - `"UNSUPPORTED_TRANSFER_ENCODING"`: a Transfer-Encoding whose last coding is not chunked, or a coding other
 *   than chunked, gzip, deflate and br;
 * - `"INVALID_CHUNK"`: a bad chunk size, extension or terminator;
 * - `"INCOMPLETE_MESSAGE"`: the connection ended before the head or the body its framing announced (a body
 *   shorter than its length);
 * - `"EXCESS_DATA"`: bytes after the end of the response (a body longer than its length);
 * - `"UNEXPECTED_UPGRADE"`: a 101 or an upgrade fetch() did not ask for;
 * - `"INVALID"`: anything else llhttp refuses (`llhttpError` names it).
 */
export type HttpParseErrorCode =
  | "INVALID_STATUS_LINE" | "INVALID_HEADER" | "HEADERS_TOO_LARGE" | "TOO_MANY_HEADERS"
  | "INVALID_CONTENT_LENGTH" | "AMBIGUOUS_FRAMING" | "UNSUPPORTED_TRANSFER_ENCODING" | "INVALID_CHUNK"
  | "INCOMPLETE_MESSAGE" | "EXCESS_DATA" | "UNEXPECTED_UPGRADE" | "INVALID";

/** A response that is not valid HTTP/1.1 or breaks a limit: the connection it came on is closed, never reused. */
export class HttpParseError extends Error {
  /** Always "HttpParseError". */
  override name = "HttpParseError";
  /**
   * @param code What was wrong.
   * @param message A sentence for people.
   * @param llhttpError llhttp's error name (`"HPE_INVALID_CHUNK_SIZE"`, ...) when llhttp found it.
   */
  constructor(readonly code: HttpParseErrorCode, message: string, readonly llhttpError?: string) {
    super(message);
  }
}

/**
 * The WebSocket close codes the tunnel sends, and close reasons that always
 * fit in a close frame.
 */

/** Close codes the client sees; the README's tunnel section lists the same. */
export const CloseCode = {
  /** The TCP peer closed (FIN), after every byte it sent was relayed. */
  normal: 1000,
  /** Idle timeout, or the tunnel is shutting down. */
  goingAway: 1001,
  /** A text message: the tunnel relays binary messages only. */
  unsupportedData: 1003,
  /** Refused: destination or origin not allowed, or a malformed path. */
  policyViolation: 1008,
  /** A message larger than maxFrameBytes (sent by `ws` itself). */
  messageTooBig: 1009,
  /** The tunnel hit a bug handling this connection (logged as "internal-error"). */
  internalError: 1011,
  /** Too many connections, in total or from this client's address. */
  tryAgainLater: 1013,
  /** The TCP connection failed or was reset (the reason says how). */
  tcpFailed: 4001,
  /** The TCP connection could not be opened (the reason says why). */
  tcpUnreachable: 4002,
  /** More than maxBufferedBytes waited for the slower side. */
  bufferLimit: 4003,
} as const;

/** RFC 6455 §5.5: a control frame carries at most 125 bytes, 2 of them the code. */
export const MAX_CLOSE_REASON_BYTES = 123;

const ELLIPSIS = "…";

/**
 * `text` cut to at most `MAX_CLOSE_REASON_BYTES` (123) UTF-8 bytes, at a
 * character boundary, with "…" when something was cut. `ws.close()` throws a
 * RangeError on a longer reason, and reasons quote what clients sent (an
 * Origin, a path), so every reason goes through here.
 */
export function closeReason(text: string): string {
  if (utf8Length(text) <= MAX_CLOSE_REASON_BYTES) return text;
  const budget = MAX_CLOSE_REASON_BYTES - utf8Length(ELLIPSIS);
  let kept = "";
  let bytes = 0;
  // By code point, so a surrogate pair is never split; a lone surrogate is
  // sent as U+FFFD, 3 bytes, which utf8Length counts the same way.
  for (const ch of text) {
    const size = utf8Length(ch);
    if (bytes + size > budget) break;
    kept += ch;
    bytes += size;
  }
  return kept + ELLIPSIS;
}

const encoder = new TextEncoder();

/** UTF-8 bytes of `text` (a lone surrogate as U+FFFD: 3), in every runtime (no Node Buffer: the edge tunnel uses this too). */
function utf8Length(text: string): number {
  return encoder.encode(text).length;
}

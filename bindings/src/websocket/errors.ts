/**
 * The errors of TlsWebSocket, each with its own `name`. A peer that breaks
 * RFC 6455 gets a close frame with the code the error carries; a handshake
 * that is not a valid upgrade never opens.
 */

/**
 * The peer broke RFC 6455 or a limit: the connection was failed with a close
 * frame carrying `code` (1002 protocol error, 1007 a text message or close
 * reason that is not UTF-8, 1009 a message over `maxMessageBytes`).
 */
export class WebSocketProtocolError extends Error {
  /** "WebSocketProtocolError". */
  override name = "WebSocketProtocolError";
  /**
   * @param code The close code sent to the peer (RFC 6455 section 7.4.1).
   * @param message What the peer did.
   */
  constructor(readonly code: 1002 | 1007 | 1009, message: string) {
    super(`${message} (close ${code})`);
  }
}

/**
 * The server's answer to the HTTP/1.1 Upgrade request was not a valid
 * WebSocket handshake (RFC 6455 section 4.1): a status other than 101, a
 * missing or wrong `Sec-WebSocket-Accept`, an unrequested subprotocol or
 * extension, or a malformed or oversized response head.
 */
export class WebSocketHandshakeError extends Error {
  /** "WebSocketHandshakeError". */
  override name = "WebSocketHandshakeError";
  /**
   * @param message What was wrong.
   * @param status The response's HTTP status, when one was parsed.
   */
  constructor(message: string, readonly status?: number) {
    super(message);
  }
}

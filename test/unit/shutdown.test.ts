// SSL_shutdown conformance: the numbered scenarios 1-33 of
// ../shared/design/SHUTDOWN.md, for TLS 1.2 and TLS 1.3, with the client and
// the server both inside the wasm module. Every assertion is on what OpenSSL
// itself returned (ret, SSL_get_error, reason code, SSL_get_shutdown flags,
// bytes written).
import { beforeAll, describe, expect, it } from "vitest";
import { constants as C, type OpenSSL, type ProtocolVersion } from "../../bindings/src/index.js";
import { expectHeapRestoredAfterEach, expectResult, load, Pair, records, str, text, warmUp, type PairOptions } from "../helpers/harness.js";

let ossl: OpenSSL;
beforeAll(async () => {
  ossl = await load();
  warmUp(ossl);
});

const live: Pair[] = [];
/** A pair whose connections count close_notify alerts (message callback on). */
function pair(o: PairOptions): Pair {
  const p = new Pair(ossl, {
    ...o,
    clientConnection: { trace: true, ...o.clientConnection },
    serverConnection: { trace: true, ...o.serverConnection },
  });
  live.push(p);
  return p;
}
// Every test frees what it made: the heap comes back (harness.ts).
expectHeapRestoredAfterEach(() => ossl, () => {
  while (live.length) live.pop()!.dispose();
});
const BOTH = { sent: true, received: true };
const SENT = { sent: true, received: false };
const RECEIVED = { sent: false, received: true };
const NONE = { sent: false, received: false };

describe.each(["TLSv1.2", "TLSv1.3"] as ProtocolVersion[])("%s", (version) => {
  const tls13 = version === "TLSv1.3";
  /** A connected pair. */
  const connected = (o: PairOptions = {}) => {
    const p = pair({ version, ...o });
    p.handshake();
    return p;
  };
  /** The last TLS record of `bytes` (header and body). */
  const lastRecord = (bytes: Uint8Array) => bytes.subarray(-(5 + records(bytes).at(-1)!.length));
  /** Exactly one alert record (TLS 1.3 hides it inside an application_data record). */
  const expectOneCloseNotifyRecord = (bytes: Uint8Array) => {
    const rs = records(bytes);
    expect(rs).toHaveLength(1);
    expect(rs[0]!.type).toBe(tls13 ? C.SSL3_RT_APPLICATION_DATA : C.SSL3_RT_ALERT);
  };

  describe("normal close", () => {
    it("1: client closes first: 0 (SENT, one close_notify queued); server reads ZERO_RETURN (RECEIVED), shuts down with 1; client 1", () => {
      const p = connected();
      const r = p.client.shutdown();
      expectResult(r, 0, "syscall");
      expect(r.state).toEqual(SENT);
      expect(p.client.closeNotifySent).toBe(1);
      expectOneCloseNotifyRecord(p.toServer());

      expectResult(p.server.read(), 0, "zero_return");
      expect(p.server.shutdownState).toEqual(RECEIVED);
      expect(p.server.closeNotifyReceived).toBe(1);
      const s = p.server.shutdown();
      expectResult(s, 1, "none");
      expect(s.state).toEqual(BOTH);
      expectOneCloseNotifyRecord(lastRecord(p.toClient()));

      const c = p.client.shutdown();
      expectResult(c, 1, "none");
      expect(c.state).toEqual(BOTH);
      expect(p.client.pendingOutput).toBe(0);
    });

    it("2: server closes first: the mirror of 1", () => {
      const p = connected();
      expectResult(p.server.shutdown(), 0, "syscall");
      expect(p.server.shutdownState).toEqual(SENT);
      p.toClient();
      expectResult(p.client.read(), 0, "zero_return");
      expect(p.client.shutdownState).toEqual(RECEIVED);
      expectResult(p.client.shutdown(), 1, "none");
      expect(p.client.shutdownState).toEqual(BOTH);
      p.toServer();
      expectResult(p.server.shutdown(), 1, "none");
      expect(p.server.shutdownState).toEqual(BOTH);
    });

    it("3: a 0 return means 'sent, waiting for the peer', not an error: SSL_get_error says SYSCALL as natively (the man page: meaningless here), no failure", () => {
      const p = connected();
      const r = p.client.shutdown();
      expect(r).toEqual({ ret: 0, sslError: "syscall", state: SENT });
      expect(r.failure).toBeUndefined();
      expect(p.client.fatalError).toBeUndefined();
    });

    it("4: a second shutdown before the peer replies is -1/WANT_READ, repeatable, and writes nothing", () => {
      const p = connected();
      expectResult(p.client.shutdown(), 0, "syscall");
      p.toServer();
      for (let i = 0; i < 3; i++) {
        const r = p.client.shutdown();
        expectResult(r, -1, "want_read");
        expect(r.state).toEqual(SENT);
        expect(p.client.pendingOutput).toBe(0);
      }
      expect(p.client.closeNotifySent).toBe(1);
    });

    it("5: simultaneous close: both 0, then both 1", () => {
      const p = connected();
      expectResult(p.client.shutdown(), 0, "syscall");
      expectResult(p.server.shutdown(), 0, "syscall");
      p.toServer();
      p.toClient();
      expectResult(p.client.shutdown(), 1, "none");
      expectResult(p.server.shutdown(), 1, "none");
      expect(p.client.pendingOutput + p.server.pendingOutput).toBe(0);
    });

    it("6: shutdown after completion returns 1 every time and writes nothing", () => {
      const p = connected();
      p.closeCleanly();
      for (const conn of [p.client, p.server]) {
        for (let i = 0; i < 3; i++) {
          expectResult(conn.shutdown(), 1, "none");
          expect(conn.pendingOutput).toBe(0);
        }
        expect(conn.closeNotifySent).toBe(1);
      }
    });
  });

  describe("data and close_notify in flight", () => {
    it("7: server writes then shuts down (0): client reads the data, then ZERO_RETURN; client 1; server 1", () => {
      const p = connected();
      expectResult(p.server.write(text("last words")), 10, "none");
      expectResult(p.server.shutdown(), 0, "syscall");
      p.toClient();
      const r = p.client.read();
      expectResult(r, 10, "none");
      expect(str(r.data)).toBe("last words");
      expectResult(p.client.read(), 0, "zero_return");
      expectResult(p.client.shutdown(), 1, "none");
      p.toServer();
      expectResult(p.server.shutdown(), 1, "none");
    });

    it("8: shutting down twice without reading: 0, then -1/SSL_ERROR_SSL 'application data after close notify'", () => {
      const p = connected();
      p.server.write(text("unread"));
      expectResult(p.server.shutdown(), 0, "syscall");
      p.toClient();
      expectResult(p.client.shutdown(), 0, "syscall");
      const r = p.client.shutdown();
      expectResult(r, -1, "ssl", C.SSL_R_APPLICATION_DATA_AFTER_CLOSE_NOTIFY);
      expect(r.failure!.reasonString).toBe("application data after close notify");
    });

    it("9: half-close: after the client's close_notify the server still writes, the client reads it; then 1 and 1", () => {
      const p = connected();
      expectResult(p.client.shutdown(), 0, "syscall");
      p.toServer();
      expectResult(p.server.read(), 0, "zero_return");
      expectResult(p.server.write(text("still here")), 10, "none");
      p.toClient();
      const r = p.client.read();
      expect(str(r.data)).toBe("still here");
      expectResult(p.server.shutdown(), 1, "none");
      p.toClient();
      expectResult(p.client.read(), 0, "zero_return");
      expectResult(p.client.shutdown(), 1, "none");
    });

    it("10: write after our own shutdown: -1/SSL_ERROR_SSL 'protocol is shutdown'", () => {
      const p = connected();
      p.client.shutdown();
      const r = p.client.write(text("too late"));
      expectResult(r, -1, "ssl", C.SSL_R_PROTOCOL_IS_SHUTDOWN);
      expect(r.failure!.reasonString).toBe("protocol is shutdown");
    });

    it("11: write with only RECEIVED set succeeds", () => {
      const p = connected();
      p.client.shutdown();
      p.toServer();
      p.server.read();
      expect(p.server.shutdownState).toEqual(RECEIVED);
      expectResult(p.server.write(text("ok")), 2, "none");
      expect(p.server.pendingOutput).toBeGreaterThan(0);
    });

    it("12: read after ZERO_RETURN: 0/ZERO_RETURN again", () => {
      const p = connected();
      p.client.shutdown();
      p.toServer();
      for (let i = 0; i < 3; i++) expectResult(p.server.read(), 0, "zero_return");
    });
  });

  describe("truncation and transport close", () => {
    it("13: data then transport EOF: the data, then 0/SSL_ERROR_SSL 'unexpected eof while reading'; flags stay 0; not resumable", () => {
      const p = connected();
      p.server.write(text("partial"));
      p.toClient();
      p.client.closeInput();
      expect(str(p.client.read().data)).toBe("partial");
      const r = p.client.read();
      expectResult(r, 0, "ssl", C.SSL_R_UNEXPECTED_EOF_WHILE_READING);
      expect(r.failure!.reasonString).toBe("unexpected eof while reading");
      expect(p.client.shutdownState).toEqual(NONE);
      using session = p.client.getSession()!;
      expect(session.resumable).toBe(false);
    });

    it("14: with SSL_OP_IGNORE_UNEXPECTED_EOF: 0/ZERO_RETURN, flags RECEIVED", () => {
      const p = connected({ client: { ignoreUnexpectedEof: true } });
      p.server.write(text("partial"));
      p.toClient();
      p.client.closeInput();
      expect(str(p.client.read().data)).toBe("partial");
      expectResult(p.client.read(), 0, "zero_return");
      expect(p.client.shutdownState).toEqual(RECEIVED);
    });

    it("15: shutdown (0) then transport EOF: the next shutdown is -1/SSL_ERROR_SSL unexpected eof", () => {
      const p = connected();
      expectResult(p.client.shutdown(), 0, "syscall");
      p.toClient(); // whatever the server had sent (TLS 1.3 tickets) arrives first
      p.client.closeInput();
      expectResult(p.client.shutdown(), -1, "ssl", C.SSL_R_UNEXPECTED_EOF_WHILE_READING);
    });

    it("16: same with IGNORE_UNEXPECTED_EOF: 0 with flags RECEIVED only; a third call writes a second close_notify and returns 1", () => {
      const p = connected({ client: { ignoreUnexpectedEof: true } });
      expectResult(p.client.shutdown(), 0, "syscall");
      p.client.drain();
      p.toClient();
      p.client.closeInput();
      const second = p.client.shutdown();
      expectResult(second, 0, "zero_return"); // SSL_get_error sees RECEIVED (the EOF read as close_notify)
      expect(second.state).toEqual(RECEIVED);
      expect(p.client.pendingOutput).toBe(0);
      const third = p.client.shutdown();
      expectResult(third, 1, "none");
      expect(third.state).toEqual(BOTH);
      expect(p.client.closeNotifySent).toBe(2); // the OpenSSL quirk TlsSocket must avoid
      expectOneCloseNotifyRecord(p.client.drain());
    });

    it("17: transport EOF during the handshake fails it (SSL_ERROR_SSL unexpected eof; ZERO_RETURN with IGNORE_UNEXPECTED_EOF)", () => {
      for (const ignore of [false, true]) {
        const p = pair({ version, client: { ignoreUnexpectedEof: ignore } });
        expectResult(p.client.handshake(), -1, "want_read");
        p.client.closeInput();
        const r = p.client.handshake();
        if (ignore) expectResult(r, -1, "zero_return");
        else expectResult(r, -1, "ssl", C.SSL_R_UNEXPECTED_EOF_WHILE_READING);
        expect(p.client.handshakeDone).toBe(false);
      }
    });
  });

  describe("quiet shutdown and manual flags", () => {
    for (const how of ["SSL_CTX_set_quiet_shutdown", "SSL_set_quiet_shutdown"]) {
      it(`18: quiet shutdown (${how}): 1 at once, SENT|RECEIVED, nothing written; the peer sees an unexpected EOF; the session stays resumable`, () => {
        const p = connected(how === "SSL_CTX_set_quiet_shutdown" ? { client: { quietShutdown: true } } : {});
        if (how === "SSL_set_quiet_shutdown") p.client.quietShutdown = true;
        expect(p.client.quietShutdown).toBe(true);
        expectResult(p.client.read(), -1, "want_read"); // reads TLS 1.3 tickets
        const r = p.client.shutdown();
        expectResult(r, 1, "none");
        expect(r.state).toEqual(BOTH);
        expect(p.client.pendingOutput).toBe(0);
        expect(p.client.closeNotifySent).toBe(0);
        using session = p.client.getSession()!;
        expect(session.resumable).toBe(true);
        p.server.closeInput();
        expectResult(p.server.read(), 0, "ssl", C.SSL_R_UNEXPECTED_EOF_WHILE_READING);
      });
    }

    it("19: SSL_set_shutdown(RECEIVED) then shutdown: 1, and a close_notify is written", () => {
      const p = connected();
      p.client.setShutdown({ received: true });
      expect(p.client.shutdownState).toEqual(RECEIVED);
      const r = p.client.shutdown();
      expectResult(r, 1, "none");
      expect(r.state).toEqual(BOTH);
      expect(p.client.closeNotifySent).toBe(1);
      expectOneCloseNotifyRecord(p.client.drain());
    });
  });

  describe("before and during the handshake", () => {
    it("20: no connect/accept state: -1/SSL_ERROR_SSL 'uninitialized'", () => {
      const p = pair({ version, clientConnection: { state: "none" } });
      const r = p.client.shutdown();
      expectResult(r, -1, "ssl", C.SSL_R_UNINITIALIZED);
      expect(r.failure!.reasonString).toBe("uninitialized");
    });

    it("21: connect state set, before the handshake: -1 'shutdown while in init', nothing written; the handshake still completes", () => {
      const p = pair({ version });
      const r = p.client.shutdown();
      expectResult(r, -1, "ssl", C.SSL_R_SHUTDOWN_WHILE_IN_INIT);
      expect(r.failure!.reasonString).toBe("shutdown while in init");
      expect(r.state).toEqual(NONE);
      expect(p.client.pendingOutput).toBe(0);
      p.handshake();
    });

    it("22: mid-handshake: -1 'shutdown while in init' on either side, not fatal", () => {
      const p = pair({ version });
      expectResult(p.client.handshake(), -1, "want_read");
      p.toServer();
      expectResult(p.server.handshake(), -1, "want_read");
      expectResult(p.server.shutdown(), -1, "ssl", C.SSL_R_SHUTDOWN_WHILE_IN_INIT);
      expectResult(p.client.shutdown(), -1, "ssl", C.SSL_R_SHUTDOWN_WHILE_IN_INIT);
      expect(p.client.pendingOutput).toBe(0);
      p.toClient();
      p.handshake();
      p.closeCleanly();
    });

    if (tls13) it("23: client finished and shut down at once (0) while the server is in init (-1); server finishes, reads ZERO_RETURN, 1; client 1, session resumable", () => {
      const p = pair({ version });
      expectResult(p.client.handshake(), -1, "want_read");
      p.toServer();
      expectResult(p.server.handshake(), -1, "want_read");
      p.toClient();
      expectResult(p.client.handshake(), 1, "none");
      expectResult(p.client.shutdown(), 0, "syscall");
      expectResult(p.server.shutdown(), -1, "ssl", C.SSL_R_SHUTDOWN_WHILE_IN_INIT);
      p.toServer();
      expectResult(p.server.handshake(), 1, "none");
      expectResult(p.server.read(), 0, "zero_return");
      expectResult(p.server.shutdown(), 1, "none");
      p.toClient();
      expectResult(p.client.shutdown(), 1, "none");
      using session = p.client.getSession()!;
      expect(session.resumable).toBe(true);
    });
  });

  describe("blocked or fragmented transport", () => {
    it("24: output blocked: -1/WANT_WRITE with SENT already set, nothing written, repeatable; write is 'protocol is shutdown'; unblocked: 0 and the close_notify; then 1", () => {
      const p = connected({ clientConnection: { outputCapacity: 1 << 20 } });
      p.client.setOutputCapacity(0);
      for (let i = 0; i < 3; i++) {
        const r = p.client.shutdown();
        expectResult(r, -1, "want_write");
        expect(r.state).toEqual(SENT);
        expect(p.client.pendingOutput).toBe(0);
      }
      expectResult(p.client.write(text("more")), -1, "ssl", C.SSL_R_PROTOCOL_IS_SHUTDOWN);
      p.client.setOutputCapacity(Infinity);
      expectResult(p.client.shutdown(), 0, "syscall");
      // OpenSSL does not call the message callback when it retries a blocked
      // alert (ssl3_dispatch_alert's retry path): the close_notify is on the
      // wire, but the callback never reported it.
      expect(p.client.closeNotifySent).toBe(0);
      expectOneCloseNotifyRecord(p.toServer());
      expectResult(p.server.read(), 0, "zero_return");
      expectResult(p.server.shutdown(), 1, "none");
      p.toClient();
      expectResult(p.client.shutdown(), 1, "none");
    });

    it("25: peer's close_notify already read, output blocked: -1/WANT_WRITE; unblocked: 1", () => {
      const p = pair({ version, clientConnection: { outputCapacity: 1 << 20 } });
      p.handshake();
      expectResult(p.server.shutdown(), 0, "syscall");
      p.toClient();
      expectResult(p.client.read(), 0, "zero_return");
      p.client.setOutputCapacity(0);
      for (let i = 0; i < 2; i++) {
        expectResult(p.client.shutdown(), -1, "want_write");
        expect(p.client.pendingOutput).toBe(0);
      }
      p.client.setOutputCapacity(Infinity);
      expectResult(p.client.shutdown(), 1, "none");
      expectOneCloseNotifyRecord(p.client.drain());
    });

    it("26: the peer's close_notify delivered one byte at a time: -1/WANT_READ per partial byte, 1 on the last", () => {
      const p = connected();
      expectResult(p.client.read(), -1, "want_read"); // TLS 1.3 tickets, if any, are consumed here
      expectResult(p.client.shutdown(), 0, "syscall");
      p.toServer();
      expectResult(p.server.read(), 0, "zero_return");
      expectResult(p.server.shutdown(), 1, "none");
      const cn = p.server.drain();
      expectOneCloseNotifyRecord(cn);
      for (let i = 0; i < cn.length - 1; i++) {
        p.client.feed(cn.subarray(i, i + 1));
        expectResult(p.client.shutdown(), -1, "want_read");
      }
      p.client.feed(cn.subarray(cn.length - 1));
      expectResult(p.client.shutdown(), 1, "none");
    });
  });

  describe("fatal errors and post-handshake messages", () => {
    it("27: a corrupted record: the reader gets -1/SSL_ERROR_SSL and sends a fatal alert; the other side gets SSL_ERROR_SSL 'bad record mac' and RECEIVED", () => {
      const p = connected();
      p.client.read(); // TLS 1.3 tickets
      p.server.write(text("integrity"));
      const wire = p.server.drain();
      wire[wire.length - 3]! ^= 0x01; // inside the AEAD tag
      p.client.feed(wire);
      const r = p.client.read();
      expectResult(r, -1, "ssl", C.SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC);
      expect(p.client.fatalError).toBeDefined();
      const alert = p.client.drain();
      expect(records(alert)).toHaveLength(1);
      p.server.feed(alert);
      const s = p.server.read();
      expectResult(s, 0, "ssl", C.SSL_R_SSLV3_ALERT_BAD_RECORD_MAC);
      expect(s.failure!.reasonString).toBe("ssl/tls alert bad record mac");
      expect(p.server.shutdownState).toEqual(RECEIVED);
    });

    if (tls13) it("28: KeyUpdate(requested) and data after the client's close_notify: the client reads it all, then ZERO_RETURN, then 1", () => {
      const p = connected();
      expectResult(p.client.shutdown(), 0, "syscall");
      p.toServer();
      expectResult(p.server.keyUpdate(true), 1, "none");
      expectResult(p.server.write(text("after your close")), 16, "none");
      expectResult(p.server.read(), 0, "zero_return");
      expectResult(p.server.shutdown(), 1, "none");
      p.toClient();
      const r = p.client.read();
      expect(str(r.data)).toBe("after your close");
      expectResult(p.client.read(), 0, "zero_return");
      expectResult(p.client.shutdown(), 1, "none");
    });

    if (tls13) it("29: a client that never reads its tickets has no resumable session; a two-way close makes it resumable, a one-way close does not", () => {
      const unread = connected();
      using s1 = unread.client.getSession()!;
      expect(s1.resumable).toBe(false);

      const twoWay = connected();
      twoWay.closeCleanly();
      using s2 = twoWay.client.getSession()!;
      expect(s2.resumable).toBe(true);

      const oneWay = connected();
      expectResult(oneWay.client.shutdown(), 0, "syscall");
      using s3 = oneWay.client.getSession()!;
      expect(s3.resumable).toBe(false);
    });
  });
});

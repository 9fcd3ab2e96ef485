// Interop with Java's JSSE (Debian's OpenJDK 17; our test/peers/java/TlsPeer.java):
// every close mode, TLS 1.2 and 1.3, both roles, and resumption
// (test/interop/close-modes.ts); then what only JSSE does: its TLS 1.3 close
// is user_canceled followed by close_notify (openssl#25254, our patch 0002),
// and its opt-in truncation detection.
import { describe, expect, it } from "vitest";
import {
  TlsSocket, type TlsSession, type TraceEvent,
} from "../../bindings/src/index.js";
import { connectTcp } from "../../bindings/src/node.js";
import { SERVER_NAME, identity } from "../helpers/harness.js";
import { payload, sha256, startTlsPeer } from "../helpers/tls-peers.js";
import { VERSIONS, closeModes, link, setup, steps, type Role } from "./close-modes.js";
import { readBytes } from "../helpers/streams.js";

const ctx = setup("jsse");

closeModes(ctx, "jsse", {
  // SSLSocket.close() in TLS 1.3 sends user_canceled before close_notify
  // (SSLSocketImpl.duplexCloseOutput: "Use a user_canceled alert for TLS 1.3
  // duplex close"; openssl#25254); in TLS 1.2 close_notify alone;
  closeAlerts: { "TLSv1.2": ["warning close notify"], "TLSv1.3": ["warning user canceled", "warning close notify"] },
  // but not once it has read ours ("Do not use user_canceled workaround if
  // the other side has already half-closed the connection").
  closeAlertsAfterOurs: { "TLSv1.2": ["warning close notify"], "TLSv1.3": ["warning close notify"] },
  // TLS 1.2: JSSE answers a close_notify with its own as soon as it reads it
  // (TransportContext.passiveInboundClose: "required to respond with a
  // close_notify alert of its own", RFC 5246 7.2.1), closing its writing side.
  // TLS 1.3 (RFC 8446 6.1) leaves that to the application: JSSE only closes
  // its reading side (jdk.tls.acknowledgeCloseNotify=true would answer).
  answersCloseNotify: { "TLSv1.2": true, "TLSv1.3": false },
  // So in TLS 1.2 its application cannot write after our close_notify (the
  // answer already went out); in TLS 1.3 it can, a real half-close.
  writesAfterOurCloseNotify: {
    "TLSv1.2": /^ERROR send java\.net\.SocketException: Connection or outbound has closed$/,
    "TLSv1.3": true,
  },
  // By default JSSE takes a TCP EOF without close_notify for a normal end of
  // stream (com.sun.net.ssl.requireCloseNotify=false: tolerance for servers
  // that never sent one); the strict setting is tested below.
  onTruncation: /^EOF$/,
});

for (const version of VERSIONS) {
  for (const ours of ["client", "server"] as Role[]) {
    it(`JSSE ${ours === "client" ? "server" : "client"} with com.sun.net.ssl.requireCloseNotify=true, ${version}: our destroy() (no close_notify) is an error to it`, async () => {
      const l = await link(ctx, "jsse", ours, version, ["send:1000:20", "recveof"], { requireCloseNotify: true });
      try {
        const s = await l.next();
        const reader = s.readable.getReader();
        expect(sha256(await readBytes(reader, 1000))).toBe(sha256(payload(1000, 20)));
        reader.releaseLock();
        await s.destroy();
        expect((await s.closed).ending).toBe("error");
        await l.peer.exited;
        expect(l.peer.lines()).toEqual([
          `CONN 1 ${version} resumed=false`, `SENT 1000 ${sha256(payload(1000, 20))}`, `RECV 0 ${sha256(new Uint8Array(0))}`,
          "ERROR recv javax.net.ssl.SSLProtocolException: Remote host terminated the connection", "DONE 1",
        ]);
      } finally {
        l.close();
      }
    });
  }
}

describe("openssl#25254: a JSSE TLS 1.3 close (user_canceled, then close_notify) is a clean close (patch 0002)", () => {
  /**
   * Without the patch (stock 3.5.7), SSL_read returns 0 with
   * SSL_ERROR_SYSCALL and an empty error queue although SSL_get_shutdown
   * says RECEIVED: the readable errors (OpenSSLError "read failed"), the
   * ending is "error" with state { sent: false, received: true }, no
   * close_notify goes back, and the connection is freed unshut, which makes
   * its session unresumable: the one kept with keepSession and the one
   * taken earlier with nextSession() (the same SSL_SESSION) alike, and the
   * next connection does not resume.
   */
  it("a JSSE TLS 1.3 server closes first: our readable ends normally, we answer, clean; the session resumes", async () => {
    const id = identity();
    // Two rounds of two connections: a session taken with nextSession() before
    // the close, then one kept with keepSession, each resuming the next
    // connection. (Two rounds because JSSE sends one ticket, so both ways give
    // the same SSL_SESSION, and our client contexts use TLS 1.3 tickets once.)
    const peer = await startTlsPeer("jsse", {
      role: "server", version: "TLSv1.3", script: ["send:1000:21", "wait", "close"], connections: 4,
      files: ctx.files, servername: SERVER_NAME,
    });
    const connect = async (o: { session?: TlsSession; keepSession?: boolean } = {}) => {
      const events: string[] = [];
      const onTrace = (e: TraceEvent) => {
        if (e.type === "alert") events.push(`${e.direction} ${e.level} ${e.name}`);
        else if (e.type === "call") events.push(`${e.call} ${e.ret} ${e.sslError}`);
        else if (e.type === "closed") events.push(`closed ${e.ending}`);
      };
      const s = await TlsSocket.connect(await connectTcp("127.0.0.1", peer.port), {
        openssl: ctx.ossl, ca: id.certPem, servername: SERVER_NAME, onTrace, reuseSessions: false, ...o, // sessions by hand here
      });
      return { s, events };
    };
    /** Reads its data, lets it close (SSLSocket.close()), answers; returns how it ended. */
    const closedByPeer = async ({ s, events }: Awaited<ReturnType<typeof connect>>) => {
      const reader = s.readable.getReader();
      expect(sha256(await readBytes(reader, 1000))).toBe(sha256(payload(1000, 21)));
      peer.cue();
      expect(await reader.read()).toEqual({ done: true, value: undefined }); // ZERO_RETURN: not an error
      const report = await s.shutdown({ mode: "unidirectional" }); // our close_notify answers its own
      expect(steps(report)).toEqual([["SSL_shutdown", 1, "none"]]);
      expect(report.ending).toBe("clean");
      expect(events).toEqual([
        "received warning user canceled", // ignored, as RFC 8446 6.1 allows
        "received warning close notify",
        "SSL_read 0 zero_return",
        "sent warning close notify",
        "SSL_shutdown 1 none",
        "closed clean",
      ]);
      const info = await s.closed;
      expect(info).toMatchObject({ ending: "clean", state: { sent: true, received: true } });
      return info;
    };

    const reused: boolean[] = [];
    // 1: the ticket taken before the close
    const first = await connect();
    const early = await first.s.nextSession(); // JSSE's NewSessionTicket, read with the first data
    await closedByPeer(first);
    expect(early.resumable).toBe(true);
    const second = await connect({ session: early });
    reused.push(second.s.info.sessionReused);
    await closedByPeer(second);
    // 2: the session as the connection ended
    const third = await connect({ keepSession: true });
    const kept = (await closedByPeer(third)).session!;
    expect(kept.resumable).toBe(true);
    const fourth = await connect({ session: kept });
    reused.push(fourth.s.info.sessionReused);
    await closedByPeer(fourth);
    expect(reused).toEqual([true, true]);
    early.dispose();
    kept.dispose();
    await peer.exited;
    expect(peer.lines().filter((x) => x.startsWith("CONN "))).toEqual(
      ["CONN 1 TLSv1.3 resumed=false", "CONN 2 TLSv1.3 resumed=true", "CONN 3 TLSv1.3 resumed=false", "CONN 4 TLSv1.3 resumed=true"]);
  });
});

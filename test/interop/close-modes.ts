/**
 * The close-mode matrix against one of our small peers on another TLS stack
 * (test/helpers/tls-peers.ts), shared by jsse.test.ts and go-tls.test.ts:
 * TLS 1.2 and 1.3, us as client and as server, over direct TCP. Each test
 * asserts both sides: our report and ending, and the peer's own lines (what
 * its application saw). Where peers differ, the test file passes what its
 * peer really does (PeerBehaviour), with the reason.
 */
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  OpenSSL, TlsSocket, TlsTruncationError, type TlsContext, type ProtocolVersion, type ShutdownReport, type TlsSocketOptions,
} from "../../bindings/src/index.js";
import { connectTcp, fromNodeSocket } from "../../bindings/src/node.js";
import { SERVER_NAME, identity } from "../helpers/harness.js";
import { identityFiles, killAllPeers } from "../helpers/peers.js";
import { readAll, readBytes } from "../helpers/streams.js";
import {
  MiB, PEER_NAMES, buildPeer, listen, payload, sha256, startTlsPeer, type PeerKind, type TlsPeer,
} from "../helpers/tls-peers.js";

export const VERSIONS: ProtocolVersion[] = ["TLSv1.2", "TLSv1.3"];
export type Role = "client" | "server";
const EMPTY = sha256(new Uint8Array(0));

/** What a peer does where TLS stacks legitimately differ. */
export interface PeerBehaviour {
  /** The alerts its close sends when it closes first, as OpenSSL names them (we receive them). */
  closeAlerts: Record<ProtocolVersion, string[]>;
  /** The alerts its close sends once it has read our close_notify. */
  closeAlertsAfterOurs: Record<ProtocolVersion, string[]>;
  /** It answers our close_notify with its own by itself, as its application reads it (before it closes). */
  answersCloseNotify: Record<ProtocolVersion, boolean>;
  /**
   * Its application can still write after it read our close_notify (the
   * half-close test): true, or else the ERROR line its write ends with.
   */
  writesAfterOurCloseNotify: Record<ProtocolVersion, true | RegExp>;
  /** Its lines when the connection ends by a TCP FIN without close_notify (we destroy()), after its RECV line. */
  onTruncation: RegExp;
}

export interface Ctx {
  ossl: OpenSSL;
  files: { cert: string; key: string };
}

/** Builds the peer and loads OpenSSL once per file; kills leftover peers after each test. */
export function setup(kind: PeerKind): Ctx {
  const ctx = {} as Ctx;
  const id = identity();
  beforeAll(async () => {
    ctx.ossl = await OpenSSL.load();
    ctx.files = identityFiles(id);
    buildPeer(kind); // javac / go build once per source and toolchain; cached outside the repo
  }, 240_000);
  afterEach(() => killAllPeers());
  return ctx;
}

export interface Link {
  peer: TlsPeer;
  /** Our side of the next connection (session and keepSession are for our client). */
  next(options?: Pick<TlsSocketOptions, "session" | "keepSession" | "onTrace">): Promise<TlsSocket>;
  close(): void;
}

/**
 * Starts the peer in the other role and returns a way to make our side of
 * each connection. As a server we share one context across connections
 * (its session cache and ticket keys make resumption possible).
 */
export async function link(ctx: Ctx, kind: PeerKind, ours: Role, version: ProtocolVersion, script: string[],
  extra: { connections?: number; requireCloseNotify?: boolean } = {}): Promise<Link> {
  const id = identity();
  const common = { ...extra, version, script, files: ctx.files, servername: SERVER_NAME };
  if (ours === "client") {
    const peer = await startTlsPeer(kind, { ...common, role: "server" });
    return {
      peer,
      next: async (options = {}) => TlsSocket.connect(await connectTcp("127.0.0.1", peer.port), {
        // allowHalfOpen: these scenarios drive every close by hand, half-closes included.
        openssl: ctx.ossl, ca: id.certPem, servername: SERVER_NAME, allowHalfOpen: true, ...options,
      }),
      close: () => {},
    };
  }
  const listener = await listen();
  const sctx: TlsContext = ctx.ossl.createContext({ role: "server", cert: id.certPem, key: id.keyPem });
  const peer = await startTlsPeer(kind, { ...common, role: "client", port: listener.port });
  return {
    peer,
    next: async ({ onTrace } = {}) => TlsSocket.accept(fromNodeSocket(await listener.next()), { context: sctx, allowHalfOpen: true, ...(onTrace ? { onTrace } : {}) }),
    close: () => {
      listener.close();
      sctx.dispose();
    },
  };
}

/** Reads `n` bytes and lets go of the readable. */
async function readSome(s: TlsSocket, n: number): Promise<Buffer> {
  const reader = s.readable.getReader();
  try {
    return await readBytes(reader, n);
  } finally {
    reader.releaseLock();
  }
}

/** Collects the alerts a socket receives (pass `onTrace` to next()). */
export function alertsReceived(): { onTrace: TlsSocketOptions["onTrace"]; alerts: string[] } {
  const alerts: string[] = [];
  return {
    alerts,
    onTrace: (e) => {
      if (e.type === "alert" && e.direction === "received") alerts.push(`${e.level} ${e.name}`);
    },
  };
}

/** [call, ret, error] of each step. */
export const steps = (r: ShutdownReport) => r.steps.map((st) => [st.call, st.ret, st.sslError]);
export const CLOSE_0_THEN_1 = [["SSL_shutdown", 0, "syscall"], ["SSL_read", 0, "zero_return"], ["SSL_shutdown", 1, "none"]];

/** The close modes, for each version and both of our roles. */
export function closeModes(ctx: Ctx, kind: PeerKind, behaviour: PeerBehaviour): void {
  const name = PEER_NAMES[kind];
  for (const version of VERSIONS) {
    for (const ours of ["client", "server"] as Role[]) {
      const theirs = ours === "client" ? "server" : "client";
      describe(`${name} ${theirs}, ${version} (we are the ${ours})`, () => {
        let l: Link | undefined;
        const open = async (script: string[], extra?: Parameters<typeof link>[5]) => (l = await link(ctx, kind, ours, version, script, extra));
        afterEach(() => {
          l?.close();
          l = undefined;
        });
        const conn = `CONN 1 ${version} resumed=false`;

        it("1 MiB each way intact (SHA-256), then the peer closes first: ZERO_RETURN, our SSL_shutdown 1, clean (scenario 2)", async () => {
          const up = payload(MiB, 1), down = payload(MiB, 2);
          const { peer, next } = await open([`recv:${MiB}`, `send:${MiB}:2`, "close"]);
          const { onTrace, alerts } = alertsReceived();
          const s = await next({ onTrace });
          expect(s.info.protocol).toBe(version);
          const reading = readAll(s.readable); // the readable ends on the peer's close_notify
          const w = s.writable.getWriter();
          await w.write(up);
          w.releaseLock();
          expect(sha256(await reading)).toBe(sha256(down));
          const report = await s.shutdown({ mode: "unidirectional" });
          expect(steps(report)).toEqual([["SSL_shutdown", 1, "none"]]);
          expect(report).toMatchObject({ ret: 1, ending: "clean" });
          expect((await s.closed).state).toEqual({ sent: true, received: true });
          expect(alerts).toEqual(behaviour.closeAlerts[version]);
          await peer.exited;
          expect(peer.lines()).toEqual([conn, `RECV ${MiB} ${sha256(up)}`, `SENT ${MiB} ${sha256(down)}`, "CLOSED", "DONE 1"]);
        });

        it("we close bidirectionally; the peer's application closes once it has read our close_notify: 0, then 1, clean (scenario 1)", async () => {
          const { peer, next } = await open(["send:1000:3", "recveof", "close"]);
          const { onTrace, alerts } = alertsReceived();
          const s = await next({ onTrace });
          expect(sha256(await readSome(s, 1000))).toBe(sha256(payload(1000, 3)));
          const report = await s.shutdown({ mode: "bidirectional" });
          expect(steps(report)).toEqual(CLOSE_0_THEN_1);
          expect(report).toMatchObject({ ret: 1, ending: "clean" });
          expect(alerts).toEqual(behaviour.closeAlertsAfterOurs[version]);
          await peer.exited;
          expect(peer.lines()).toEqual([conn, `SENT 1000 ${sha256(payload(1000, 3))}`, `RECV 0 ${EMPTY}`, "EOF", "CLOSED", "DONE 1"]);
        });

        const answers = behaviour.answersCloseNotify[version];
        it(answers
          ? "our close_notify alone: the peer answers it by itself (its application only reads): 0, then 1, clean"
          : "our close_notify alone: the peer does not answer it until its application closes; when it goes without closing, truncation",
        async () => {
          const { peer, next } = await open(["recveof", "wait"]);
          const s = await next();
          let settled = false;
          const report = s.shutdown({ mode: "bidirectional" });
          const outcome = report.then((r) => r, (e: unknown) => e).finally(() => (settled = true));
          await peer.line(/^EOF$/); // it has read our close_notify (and answered, if it does, in that read)
          if (answers) {
            const r = await report;
            expect(steps(r)).toEqual(CLOSE_0_THEN_1);
            expect(r.ending).toBe("clean");
            peer.cue();
          } else {
            await new Promise((r) => setTimeout(r, 300));
            expect(settled).toBe(false); // still waiting for its close_notify (SSL_read: WANT_READ)
            expect(s.shutdownState).toEqual({ sent: true, received: false });
            peer.cue(); // its script ends: the TCP connection closes without its close_notify
            expect(await outcome).toBeInstanceOf(TlsTruncationError);
            expect((await s.closed).ending).toBe("truncated");
          }
          await peer.exited;
          expect(peer.lines()).toEqual([conn, `RECV 0 ${EMPTY}`, "EOF", "GO", "DONE 1"]);
        });

        it("we close one way: SSL_shutdown 0, one-way; the peer's application sees a clean EOF", async () => {
          const { peer, next } = await open(["send:1000:4", "recveof"]);
          const s = await next();
          await readSome(s, 1000);
          const report = await s.shutdown({ mode: "unidirectional" });
          expect(steps(report)).toEqual([["SSL_shutdown", 0, "syscall"]]);
          expect(report).toMatchObject({ ret: 0, ending: "one-way" });
          expect((await s.closed).state).toEqual({ sent: true, received: false });
          await peer.exited;
          expect(peer.lines()).toEqual([conn, `SENT 1000 ${sha256(payload(1000, 4))}`, `RECV 0 ${EMPTY}`, "EOF", "DONE 1"]);
        });

        it("the peer resets the TCP connection (SO_LINGER 0) mid-stream: TlsTruncationError (ECONNRESET), truncated", async () => {
          const { peer, next } = await open(["send:1000:5", "wait", "abort"]);
          const s = await next();
          const reader = s.readable.getReader();
          expect(sha256(await readBytes(reader, 1000))).toBe(sha256(payload(1000, 5)));
          peer.cue();
          const error = await readBytes(reader, 1).then(() => undefined, (e: unknown) => e);
          expect(error).toBeInstanceOf(TlsTruncationError);
          expect((error as Error).cause).toMatchObject({ code: "ECONNRESET" });
          const info = await s.closed;
          expect(info.ending).toBe("truncated");
          expect(info.state).toEqual({ sent: false, received: false });
          await peer.exited;
          expect(peer.lines()).toEqual([conn, `SENT 1000 ${sha256(payload(1000, 5))}`, "GO", "ABORTED", "DONE 1"]);
        });

        it("we destroy() mid-stream (TCP FIN, no close_notify): ending error; what the peer's application sees", async () => {
          const { peer, next } = await open(["send:1000:6", "recveof"]);
          const s = await next();
          await readSome(s, 1000);
          await s.destroy();
          expect((await s.closed).ending).toBe("error");
          await peer.exited;
          const lines = peer.lines();
          expect(lines.slice(0, 3)).toEqual([conn, `SENT 1000 ${sha256(payload(1000, 6))}`, `RECV 0 ${EMPTY}`]);
          expect(lines.slice(3, -1).join("\n")).toMatch(behaviour.onTruncation);
          expect(lines.at(-1)).toBe("DONE 1");
        });

        it("half-close: we close our writing side (writable.close()); the peer goes on sending 1 MiB, then closes (scenario 9)", async () => {
          const down = payload(MiB, 7);
          const { peer, next } = await open(["recveof", `send:${MiB}:7`, "close"]);
          const s = await next();
          await s.writable.close(); // close_notify; the transport stays open both ways
          expect(s.shutdownState).toEqual({ sent: true, received: false });
          const got = await readAll(s.readable);
          const info = await s.closed;
          expect(info.ending).toBe("clean");
          expect(info.state).toEqual({ sent: true, received: true });
          await peer.exited;
          const writes = behaviour.writesAfterOurCloseNotify[version];
          const lines = peer.lines();
          expect(lines.slice(0, 3)).toEqual([conn, `RECV 0 ${EMPTY}`, "EOF"]);
          if (writes === true) {
            expect(sha256(got)).toBe(sha256(down));
            expect(lines.slice(3)).toEqual([`SENT ${MiB} ${sha256(down)}`, "CLOSED", "DONE 1"]);
          } else {
            expect(got.length).toBe(0); // it had answered our close_notify already: nothing can follow
            expect(lines.slice(3, -1).join("\n")).toMatch(writes);
            expect(lines.at(-1)).toBe("DONE 1");
          }
        });

        it("the peer half-closes (close_notify only); we go on sending 1 MiB, which it reads; then our SSL_shutdown 1, clean (scenario 9, mirrored)", async () => {
          const up = payload(MiB, 8);
          const { peer, next } = await open(["send:1000:9", "closewrite", "recveof", "close"]);
          const s = await next();
          expect(sha256(await readAll(s.readable))).toBe(sha256(payload(1000, 9))); // then ZERO_RETURN
          expect(s.shutdownState).toEqual({ sent: false, received: true });
          const w = s.writable.getWriter();
          await w.write(up); // writing with only RECEIVED set works (scenario 11)
          w.releaseLock();
          const report = await s.shutdown({ mode: "unidirectional" });
          expect(report).toMatchObject({ ret: 1, ending: "clean" });
          await peer.exited;
          expect(peer.lines()).toEqual([conn, `SENT 1000 ${sha256(payload(1000, 9))}`, "CLOSEDWRITE",
            `RECV ${MiB} ${sha256(up)}`, "EOF", "CLOSED", "DONE 1"]);
        });

        it("resumption: after a clean close the second connection resumes, on both sides' account (scenario 30)", async () => {
          const data = payload(100, 10);
          const { peer, next } = await open(ours === "client" ? ["send:100:10", "recveof", "close"] : ["recv:100", "close"], { connections: 2 });
          const reused: boolean[] = [];
          let session: TlsSocketOptions["session"];
          for (let i = 0; i < 2; i++) {
            const s = await next({ session, keepSession: true });
            reused.push(s.info.sessionReused);
            if (ours === "client") {
              // reading also takes in TLS 1.3 NewSessionTickets, which come before the data
              expect(sha256(await readSome(s, 100))).toBe(sha256(data));
              expect(await s.shutdown({ mode: "bidirectional" })).toMatchObject({ ret: 1, ending: "clean" });
            } else {
              const w = s.writable.getWriter();
              await w.write(data);
              w.releaseLock();
              expect((await readAll(s.readable)).length).toBe(0); // up to its close_notify
              expect(await s.shutdown({ mode: "unidirectional" })).toMatchObject({ ret: 1, ending: "clean" });
            }
            const info = await s.closed;
            if (ours === "client") {
              expect(info.session?.resumable).toBe(true);
              session?.dispose();
              session = info.session;
            } else {
              info.session?.dispose();
            }
          }
          session?.dispose();
          expect(reused).toEqual([false, true]);
          await peer.exited;
          const lines = peer.lines();
          expect(lines.filter((x) => x.startsWith("CONN "))).toEqual([`CONN 1 ${version} resumed=false`, `CONN 2 ${version} resumed=true`]);
          expect(lines.filter((x) => x.startsWith("ERROR"))).toEqual([]);
        });
      });
    }
  }
}

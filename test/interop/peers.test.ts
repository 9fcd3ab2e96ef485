// Interop with TLS implementations no one here wrote: Debian's OpenSSL
// command line (s_server / s_client) and GnuTLS (gnutls-serv / gnutls-cli),
// SHUTDOWN.md scenarios 34, 35, 37 and 38, for TLS 1.2 and 1.3, in the
// client role both directly over TCP and through the WebSocket tunnel.
// (Scenario 36, Node's tls, is in test/unit/tls-socket.test.ts.)
import { createHash } from "node:crypto";
import * as net from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import {
  OpenSSL, TlsSocket, TlsTruncationError, connectWebSocket, type ProtocolVersion, type Transport,
} from "../../bindings/src/index.js";
import { connectTcp, fromNodeSocket } from "../../bindings/src/node.js";
import { createTunnel, type Tunnel } from "../../bindings/src/tunnel/tunnel.js";
import { SERVER_NAME, identity, str, text } from "../helpers/harness.js";
import { freePort, identityFiles, killAllPeers, startPeer, stdoutIncludes, type Peer } from "../helpers/peers.js";
import { readBytes } from "../helpers/streams.js";

let ossl: OpenSSL;
let tunnel: Tunnel;
const id = identity();
const files = identityFiles(id);
beforeAll(async () => {
  ossl = await OpenSSL.load();
  tunnel = await createTunnel({ allow: ["127.0.0.1:*"] });
});
afterAll(() => tunnel.close());
afterEach(() => killAllPeers());

const MiB = 1 << 20;
/** 1 MiB of digits and newlines: no byte s_server would take as a command. */
function payload(seed: number): Buffer {
  const b = Buffer.alloc(MiB);
  let x = seed;
  for (let i = 0; i < b.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = i % 64 === 63 ? 10 : 48 + ((x >>> 16) % 10);
  }
  return b;
}
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

type Via = "tcp" | "tunnel";
async function transportTo(port: number, via: Via): Promise<Transport> {
  return via === "tcp"
    ? connectTcp("127.0.0.1", port)
    : connectWebSocket(`${tunnel.url}/127.0.0.1:${port}`, { WebSocket: WebSocket as never });
}

/** Reads to the end; rejects with the stream's error. */
async function drain(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
  while (!(await reader.read()).done);
}

const VERSIONS: ProtocolVersion[] = ["TLSv1.2", "TLSv1.3"];
const flag = (v: ProtocolVersion) => (v === "TLSv1.3" ? "-tls1_3" : "-tls1_2");

for (const version of VERSIONS) {
  for (const via of ["tcp", "tunnel"] as Via[]) {
    describe(`openssl s_server, ${version}, ${via === "tcp" ? "direct TCP" : "through the tunnel"}`, () => {
      const sServer = async (extra: string[] = []): Promise<{ peer: Peer; port: number }> => {
        const port = await freePort();
        const peer = await startPeer("openssl", ["s_server", "-accept", `127.0.0.1:${port}`, "-cert", files.cert,
          "-key", files.key, "-naccept", "1", flag(version), ...extra], /ACCEPT/);
        return { peer, port };
      };
      const connect = async (port: number) => TlsSocket.connect(await transportTo(port, via), {
        openssl: ossl, ca: id.certPem, servername: SERVER_NAME,
      });

      it("34: 1 MiB each way intact; we close first, s_server answers: SSL_shutdown 0, then 1 (clean)", async () => {
        const { peer, port } = await sServer();
        const socket = await connect(port);
        expect(socket.info.protocol).toBe(version);
        const up = payload(1), down = payload(2);
        const w = socket.writable.getWriter();
        await w.write(up);
        w.releaseLock();
        // s_server prints what it receives on stdout, and sends what it reads on stdin
        expect(await stdoutIncludes(peer, up)).toBe(true); // (its own messages share stdout)
        peer.proc.stdin.write(down);
        const reader = socket.readable.getReader();
        const got = await readBytes(reader, MiB);
        expect(sha256(got)).toBe(sha256(down));
        reader.releaseLock();
        const report = await socket.shutdown({ mode: "bidirectional" });
        expect(report.steps[0]).toMatchObject({ call: "SSL_shutdown", ret: 0 });
        expect(report).toMatchObject({ ret: 1, ending: "clean" });
      });

      it("34: s_server -www closes cleanly after its response: we see ZERO_RETURN, and our SSL_shutdown returns 1", async () => {
        const { port } = await sServer(["-www"]);
        const socket = await connect(port);
        const w = socket.writable.getWriter();
        await w.write(text("GET / HTTP/1.0\r\n\r\n"));
        w.releaseLock();
        let body = "";
        for await (const chunk of socket.readable) body += str(chunk);
        expect(body).toMatch(/^HTTP\/1\.0 200 ok/);
        const report = await socket.shutdown({ mode: "unidirectional" });
        expect(report.ret).toBe(1);
        expect((await socket.closed).ending).toBe("clean");
      });

      it("34: s_server killed mid-stream is reported as truncation", async () => {
        const { peer, port } = await sServer();
        const socket = await connect(port);
        peer.proc.stdin.write(payload(3).subarray(0, 1000));
        const reader = socket.readable.getReader();
        expect((await reader.read()).value!.length).toBeGreaterThan(0);
        peer.kill("SIGKILL");
        let error: unknown;
        for (;;) {
          try {
            if ((await reader.read()).done) break;
          } catch (e) {
            error = e;
            break;
          }
        }
        expect(error).toBeInstanceOf(TlsTruncationError);
        expect((await socket.closed).ending).toBe("truncated");
      });
    });

    describe(`gnutls-serv --echo, ${version}, ${via === "tcp" ? "direct TCP" : "through the tunnel"}`, () => {
      it("38: 1 MiB echoed intact, then a clean two-way close", async () => {
        const port = await freePort();
        await startPeer("gnutls-serv", ["--echo", "-p", String(port), "--x509certfile", files.cert, "--x509keyfile", files.key,
          "--priority", version === "TLSv1.3" ? "NORMAL:-VERS-ALL:+VERS-TLS1.3" : "NORMAL:-VERS-ALL:+VERS-TLS1.2"], /listening/);
        const socket = await TlsSocket.connect(await transportTo(port, via), { openssl: ossl, ca: id.certPem, servername: SERVER_NAME });
        expect(socket.info.protocol).toBe(version);
        const data = payload(4);
        const w = socket.writable.getWriter();
        const reader = socket.readable.getReader();
        const echoed = readBytes(reader, MiB);
        for (let at = 0; at < data.length; at += 16384) await w.write(data.subarray(at, at + 16384));
        w.releaseLock();
        expect(sha256(await echoed)).toBe(sha256(data));
        reader.releaseLock();
        const report = await socket.shutdown({ mode: "bidirectional" });
        expect(report).toMatchObject({ ret: 1, ending: "clean" });
      });

      it("gnutls-serv killed mid-stream is reported as truncation", async () => {
        const port = await freePort();
        const peer = await startPeer("gnutls-serv", ["--echo", "-p", String(port), "--x509certfile", files.cert, "--x509keyfile", files.key], /listening/);
        const socket = await TlsSocket.connect(await transportTo(port, via), { openssl: ossl, ca: id.certPem, servername: SERVER_NAME });
        const w = socket.writable.getWriter();
        await w.write(text("echo this\n"));
        const reader = socket.readable.getReader();
        expect(str((await reader.read()).value!)).toContain("echo this");
        peer.kill("SIGKILL");
        await expect(drain(reader)).rejects.toBeInstanceOf(TlsTruncationError);
        expect((await socket.closed).ending).toBe("truncated");
      });
    });

    describe(`Node tls server, ${version}, ${via === "tcp" ? "direct TCP" : "through the tunnel"}`, () => {
      /** A Node tls server for one connection, running `handle` on it. */
      async function nodeServer(handle: (s: import("node:tls").TLSSocket) => void, allowHalfOpen = false): Promise<{ port: number; close: () => void }> {
        const { createServer } = await import("node:tls");
        const server = createServer({ cert: id.certPem, key: id.keyPem, minVersion: version, maxVersion: version, allowHalfOpen }, handle);
        server.listen(0, "127.0.0.1");
        await new Promise((r) => server.once("listening", r));
        return { port: (server.address() as net.AddressInfo).port, close: () => server.close() };
      }
      const connect = async (port: number) => TlsSocket.connect(await transportTo(port, via), {
        openssl: ossl, ca: id.certPem, servername: SERVER_NAME,
      });

      it("1 MiB each way intact, we close first (bidirectional): 0, then 1, clean", async () => {
        const down = payload(5);
        let received = Buffer.alloc(0);
        const srv = await nodeServer((s) => {
          s.on("data", (d: Buffer) => (received = Buffer.concat([received, d])));
          s.write(down);
          s.on("error", () => {});
        });
        const socket = await connect(srv.port);
        expect(socket.info.protocol).toBe(version);
        const up = payload(6);
        const w = socket.writable.getWriter();
        await w.write(up);
        w.releaseLock();
        const reader = socket.readable.getReader();
        expect(sha256(await readBytes(reader, MiB))).toBe(sha256(down));
        reader.releaseLock();
        const report = await socket.shutdown({ mode: "bidirectional" });
        expect(report).toMatchObject({ ret: 1, ending: "clean" });
        expect(sha256(received)).toBe(sha256(up));
        srv.close();
      });

      it("the server closes first (end() after reading): ZERO_RETURN, then our unidirectional close returns 1", async () => {
        const srv = await nodeServer((s) => s.once("data", () => s.end("goodbye")));
        const socket = await connect(srv.port);
        const w = socket.writable.getWriter();
        await w.write(text("hi"));
        w.releaseLock();
        let got = "";
        for await (const chunk of socket.readable) got += str(chunk);
        expect(got).toBe("goodbye");
        expect(await socket.shutdown({ mode: "unidirectional" })).toMatchObject({ ret: 1, ending: "clean" });
        srv.close();
      });

      it("we close unidirectionally: 0, one-way; the server saw our close_notify as a clean end", async () => {
        let serverSawEnd!: () => void;
        const sawEnd = new Promise<void>((r) => (serverSawEnd = r));
        const srv = await nodeServer((s) => {
          s.on("data", () => {});
          s.on("end", () => serverSawEnd());
          s.on("error", () => {});
        }, true);
        const socket = await connect(srv.port);
        expect(await socket.shutdown({ mode: "unidirectional" })).toMatchObject({ ret: 0, ending: "one-way" });
        await sawEnd;
        srv.close();
      });

      it("the server destroyed mid-stream: truncation", async () => {
        const srv = await nodeServer((s) => s.write("some", () => setTimeout(() => s.destroy(), 20)));
        const socket = await connect(srv.port);
        const reader = socket.readable.getReader();
        expect(str((await reader.read()).value!)).toBe("some");
        await expect(drain(reader)).rejects.toBeInstanceOf(TlsTruncationError);
        srv.close();
      });
    });
  }

  describe(`our server, ${version}`, () => {
    /** Listens once on a free port; hands the accepted TlsSocket to `serve`. */
    async function ourServer(serve: (s: TlsSocket) => Promise<void>): Promise<{ port: number; done: Promise<void>; close: () => void }> {
      const port = await freePort();
      let finish!: (e?: unknown) => void;
      const done = new Promise<void>((resolve, reject) => (finish = (e) => (e ? reject(e) : resolve())));
      const server = net.createServer({ allowHalfOpen: true }, (raw) => {
        TlsSocket.accept(fromNodeSocket(raw), { openssl: ossl, cert: id.certPem, key: id.keyPem, minVersion: version, maxVersion: version })
          .then(serve).then(() => finish(), finish);
      });
      server.listen(port, "127.0.0.1");
      await new Promise((r) => server.once("listening", r));
      return { port, done, close: () => server.close() };
    }

    it("35: openssl s_client -ign_eof: we write, SSL_shutdown 0; it replies with its close_notify; our second SSL_shutdown 1", async () => {
      let report: Awaited<ReturnType<TlsSocket["shutdown"]>> | undefined;
      const srv = await ourServer(async (s) => {
        const w = s.writable.getWriter();
        await w.write(text("hello s_client\n"));
        w.releaseLock();
        report = await s.shutdown({ mode: "bidirectional" });
      });
      const client = await startPeer("openssl", ["s_client", "-connect", `127.0.0.1:${srv.port}`, "-CAfile", files.cert,
        "-servername", SERVER_NAME, "-verify_hostname", SERVER_NAME, "-ign_eof", flag(version)]);
      await srv.done;
      await client.exited;
      expect(client.stdout().toString()).toContain("hello s_client");
      expect(client.stdout().toString()).toMatch(/Verify return code: 0 \(ok\)/);
      expect(report!.steps.filter((st) => st.call === "SSL_shutdown").map((st) => st.ret)).toEqual([0, 1]);
      expect(report!.ending).toBe("clean");
      srv.close();
    });

    /**
     * A command-line client peer (stdin -> us, us -> stdout): 1 MiB each way,
     * checked by SHA-256, then the peer is killed: we must see truncation.
     */
    async function transferThenKill(cmd: string, args: (port: number) => string[], seeds: [number, number]) {
      const up = payload(seeds[0]), down = payload(seeds[1]);
      let received: Buffer | undefined;
      let failure: unknown;
      let peer!: Peer;
      let printedAll = false;
      const srv = await ourServer(async (s) => {
        // read while writing: the peer blocks on its own writes otherwise, and so would we
        const reader = s.readable.getReader();
        const reading = readBytes(reader, MiB);
        const w = s.writable.getWriter();
        await w.write(down);
        w.releaseLock();
        received = await reading;
        printedAll = await stdoutIncludes(peer, down); // (its own messages share stdout: wait for our bytes)
        peer.kill("SIGKILL");
        failure = await drain(reader).then(() => null, (e: unknown) => e);
      });
      peer = await startPeer(cmd, args(srv.port));
      peer.proc.stdin.write(up);
      await srv.done;
      expect(printedAll).toBe(true);
      expect(sha256(received!)).toBe(sha256(up));
      expect(failure).toBeInstanceOf(TlsTruncationError);
      srv.close();
    }

    it("openssl s_client: 1 MiB each way intact, then s_client killed: truncation", () =>
      transferThenKill("openssl", (port) => ["s_client", "-connect", `127.0.0.1:${port}`, "-CAfile", files.cert,
        "-servername", SERVER_NAME, "-quiet", flag(version)], [7, 8]));

    it("gnutls-cli: 1 MiB each way intact, then gnutls-cli killed: truncation", () =>
      transferThenKill("gnutls-cli", (port) => ["-p", String(port), "--x509cafile", files.cert,
        "--verify-hostname", SERVER_NAME, "127.0.0.1"], [9, 10]));

    it("Node tls client: 1 MiB each way intact; it closes first with end(): ZERO_RETURN, our close 1", async () => {
      const up = payload(11), down = payload(12);
      let received: Buffer | undefined;
      let report: Awaited<ReturnType<TlsSocket["shutdown"]>> | undefined;
      const srv = await ourServer(async (s) => {
        const w = s.writable.getWriter();
        await w.write(down);
        w.releaseLock();
        const parts: Uint8Array[] = [];
        for await (const chunk of s.readable) parts.push(chunk);
        received = Buffer.concat(parts);
        report = await s.shutdown({ mode: "unidirectional" });
      });
      const { connect: tlsConnect } = await import("node:tls");
      const c = tlsConnect({ host: "127.0.0.1", port: srv.port, ca: id.certPem, servername: SERVER_NAME, minVersion: version, maxVersion: version });
      const got: Buffer[] = [];
      c.on("data", (d: Buffer) => {
        got.push(d);
        if (Buffer.concat(got).length >= MiB) c.end(up);
      });
      await srv.done;
      expect(sha256(Buffer.concat(got))).toBe(sha256(down));
      expect(sha256(received!)).toBe(sha256(up));
      expect(report).toMatchObject({ ret: 1, ending: "clean" });
      srv.close();
    });

    it("37: gnutls-cli closing on stdin EOF: we see ZERO_RETURN (its close_notify), then our SSL_shutdown returns 1", async () => {
      let got = "";
      let report: Awaited<ReturnType<TlsSocket["shutdown"]>> | undefined;
      const srv = await ourServer(async (s) => {
        for await (const chunk of s.readable) got += str(chunk);
        report = await s.shutdown({ mode: "unidirectional" });
      });
      const cli = await startPeer("gnutls-cli", ["-p", String(srv.port), "--x509cafile", files.cert,
        "--verify-hostname", SERVER_NAME, "127.0.0.1"]);
      cli.proc.stdin.end("hello from gnutls-cli\n");
      await srv.done;
      expect(got).toBe("hello from gnutls-cli\n");
      expect(report!.ret).toBe(1);
      expect(report!.ending).toBe("clean");
      cli.kill();
      srv.close();
    });

    it("37: when we close first, gnutls-cli exits without replying: our wait for its close_notify ends in unexpected EOF", async () => {
      let failure: unknown;
      let steps: string[] = [];
      const srv = await ourServer(async (s) => {
        const w = s.writable.getWriter();
        await w.write(text("bye\n"));
        w.releaseLock();
        const report = s.shutdown({ mode: "bidirectional" });
        failure = await report.then(() => null, (e: unknown) => e);
        steps = [String((await s.closed).ending)];
      });
      const cli = await startPeer("gnutls-cli", ["-p", String(srv.port), "--x509cafile", files.cert,
        "--verify-hostname", SERVER_NAME, "127.0.0.1"]);
      await srv.done;
      await cli.exited;
      expect(cli.stdout().toString()).toContain("bye");
      expect(failure).toBeInstanceOf(TlsTruncationError);
      expect(steps).toEqual(["truncated"]);
      srv.close();
    });
  });
}

// nginx (Debian's, 1.22 on OpenSSL 3.0) as the server an HTTP client meets:
// on a kept-alive connection it answers our close_notify by closing TCP
// without its own. A bidirectional shutdown then ends "truncated", as
// native OpenSSL and Python's unwrap() report it; shutdown({ acceptEof })
// takes that close as the answer ("one-way"). Issue 9, item 5.
import { mkdtempSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  OpenSSL, TlsSocket, TlsTruncationError,
} from "../../bindings/src/index.js";
import { connectTcp } from "../../bindings/src/node.js";
import { SERVER_NAME, identity, str, text } from "../helpers/harness.js";
import { freePort, identityFiles, startPeer, type Peer } from "../helpers/peers.js";

const id = identity();
let ossl: OpenSSL;
let nginx: Peer;
let port = 0;

/** Waits until something accepts TCP connections on `port`. */
async function listening(p: number): Promise<void> {
  for (let i = 0; i < 250; i++) {
    const s = net.connect(p, "127.0.0.1");
    const ok = await new Promise<boolean>((resolve) => {
      s.once("connect", () => resolve(true));
      s.once("error", () => resolve(false));
    });
    s.destroy();
    if (ok) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`nothing listens on ${p}`);
}

beforeAll(async () => {
  ossl = await OpenSSL.load();
  port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "openssl-wasm-nginx-"));
  const files = identityFiles(id);
  const temp = (name: string) => `${name}_temp_path ${join(dir, name)};`;
  writeFileSync(join(dir, "nginx.conf"), `
pid ${join(dir, "nginx.pid")};
error_log ${join(dir, "error.log")} info;
worker_processes 1;
events { worker_connections 64; }
http {
  access_log off;
  ${["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map(temp).join("\n  ")}
  keepalive_timeout 60s;
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${files.cert};
    ssl_certificate_key ${files.key};
    location / { return 200 "hello from nginx\\n"; }
  }
}
`);
  nginx = await startPeer("nginx", ["-p", dir, "-c", join(dir, "nginx.conf"), "-g", "daemon off; master_process off;"]);
  await listening(port);
}, 30_000);
afterAll(() => nginx?.kill("SIGKILL"));

/** A kept-alive HTTP/1.1 GET; resolves once the whole response (by its Content-Length) has been read. */
async function get(connection: "keep-alive" | "close"): Promise<{ socket: TlsSocket; response: string }> {
  const socket = await TlsSocket.connect(await connectTcp("127.0.0.1", port), { openssl: ossl, ca: id.certPem, servername: SERVER_NAME });
  const w = socket.writable.getWriter();
  await w.write(text(`GET / HTTP/1.1\r\nHost: ${SERVER_NAME}\r\nConnection: ${connection}\r\n\r\n`));
  w.releaseLock();
  const reader = socket.readable.getReader();
  let response = "";
  while (!/\r\n\r\n[\s\S]*hello from nginx\n$/.test(response)) {
    const { value, done } = await reader.read();
    if (done) break;
    response += str(value);
  }
  reader.releaseLock();
  return { socket, response };
}

describe("nginx, HTTP/1.1 over TLS", () => {
  it("kept alive: our bidirectional shutdown is answered by a TCP close: TlsTruncationError, ending truncated", async () => {
    const { socket, response } = await get("keep-alive");
    expect(response).toMatch(/^HTTP\/1\.1 200 OK/);
    const error = await socket.shutdown({ mode: "bidirectional" }).catch((e: Error) => e);
    expect(error).toBeInstanceOf(TlsTruncationError);
    expect(await socket.closed).toMatchObject({ ending: "truncated", state: { sent: true, received: false } });
  });

  it("kept alive, with acceptEof: the same close is the expected answer: one-way, the report shows OpenSSL's unexpected EOF", async () => {
    const { socket } = await get("keep-alive");
    const report = await socket.shutdown({ mode: "bidirectional", acceptEof: true });
    expect(report.ending).toBe("one-way");
    expect(report.steps.map((st) => `${st.call} ${st.ret} ${st.sslError}`)).toEqual(["SSL_shutdown 0 syscall", "SSL_read 0 ssl"]);
    expect(report.steps[1]!.failure?.reasonString).toBe("unexpected eof while reading");
    expect((await socket.closed).ending).toBe("one-way");
  });

  it("Connection: close: nginx closes first with its close_notify; we answer it: clean", async () => {
    const { socket, response } = await get("close");
    expect(response).toMatch(/Connection: close/);
    const report = await socket.shutdown({ mode: "bidirectional" });
    expect(report.ending).toBe("clean");
  });
});

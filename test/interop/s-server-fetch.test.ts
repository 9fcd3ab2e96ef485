// createFetch against `openssl s_server -WWW` (Debian's OpenSSL 3.0), the
// third of issue 13's HTTPS peers: an HTTP/1.0 server that answers each
// request with a file of its working directory and closes the connection
// with close_notify. The body has no length: it ends with the connection,
// so it is complete only after the server's close_notify (ending "clean");
// a second request needs a second connection.
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFetch, tlsInfo, type Fetch } from "../../bindings/src/index.js";
import { tcpConnector } from "../../bindings/src/node.js";
import { SERVER_NAME, identity } from "../helpers/harness.js";
import { freePort, identityFiles, startPeer, type Peer } from "../helpers/peers.js";

const root = resolve(import.meta.dirname, "../..");
const id = identity();
/** s_server -WWW serves paths relative to its working directory (the repository's root here): the files live under it. */
const dir = `test-results/s-server-www-${process.pid}`;
const big = randomBytes(1 << 20);
let server: Peer;
let fetch: Fetch;
let port = 0;
const url = (file: string) => `https://${SERVER_NAME}:${port}/${dir}/${file}`;
const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

beforeAll(async () => {
  mkdirSync(join(root, dir), { recursive: true });
  writeFileSync(join(root, dir, "big.bin"), big);
  writeFileSync(join(root, dir, "hello.txt"), "hello from s_server\n");
  port = await freePort();
  const files = identityFiles(id);
  server = await startPeer("openssl", ["s_server", "-accept", `127.0.0.1:${port}`, "-cert", files.cert, "-key", files.key, "-WWW", "-quiet"]);
  await new Promise((r) => setTimeout(r, 300));
  fetch = createFetch({ connector: (_d, o) => tcpConnector()({ host: "127.0.0.1", port }, o), tls: { ca: id.certPem } });
}, 20_000);
afterAll(async () => {
  await fetch?.close();
  server?.kill("SIGKILL");
  rmSync(join(root, dir), { recursive: true, force: true });
});

describe("createFetch against openssl s_server -WWW", () => {
  it("a 1 MiB file, HTTP/1.0 with no length: complete after the server's close_notify (ending clean), SHA-256 equal", async () => {
    const r = await fetch(url("big.bin"));
    expect(r.status).toBe(200);
    const body = new Uint8Array(await r.arrayBuffer());
    expect(body.length).toBe(big.length);
    expect(sha256(body)).toBe(sha256(big));
    const info = tlsInfo(r)!;
    expect(info.protocol).toBe("TLSv1.3");
    expect(info.connectionReused).toBe(false);
    expect((await info.closed).ending).toBe("clean");
  });

  it("a second request goes on a new connection (the server closed the first); a missing file is s_server's 200 with an error text", async () => {
    const a = await fetch(url("hello.txt"));
    expect(await a.text()).toBe("hello from s_server\n");
    const b = await fetch(url("hello.txt"));
    expect(await b.text()).toBe("hello from s_server\n");
    expect(tlsInfo(b)!.connectionReused).toBe(false);
    // s_server -WWW says 200 and prints OpenSSL's error: what the server sent is what the response says.
    const missing = await fetch(url("nothing-here.txt"));
    expect(missing.status).toBe(200);
    expect(await missing.text()).toMatch(/^Error opening '.*nothing-here\.txt'/);
  });
});

// createFetch against nginx (Debian's 1.22 on OpenSSL 3.0), the HTTPS server
// most sites run (issue 13's peers): TLS 1.2 and 1.3, keep-alive, a gzip
// response nginx sends chunked, a redirect chain, and a 5 MB file checked by
// SHA-256.
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFetch, tlsInfo, type Fetch, type ProtocolVersion } from "../../bindings/src/index.js";
import { tcpConnector } from "../../bindings/src/node.js";
import { SERVER_NAME, identity } from "../helpers/harness.js";
import { freePort, identityFiles, startPeer, type Peer } from "../helpers/peers.js";

const id = identity();
let nginx: Peer;
let port = 0;
const big = randomBytes(5 * 1000 * 1000);
const text = "All work and no play makes a compressible file.\n".repeat(2000);

beforeAll(async () => {
  port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "openssl-wasm-nginx-fetch-"));
  const files = identityFiles(id);
  const www = join(dir, "www");
  mkdirSync(www);
  writeFileSync(join(www, "big.bin"), big);
  writeFileSync(join(www, "text.txt"), text);
  const temp = (name: string) => `${name}_temp_path ${join(dir, name)};`;
  writeFileSync(join(dir, "nginx.conf"), `
pid ${join(dir, "nginx.pid")};
error_log ${join(dir, "error.log")} info;
worker_processes 1;
events { worker_connections 64; }
http {
  access_log off;
  ${["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map(temp).join("\n  ")}
  types { text/plain txt; application/octet-stream bin; }
  keepalive_timeout 60s;
  gzip on;
  gzip_types text/plain;
  gzip_min_length 0;
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_certificate ${files.cert};
    ssl_certificate_key ${files.key};
    root ${www};
    location = /hello { default_type text/plain; return 200 "hello from nginx\\n"; }
    location = /r1 { return 302 /r2; }
    location = /r2 { return 301 /text.txt; }
  }
}
`);
  nginx = await startPeer("nginx", ["-p", dir, "-c", join(dir, "nginx.conf"), "-g", "daemon off; master_process off;"]);
  for (let i = 0; ; i++) {
    const ok = await new Promise<boolean>((r) => net.connect(port, "127.0.0.1").once("connect", function (this: net.Socket) {
      this.destroy();
      r(true);
    }).once("error", () => r(false)));
    if (ok) break;
    if (i > 250) throw new Error("nginx does not listen");
    await new Promise((r) => setTimeout(r, 20));
  }
}, 30_000);
afterAll(() => nginx?.kill("SIGKILL"));

describe.each(["TLSv1.2", "TLSv1.3"] as ProtocolVersion[])("createFetch against nginx, %s", (version) => {
  let fetch: Fetch;
  // The URL names the certificate's host; every connection goes to nginx on loopback.
  const url = (path: string) => `https://${SERVER_NAME}:${port}${path}`;
  beforeAll(() => {
    fetch = createFetch({
      connector: (_destination, o) => tcpConnector()({ host: "127.0.0.1", port }, o),
      tls: { ca: id.certPem, minVersion: version, maxVersion: version },
    });
  });
  afterAll(() => fetch.close());

  it("GETs twice on one kept-alive connection, and says what happened underneath", async () => {
    const a = await fetch(url("/hello"));
    expect(a.status).toBe(200);
    expect(await a.text()).toBe("hello from nginx\n");
    const infoA = tlsInfo(a)!;
    expect(infoA).toMatchObject({ protocol: version, alpnProtocol: "http/1.1", verification: "verified", connectionReused: false });
    const b = await fetch(url("/hello"));
    expect(await b.text()).toBe("hello from nginx\n");
    expect(tlsInfo(b)!.connectionReused).toBe(true);
  });

  it("decodes a gzip response that nginx sends chunked", async () => {
    const r = await fetch(url("/text.txt"), { headers: { "Accept-Encoding": "gzip" } });
    expect(r.status).toBe(200);
    expect(r.headers.get("content-encoding")).toBe("gzip");
    expect(r.headers.get("transfer-encoding")).toBe("chunked");
    expect(await r.text()).toBe(text);
  });

  it("follows a redirect chain (302, then 301)", async () => {
    const r = await fetch(url("/r1"));
    expect(r.status).toBe(200);
    expect(r.redirected).toBe(true);
    expect(r.url).toBe(url("/text.txt"));
    expect((await r.text()).length).toBe(text.length);
  });

  it("downloads a 5 MB file intact (SHA-256)", async () => {
    const r = await fetch(url("/big.bin"));
    expect(r.headers.get("content-length")).toBe(String(big.length));
    const body = new Uint8Array(await r.arrayBuffer());
    expect(createHash("sha256").update(body).digest("hex")).toBe(createHash("sha256").update(big).digest("hex"));
  }, 60_000);

  it("a 404 is a response, not an error", async () => {
    const r = await fetch(url("/missing"));
    expect(r.status).toBe(404);
    expect(r.ok).toBe(false);
    await r.text();
  });
});

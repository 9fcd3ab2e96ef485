// createFetch in Deno and Bun over their native TCP (denoConnector,
// bunConnector) against Node's https server: a chunked body, a gzip body on
// the kept-alive connection.
import { execFile } from "node:child_process";
import { once } from "node:events";
import { writeFileSync, mkdtempSync, rmSync } from "node:fs";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { selfSigned } from "../helpers/pki.js";

const run = promisify(execFile);
const root = resolve(import.meta.dirname, "../..");
const id = selfSigned("localhost");
const dir = mkdtempSync(join(tmpdir(), "fetch-runtimes-"));
const caFile = join(dir, "ca.pem");
writeFileSync(caFile, id.certPem);
let server: https.Server;
let base: string;

beforeAll(async () => {
  server = https.createServer({ cert: id.certPem, key: id.keyPem }, (req, res) => {
    if (req.url === "/gzip") {
      res.setHeader("content-encoding", "gzip");
      res.end(gzipSync(Buffer.from("z".repeat(5000))));
    } else {
      res.write("one ");
      setTimeout(() => res.end("two"), 10);
    }
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

const RUNTIMES: [string, string[]][] = [
  ["deno", [join(root, "node_modules/.bin/deno"), "run", "--allow-net", "--allow-read", "--allow-env"]],
  ["bun", [join(root, "node_modules/.bin/bun"), "run"]],
];

describe("createFetch in other runtimes", () => {
  for (const [name, [cmd, ...args]] of RUNTIMES) {
    it(`${name}: over its native TCP, chunked then gzip on the kept-alive connection`, async () => {
      const { stdout } = await run(cmd!, [...args, join(root, "test/runtimes/fetch-entry.mjs")], {
        cwd: root, timeout: 60_000,
        env: { ...process.env, FETCH_BASE: base, FETCH_CA: caFile, FETCH_HOST: "localhost", NO_COLOR: "1" },
      });
      expect(JSON.parse(stdout.trim().split("\n").pop()!)).toEqual({
        runtime: name, textA: "one two", gzipLength: 5000, status: 200, protocol: "TLSv1.3", alpn: "http/1.1", reused: true,
      });
    });
  }
});

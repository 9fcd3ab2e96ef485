// A minimal static file server over a folder (the repository), for the
// browser tests and bench/browser.mjs: the compiled package (bindings/dist,
// wasm/dist) and test pages, with the MIME types browsers insist on
// (application/wasm for streaming compilation, text/javascript for modules).
// Plain JavaScript (with static-server.d.mts), so vitest and bench/ share it.
import { createReadStream, statSync } from "node:fs";
import { createServer } from "node:http";
import { extname, join, normalize, resolve } from "node:path";

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".wasm": "application/wasm",
  ".der": "application/octet-stream",
  ".map": "application/json",
  ".css": "text/css; charset=utf-8",
  ".pem": "text/plain; charset=utf-8",
};

/** @returns {Promise<{ url: string, server: import("node:http").Server }>} */
export async function serveDirectory(root) {
  const base = resolve(root);
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname));
    const file = join(base, path);
    if (!file.startsWith(base)) {
      res.writeHead(403).end();
      return;
    }
    try {
      if (!statSync(file).isFile()) throw new Error("not a file");
    } catch {
      res.writeHead(404).end("not found");
      return;
    }
    res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream", "cache-control": "no-store" });
    createReadStream(file).pipe(res);
  });
  server.listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  return { url: `http://127.0.0.1:${server.address().port}`, server };
}

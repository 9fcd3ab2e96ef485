#!/usr/bin/env node
// `make demo`: everything the web demo needs, on loopback, from one command.
//   - a demo PKI (web-demo/pki.mjs);
//   - real TLS servers: an openssl-wasm server (this package, in Node: TLS 1.3
//     with X25519MLKEM768), Node's tls echo server, `openssl s_server -www`
//     (RSA), and two that fail verification (expired, wrong host name);
//   - an HTTPS server (Node's https: /, /json, /chunked, /gzip, /redirect,
//     /echo) for the page's fetch panel, and a `ws` echo server over https
//     (wss://) for its TlsWebSocket panel;
//   - the WebSocket tunnel, allowing only those servers and only the page's origin;
//   - the page: Vite's dev server, or (--static) a production build served here.
// Ctrl-C stops every process it started.
//
//   node web-demo/serve.mjs [--static] [--port 5173] [--host 127.0.0.1]
import { spawn } from "node:child_process";
import { createReadStream, rmSync, statSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import * as net from "node:net";
import * as tls from "node:tls";
import { dirname, extname, join, normalize, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { WebSocketServer } from "ws";
import { makeDemoPki } from "./pki.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..");
const lib = await import(join(root, "bindings/dist/index.js"));
const { createTunnel, fromNodeSocket } = await import(join(root, "bindings/dist/node.js"));

async function listen(server, host = "127.0.0.1") {
  server.listen(0, host);
  await new Promise((r, j) => { server.once("listening", r); server.once("error", j); });
  return server.address().port;
}

/** Echo lines back; "/close": answer "bye" and close cleanly first; "/kill": drop the TCP connection. */
function echoLines(onLine) {
  let buffer = "";
  return (chunk) => {
    buffer += chunk;
    let nl;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl + 1);
      buffer = buffer.slice(nl + 1);
      onLine(line);
    }
  };
}

async function nodeEchoServer(cert) {
  const server = tls.createServer({ cert: cert.certPem, key: cert.keyPem, ALPNProtocols: ["http/1.1", "echo"] }, (s) => {
    s.setEncoding("utf8");
    s.on("error", () => {});
    s.on("data", echoLines((line) => {
      if (line.trim() === "/close") s.end("bye\n");
      else if (line.trim() === "/kill") s.destroy();
      else s.write(line);
    }));
  });
  return { server, port: await listen(server) };
}

async function wasmEchoServer(cert) {
  const ossl = await lib.OpenSSL.load();
  const context = ossl.createContext({ role: "server", cert: cert.certPem, key: cert.keyPem, alpnProtocols: ["http/1.1", "echo"] });
  const server = net.createServer({ allowHalfOpen: true }, async (raw) => {
    raw.on("error", () => {});
    try {
      const socket = await lib.TlsSocket.accept(fromNodeSocket(raw), { context });
      const writer = socket.writable.getWriter();
      const decoder = new TextDecoder();
      let closing = false;
      const handle = echoLines((line) => {
        if (closing) return;
        if (line.trim() === "/close") {
          closing = true;
          writer.write(new TextEncoder().encode("bye\n")).then(() => socket.shutdown({ mode: "bidirectional" })).catch(() => {});
        } else if (line.trim() === "/kill") {
          closing = true;
          raw.destroy();
        } else {
          writer.write(new TextEncoder().encode(line)).catch(() => {});
        }
      });
      for await (const chunk of socket.readable) handle(decoder.decode(chunk, { stream: true }));
      if (!closing) await socket.shutdown({ mode: "unidirectional" }).catch(() => {});
    } catch {
      raw.destroy();
    }
  });
  return { server, port: await listen(server) };
}

/** A port near `from` that none of the demo's servers listens on (the tunnel refuses it). */
const unusedPort = (from, used) => { let p = from; while (used.includes(p)) p++; return p; };

const page = (title, body) => `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>${title}</title></head>\n<body><h1>${title}</h1>\n${body}\n</body></html>\n`;

/**
 * The fetch panel's HTTPS server: Node's https (native OpenSSL), keep-alive,
 * and routes that show what createFetch does with each kind of body. Every
 * response says which request this is on its TCP connection, so the page can
 * show keep-alive from both ends.
 */
async function httpsServer(cert) {
  const perConnection = new WeakMap();
  const server = createHttpsServer({ cert: cert.certPem, key: cert.keyPem, ALPNProtocols: ["http/1.1"] }, (req, res) => {
    const n = (perConnection.get(req.socket) ?? 0) + 1;
    perConnection.set(req.socket, n);
    res.setHeader("x-request-on-connection", String(n));
    const path = new URL(req.url, "https://x").pathname;
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      if (path === "/") {
        res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
        res.end(page("openssl-wasm demo HTTPS server", `<p>Node's https server, request ${n} on this connection (${req.socket.getProtocol()}, ${req.socket.getCipher().name}).</p>\n<p>Routes: /json, /chunked, /gzip, /redirect, /echo</p>`));
      } else if (path === "/json") {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ server: "node:https", protocol: req.socket.getProtocol(), cipher: req.socket.getCipher().name, requestOnConnection: n, time: new Date().toISOString() }, null, 2));
      } else if (path === "/chunked") {
        // no Content-Length: Node sends Transfer-Encoding: chunked, one chunk a line
        res.writeHead(200, { "content-type": "text/plain; charset=utf-8" });
        let i = 0;
        const next = () => {
          if (++i > 5) return res.end();
          res.write(`chunk ${i} of 5\n`);
          setTimeout(next, 20);
        };
        next();
      } else if (path === "/gzip") {
        const text = Array.from({ length: 200 }, (_, i) => `line ${i + 1}: this body was gzipped by the server and decoded by createFetch\n`).join("");
        const gz = gzipSync(text);
        res.writeHead(200, { "content-type": "text/plain; charset=utf-8", "content-encoding": "gzip", "x-uncompressed-length": String(text.length), "x-compressed-length": String(gz.length) });
        res.end(gz);
      } else if (path === "/redirect") {
        res.writeHead(302, { location: "/" });
        res.end();
      } else if (path === "/echo") {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body: body.toString("utf8") }, null, 2));
      } else {
        res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
        res.end(`no route ${path}\n`);
      }
    });
  });
  // longer than createFetch's 30 s idle timeout: the page's pool closes first (with close_notify)
  server.keepAliveTimeout = 60_000;
  return { server, port: await listen(server) };
}

/** The TlsWebSocket panel's server: `ws` over https, echoing every message; subprotocol "echo" when offered. */
async function wssEchoServer(cert) {
  const server = createHttpsServer({ cert: cert.certPem, key: cert.keyPem });
  const wss = new WebSocketServer({ server, handleProtocols: (protocols) => (protocols.has("echo") ? "echo" : false) });
  wss.on("connection", (ws) => {
    ws.on("error", () => {});
    ws.on("message", (data, isBinary) => {
      if (!isBinary && String(data) === "/close") ws.close(1000, "the server said goodbye");
      else ws.send(data, { binary: isBinary });
    });
  });
  const port = await listen(server);
  return { server, port, close: () => new Promise((r) => { for (const c of wss.clients) c.terminate(); wss.close(() => server.close(r)); server.closeAllConnections(); }) };
}

export async function startDemo({ staticBuild = false, port = 5173, host = "127.0.0.1", log = console.log } = {}) {
  const pki = makeDemoPki();
  const closers = [];
  const children = [];
  const stop = async () => {
    for (const c of children) c.kill("SIGTERM");
    for (const close of closers.reverse()) await close().catch?.(() => {});
    rmSync(pki.dir, { recursive: true, force: true });
  };
  try {
    const wasm = await wasmEchoServer(pki.certs.ecdsa);
    const node = await nodeEchoServer(pki.certs.ecdsa);
    const expired = await nodeEchoServer(pki.certs.expired);
    const wrong = await nodeEchoServer(pki.certs.wronghost);
    for (const s of [wasm, node, expired, wrong]) closers.push(() => new Promise((r) => s.server.close(r)));
    const web = await httpsServer(pki.certs.ecdsa);
    closers.push(() => new Promise((r) => { web.server.close(r); web.server.closeAllConnections(); }));
    const wss = await wssEchoServer(pki.certs.ecdsa);
    closers.push(wss.close);

    const probe = net.createServer();
    const wwwPort = await listen(probe);
    await new Promise((r) => probe.close(r));
    const www = spawn("openssl", ["s_server", "-accept", `127.0.0.1:${wwwPort}`, "-www", "-cert", pki.certs.rsa.cert,
      "-key", pki.certs.rsa.key, "-alpn", "http/1.1"], { stdio: ["pipe", "pipe", "pipe"] });
    children.push(www);
    await new Promise((resolveReady, reject) => {
      let out = "";
      www.stdout.on("data", (d) => { out += d; if (out.includes("ACCEPT")) resolveReady(); });
      www.on("exit", (code) => reject(new Error(`openssl s_server exited (${code})`)));
    });

    const servers = [
      { id: "wasm", label: "openssl-wasm server (this package in Node): TLS 1.3 with X25519MLKEM768, ECDSA", port: wasm.port, kind: "echo" },
      { id: "node", label: "Node tls echo server (native OpenSSL 3.0), ECDSA", port: node.port, kind: "echo" },
      { id: "www", label: "openssl s_server -www (Debian's OpenSSL 3.0), RSA-2048", port: wwwPort, kind: "www" },
      { id: "expired", label: "expired certificate (verification fails)", port: expired.port, kind: "echo" },
      { id: "wronghost", label: "certificate for wrong.example (host name check fails)", port: wrong.port, kind: "echo" },
      { id: "refused", label: "a port the tunnel does not allow (refused)", port: unusedPort(wwwPort + 1, [wasm, node, expired, wrong, web, wss].map((s) => s.port)), kind: "echo" },
    ];
    // For the fetch and TlsWebSocket panels: URLs with the certificate's host name; the page's
    // connector sends that name's connections to 127.0.0.1 (the only address the tunnel allows).
    const services = [
      { id: "https", label: "HTTPS server (Node https): /, /json, /chunked, /gzip, /redirect, /echo", port: web.port, url: `https://localhost:${web.port}/` },
      { id: "wss", label: "WebSocket echo server over https (ws package): wss://", port: wss.port, url: `wss://localhost:${wss.port}/` },
    ];
    const allowed = [...servers.filter((s) => s.id !== "refused"), ...services];

    // The tunnel checks the page's origin, known once the page's server listens.
    let tunnel;

    const config = () => ({
      tunnel: tunnel.url, servers, caPem: pki.caPem, servername: "localhost",
      httpsUrl: services[0].url, wssUrl: services[1].url,
    });
    /** /api/config and POST /api/kill, for both page servers. */
    const api = (req, res, next) => {
      if (req.url === "/api/config") {
        res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
        res.end(JSON.stringify(config()));
      } else if (req.url === "/api/kill" && req.method === "POST") {
        tunnel.killAll();
        log("tunnel: the page asked to kill every TCP connection");
        res.writeHead(204).end();
      } else next();
    };

    let url;
    if (staticBuild) {
      const { build } = await import("vite");
      await build(viteConfig({ logLevel: "warn" }));
      const dist = join(here, "dist");
      const types = { ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css", ".wasm": "application/wasm", ".svg": "image/svg+xml" };
      const server = createHttpServer((req, res) => api(req, res, () => {
        const path = normalize(decodeURIComponent(new URL(req.url, "http://x").pathname));
        let file = join(dist, path === "/" ? "index.html" : path);
        try { if (!file.startsWith(dist) || !statSync(file).isFile()) throw 0; } catch { res.writeHead(404).end("not found"); return; }
        res.writeHead(200, { "content-type": types[extname(file)] ?? "application/octet-stream" });
        createReadStream(file).pipe(res);
      }));
      server.listen(port, host);
      await new Promise((r, j) => { server.once("listening", r); server.once("error", j); });
      closers.push(() => new Promise((r) => server.close(r)));
      url = `http://${host}:${server.address().port}`;
    } else {
      const { createServer } = await import("vite");
      const vite = await createServer(viteConfig({
        logLevel: "warn",
        server: { host, port, strictPort: false, fs: { allow: [root] } },
        plugins: [{ name: "demo-api", configureServer: (s) => { s.middlewares.use(api); } }],
      }));
      await vite.listen();
      closers.push(() => vite.close());
      url = vite.resolvedUrls.local[0].replace(/\/$/, "");
    }
    const u = new URL(url);
    tunnel = await createTunnel({
      allow: allowed.map((s) => `127.0.0.1:${s.port}`),
      origins: [`${u.protocol}//localhost:${u.port}`, `${u.protocol}//127.0.0.1:${u.port}`],
      host: "127.0.0.1",
      log: (line) => log(`tunnel: ${line}`),
    });
    closers.push(() => tunnel.close());
    return { url, servers, services, tunnel, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

function viteConfig(extra) {
  return {
    root: here,
    configFile: false,
    resolve: { alias: { "openssl-tls-wasm": join(root, "bindings/dist/index.js") } },
    worker: { format: "es" },
    build: { outDir: join(here, "dist"), emptyOutDir: true, target: "es2022" },
    ...extra,
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const opt = (name, fallback) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : fallback; };
  const demo = await startDemo({ staticBuild: args.includes("--static"), port: Number(opt("--port", "5173")), host: opt("--host", "127.0.0.1") });
  console.log(`\nopenssl-wasm demo: ${demo.url}/\n`);
  for (const s of demo.servers.filter((s) => s.id !== "refused")) console.log(`  127.0.0.1:${s.port}  ${s.label}`);
  for (const s of demo.services) console.log(`  127.0.0.1:${s.port}  ${s.label}\n                   ${s.url} in the page (its connector maps localhost to 127.0.0.1)`);
  const refused = demo.servers.find((s) => s.id === "refused");
  console.log(`  127.0.0.1:${refused.port}  ${refused.label}`);
  console.log(`\n  tunnel ${demo.tunnel.url} (only the servers above but the last, only from the page's origin)\n  Ctrl-C stops everything.\n`);
  let stopping = false;
  for (const sig of ["SIGINT", "SIGTERM"]) {
    process.on(sig, async () => {
      if (stopping) return;
      stopping = true;
      await demo.stop();
      process.exit(0);
    });
  }
}

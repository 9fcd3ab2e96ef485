// Every code block of README.md runs. TypeScript blocks are compiled as
// they stand (Vite, with `using` lowered) and run in Node against local
// servers, importing the package by its published name; the only changes
// are the destination (example.org:443 becomes a local server with a
// certificate for example.org from a test CA, reached through a local
// tunnel or Wisp server where the block uses one; the WebSocket block's
// wss://example.org is a `ws` echo server over https with that certificate,
// the tunnel connector pointed at it) and a prelude that defines the block's
// free variables (`caPem`; the engine blocks' `send`, `received`, `bytes`,
// `conn`). Where a block prints, the output must match the comment after
// its console.log ("..." matches anything). Shell blocks: each command is
// checked without running a build: `make` targets exist, the package name
// is ours, and the tunnel command accepts the flags shown.
import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import * as http from "node:http";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as https from "node:https";
import * as tls from "node:tls";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { logging, server as wisp } from "@mercuryworkshop/wisp-js/server";
import { WebSocketServer } from "ws";
import { createTunnel, type Tunnel } from "../../bindings/src/tunnel/tunnel.js";
import { selfSigned, type Identity } from "../helpers/pki.js";

const root = resolve(import.meta.dirname, "../..");
const readme = readFileSync(join(root, "README.md"), "utf8");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));

interface Block { lang: string; code: string; line: number }
const blocks: Block[] = [...readme.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map((m) => ({
  lang: m[1]!, code: m[2]!, line: readme.slice(0, m.index).split("\n").length,
}));
const tsBlocks = blocks.filter((b) => b.lang === "ts" || b.lang === "js");
const shBlocks = blocks.filter((b) => b.lang === "sh");

/** Scratch space inside the package, so "openssl-tls-wasm" resolves to it (self-reference). */
const scratch = join(root, "test-results/readme");
/** A self-signed certificate for example.org: its own CA. */
let pki: { caPem: string; leafPem: string; leafKeyPem: string };
let server: tls.Server;
let port: number;
let tunnel: Tunnel;
/** A Wisp server (wisp-js) for the Wisp block, and its URL. */
let wispServer: http.Server;
let wispUrl: string;
/** A WebSocket echo server (the `ws` package) over https, for example.org; it picks the first subprotocol offered. */
let wssServer: https.Server;
let wssPort: number;

beforeAll(async () => {
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true });
  const id: Identity = selfSigned("example.org");
  pki = { caPem: id.certPem, leafPem: id.certPem, leafKeyPem: id.keyPem };
  // Echoes lines; "GET ..." gets an HTTP/1.0 answer and the server closes first (close_notify).
  server = tls.createServer({ cert: pki.leafPem, key: pki.leafKeyPem }, (s) => {
    s.on("error", () => {});
    s.on("data", (d: Buffer) => {
      const text = d.toString();
      if (text.startsWith("GET ")) s.end("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
      else s.write(d);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as { port: number }).port;
  logging.set_level(logging.NONE);
  wisp.options.allow_loopback_ips = true;
  wispServer = http.createServer((_, res) => res.end());
  wispServer.on("upgrade", (req, socket, head) => wisp.routeRequest(req, socket, head));
  wispServer.listen(0, "127.0.0.1");
  await once(wispServer, "listening");
  wispUrl = `ws://127.0.0.1:${(wispServer.address() as { port: number }).port}/`;
  wssServer = https.createServer({ cert: pki.leafPem, key: pki.leafKeyPem });
  new WebSocketServer({ server: wssServer, handleProtocols: (offered) => [...offered][0] ?? false }).on("connection", (ws) => {
    ws.on("error", () => {});
    ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  await new Promise<void>((r) => wssServer.listen(0, "127.0.0.1", r));
  wssPort = (wssServer.address() as { port: number }).port;
  tunnel = await createTunnel({ port: 0, allow: [`127.0.0.1:${port}`, `127.0.0.1:${wssPort}`] });
}, 60_000);
afterAll(async () => {
  await tunnel?.close();
  wispServer?.closeAllConnections();
  wispServer?.close();
  server?.close();
  wssServer?.closeAllConnections();
  wssServer?.close();
  rmSync(scratch, { recursive: true, force: true });
});

/** Free variables of the engine blocks: a client connection established with a server in the same process. */
const ENGINE_PRELUDE = `
import { OpenSSL as __O } from "openssl-tls-wasm";
const __ossl = await __O.load();
const __sctx = __ossl.createContext({ role: "server", cert: globalThis.__pki.leafPem, key: globalThis.__pki.leafKeyPem });
const __cctx = __ossl.createContext({ role: "client", ca: globalThis.__pki.caPem });
const conn = __cctx.createConnection({ servername: "example.org" });
{
  const srv = __sctx.createConnection();
  for (let i = 0; i < 10 && !(conn.handshakeDone && srv.handshakeDone); i++) {
    conn.handshake(); srv.feed(conn.drain()); srv.handshake(); conn.feed(srv.drain());
  }
  if (!conn.handshakeDone) throw new Error("prelude: no handshake");
}
`;

function prelude(code: string): string {
  const head = `const caPem = globalThis.__pki.caPem;
const send = (_bytes) => {};
const received = () => new Uint8Array(0);
const bytes = new TextEncoder().encode("hello");
`;
  // The second engine block continues the first: it gets an established `conn`.
  return code.includes("createConnection") || !/\bconn\./.test(code) ? head : head + ENGINE_PRELUDE;
}

/** The block as run: the destination swapped for local servers. */
function localize(code: string): string {
  return code
    .replaceAll("ws://127.0.0.1:8080/example.org:443", `${tunnel.url}/127.0.0.1:${port}`)
    .replaceAll('connectTcp("example.org", 443)', `connectTcp("127.0.0.1", ${port})`)
    .replaceAll('"ws://127.0.0.1:5001/"', JSON.stringify(wispUrl))
    .replaceAll('{ host: "example.org", port: 443 }', `{ host: "127.0.0.1", port: ${port} }`)
    // wss://example.org stays the URL (Host, SNI, the certificate's name); the tunnel takes it to the local server.
    .replaceAll('tunnelConnector("ws://127.0.0.1:8080")',
      `((c) => (_d, o) => c({ host: "127.0.0.1", port: ${wssPort} }, o))(tunnelConnector(${JSON.stringify(tunnel.url)}))`)
    // fetch's connector: every destination is the local server (the URL, hence SNI and the name checked, stay example.org)
    .replaceAll("connector: tcpConnector()", `connector: (_d, o) => tcpConnector()({ host: "127.0.0.1", port: ${port} }, o)`);
}

/** Imports first (ES modules need them at the top), then the prelude, then the rest. */
function assemble(code: string): string {
  const lines = localize(code).split("\n");
  const imports = lines.filter((l) => /^import\s/.test(l));
  const rest = lines.filter((l) => !/^import\s/.test(l));
  return [...imports, prelude(code), ...rest].join("\n");
}

/** What each console.log's trailing comment says it prints. */
function expectedOutput(code: string): RegExp[] {
  return code.split("\n").filter((l) => /^\s*console\.log\(.*\/\/ /.test(l)).map((l) => {
    const said = l.slice(l.lastIndexOf("// ") + 3).trim();
    return new RegExp(`^${said.split("...").map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`);
  });
}

async function compile(name: string, source: string): Promise<string> {
  const entry = join(scratch, `${name}.ts`);
  writeFileSync(entry, source);
  const { build } = await import("vite");
  const out = await build({
    configFile: false, logLevel: "silent", root: scratch,
    build: {
      write: false, target: "es2022", minify: false,
      lib: { entry, formats: ["es"], fileName: name },
      rollupOptions: { external: (id: string) => id.startsWith("openssl-tls-wasm") || id.startsWith("node:") },
    },
  }) as { output: { code?: string }[] }[];
  const file = join(scratch, `${name}.mjs`);
  writeFileSync(file, out[0]!.output[0]!.code!);
  return file;
}

async function runModule(file: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ["--input-type=module", "-e",
    `globalThis.__pki = ${JSON.stringify({ caPem: pki.caPem, leafPem: pki.leafPem, leafKeyPem: pki.leafKeyPem })};
     await import(${JSON.stringify(file)});`], { cwd: scratch });
  let stdout = "", stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  const code = await new Promise<number>((r) => child.on("close", (c) => r(c ?? -1)));
  clearTimeout(timer);
  return { code, stdout, stderr };
}

describe("README.md", () => {
  it("has TypeScript and shell blocks to check", () => {
    expect(tsBlocks.length).toBeGreaterThanOrEqual(5);
    expect(shBlocks.length).toBeGreaterThanOrEqual(3);
  });

  it.each(tsBlocks.map((b, i) => [b.line, i, b] as const))("the TypeScript block at line %i runs and prints what its comments say", async (_line, i, block) => {
    const file = await compile(`block${i}`, assemble(block.code));
    const r = await runModule(file);
    expect(r.stderr, `block at line ${block.line}`).toBe("");
    expect(r.code).toBe(0);
    const printed = r.stdout.trim() === "" ? [] : r.stdout.trim().split("\n");
    const expected = expectedOutput(block.code);
    expect(printed).toHaveLength(expected.length);
    expected.forEach((re, k) => expect(printed[k]).toMatch(re));
  }, 60_000);

  it("every shell command is one we have: make targets, our package name, the tunnel's flags", async () => {
    const makefile = readFileSync(join(root, "Makefile"), "utf8");
    const targets = new Set([...makefile.matchAll(/^([\w-]+):/gm)].map((m) => m[1]));
    const commands = shBlocks.flatMap((b) => b.code.replace(/\\\n/g, " ").split("\n")).map((l) => l.replace(/\s+#.*$/, "").trim()).filter(Boolean);
    expect(commands.length).toBeGreaterThan(3);
    for (const command of commands) {
      const words = command.split(/\s+/).filter((w) => !/^[A-Z_]+=/.test(w)); // without VAR=value prefixes
      if (words[0] === "make") {
        for (const t of words.slice(1)) expect(targets.has(t), `make ${t}`).toBe(true);
      } else if (words[0] === "npm" && words[1] === "install") {
        expect(words[2]).toBe(pkg.name);
      } else if (words[0] === "npx" && words[1] === Object.keys(pkg.bin)[0]) {
        // The flags as shown (optional [...] parts included, the shell's single quotes removed), listening on a free port, then stopped.
        const args = command.replace(/[[\]']/g, "").replace(/\.\.\./g, "").split(/\s+/).slice(2)
          .map((a, k, all) => (all[k - 1] === "--listen" ? "127.0.0.1:0" : a)).filter(Boolean);
        const cli = join(root, pkg.bin[words[1]!]);
        const child = spawn(process.execPath, [cli, ...args]);
        let out = "";
        child.stdout.on("data", (d) => (out += d));
        child.stderr.on("data", (d) => (out += d));
        for (let k = 0; k < 100 && !out.includes("listening"); k++) await new Promise((r) => setTimeout(r, 50));
        child.kill("SIGINT");
        expect(out, command).toMatch(/listening/);
        expect(out, command).toMatch(/ws:\/\/127\.0\.0\.1:\d+/);
      } else if (words[0] === "node" && words[1]?.endsWith(".mjs")) {
        // A repository script: it exists and knows every flag shown.
        const source = readFileSync(join(root, words[1]), "utf8");
        for (const flag of words.slice(2).filter((w) => w.startsWith("--"))) expect(source, `${words[1]} ${flag}`).toContain(flag);
      } else {
        throw new Error(`README shell command not covered by this test: ${command}`);
      }
    }
  }, 60_000);
});

void promisify(execFile);

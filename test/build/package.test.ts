// The package as users get it: the exports map (types first, one universal
// ESM entry for every runtime condition, Node's own entry with `ws`, the
// Node-only subpath, the wasm subpath), every target built, the
// self-reference resolving, the universal types without Node, the CLI.
import { execFile, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { WebSocketServer } from "ws";

const root = resolve(import.meta.dirname, "../..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));

describe("package.json", () => {
  it("maps '.' to the universal entry for every runtime, Node to its own, types first and default last", () => {
    const main = pkg.exports["."];
    expect(Object.keys(main)[0]).toBe("types");
    expect(Object.keys(main).at(-1)).toBe("default");
    for (const condition of ["workerd", "deno", "bun", "browser", "import", "default"]) {
      expect(main[condition], condition).toBe("./bindings/dist/index.js");
    }
    // Deno and Bun also match "node": their own conditions must come first.
    const order = Object.keys(main);
    for (const runtime of ["workerd", "deno", "bun", "browser"]) expect(order.indexOf(runtime)).toBeLessThan(order.indexOf("node"));
    expect(main.node).toBe("./bindings/dist/index.node.js");
    expect(pkg.type).toBe("module");
    expect(pkg.sideEffects).toBe(false);
  });

  it("points every export, type and bin at a file the build made", () => {
    const targets = [pkg.types, pkg.bin["openssl-tls-wasm-tunnel"], ...Object.values(pkg.exports).flatMap((v) =>
      typeof v === "string" ? [v] : Object.values(v as Record<string, string>))];
    for (const t of targets) expect(existsSync(join(root, t)), t).toBe(true);
    expect(Object.keys(pkg.exports["./node"])).toEqual(["types", "node"]); // Node only
  });

  it("the published .d.ts carry no @internal member (stripInternal) and no runtime helpers", () => {
    const dts = (f: string) => readFileSync(join(root, "bindings/dist", f), "utf8");
    const context = dts("engine/context.d.ts"), connection = dts("engine/connection.d.ts"), session = dts("engine/session.d.ts");
    for (const name of ["_adopt", "_release", "_selectAlpn", "_selectSni", "_onStatus", "get ptr"]) expect(context, name).not.toContain(name);
    for (const name of ["get ptr", "Runtime"]) {
      expect(connection, name).not.toContain(name);
      expect(session, name).not.toContain(name);
    }
    expect(dts("engine/openssl.d.ts")).not.toMatch(/malloc\(|drainErrors|withCString|Runtime/);
    expect(dts("index.d.ts")).not.toMatch(/engine\/runtime/);
  });

  it("the universal entry's sources type-check with no Node types (tsconfig.universal.json)", async () => {
    const r = await promisify(execFile)(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.universal.json"], { cwd: root })
      .catch((e: { code: number; stdout: string }) => e);
    expect((r as { stdout: string }).stdout).toBe("");
    expect((r as { code?: number }).code ?? 0).toBe(0);
  });

  it("a consumer without Node types and with skipLibCheck off type-checks against the published .d.ts", async () => {
    const dir = mkdtempSync(join(tmpdir(), "openssl-tls-wasm-types-"));
    try {
      mkdirSync(join(dir, "node_modules"));
      symlinkSync(root, join(dir, "node_modules/openssl-tls-wasm"));
      writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({
        compilerOptions: {
          target: "es2022", module: "esnext", moduleResolution: "bundler", lib: ["es2022", "dom", "dom.iterable", "esnext.disposable"],
          types: [], strict: true, skipLibCheck: false, noEmit: true,
        },
        files: ["main.ts"],
      }));
      writeFileSync(join(dir, "main.ts"), [
        'import { OpenSSL, TlsSocket, connectWebSocket, type TlsSocketOptions } from "openssl-tls-wasm";',
        "const options: TlsSocketOptions = { servername: \"example.org\" };",
        "export async function main(): Promise<string> {",
        "  const ossl = await OpenSSL.load();",
        "  const tls = await TlsSocket.connect(await connectWebSocket(\"ws://127.0.0.1:1/x:443\"), { ...options, openssl: ossl });",
        "  return tls.info.protocol;",
        "}",
      ].join("\n"));
      const r = await promisify(execFile)(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", dir])
        .catch((e: { code: number; stdout: string }) => e);
      expect((r as { stdout: string }).stdout).toBe("");
      expect((r as { code?: number }).code ?? 0).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("in Node 20 (no global WebSocket), connectWebSocket(url) opens with the `ws` package, no options", async () => {
    const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    await new Promise((r) => server.once("listening", r));
    const opened = new Promise((r) => server.once("connection", r));
    const url = `ws://127.0.0.1:${(server.address() as { port: number }).port}/`;
    try {
      const { stdout } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e",
        `const m = await import('openssl-tls-wasm'); console.log(typeof globalThis.WebSocket);
         const t = await m.connectWebSocket(${JSON.stringify(url)}); console.log(t.readable instanceof ReadableStream);
         await t.writable.close();`], { cwd: root });
      expect(stdout.trim().split("\n")).toEqual(["undefined", "true"]);
      await opened;
    } finally {
      server.close();
    }
  });

  it("resolves 'openssl-tls-wasm' (self-reference) to a working module", async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e",
      "const m = await import('openssl-tls-wasm'); const o = await m.OpenSSL.load(); console.log(o.version)"], { cwd: root });
    expect(stdout).toMatch(/^OpenSSL 3\.5\.\d+ /);
  });
});

describe("openssl-tls-wasm-tunnel", () => {
  const cli = join(root, pkg.bin["openssl-tls-wasm-tunnel"]);

  it("refuses to start without an --allow (it is never an open proxy)", async () => {
    const r = await promisify(execFile)(process.execPath, [cli], { cwd: root }).catch((e: { code: number; stderr: string }) => e);
    expect((r as { code: number }).code).toBe(2);
    expect((r as { stderr: string }).stderr).toMatch(/at least one --allow is required/);
  });

  it("--help: the usage on stdout, nothing on stderr, exit 0", async () => {
    const r = await promisify(execFile)(process.execPath, [cli, "--help"], { cwd: root });
    expect(r.stdout).toMatch(/^usage: openssl-tls-wasm-tunnel --allow HOST:PORT\|HOST:\* /);
    expect(r.stdout).toMatch(/^  --max-connections N +live tunnels in total \(default 64\)$/m);
    expect(r.stderr).toBe("");
  });

  it("listens and says what it allows", async () => {
    const proc = spawn(process.execPath, [cli, "--listen", "127.0.0.1:0", "--allow", "127.0.0.1:4433"]);
    let out = "";
    proc.stdout.on("data", (d) => (out += d));
    for (let i = 0; i < 100 && !out.includes("listening"); i++) await new Promise((r) => setTimeout(r, 50));
    proc.kill("SIGTERM");
    expect(out).toMatch(/openssl-tls-wasm-tunnel listening on ws:\/\/127\.0\.0\.1:\d+\/<host>:<port>; allowed: 127\.0\.0\.1:4433/);
  });
});

// The package as users get it: the exports map (types first, one universal
// ESM entry for every runtime condition, the Node-only tunnel, the wasm
// subpath), every target built, the self-reference resolving, the CLI.
import { execFile, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const root = resolve(import.meta.dirname, "../..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));

describe("package.json", () => {
  it("maps every runtime condition of '.' to the built entry, with types first", () => {
    const main = pkg.exports["."];
    expect(Object.keys(main)[0]).toBe("types");
    for (const condition of ["workerd", "deno", "bun", "browser", "import"]) {
      expect(main[condition], condition).toBe("./bindings/dist/index.js");
    }
    expect(pkg.type).toBe("module");
    expect(pkg.sideEffects).toBe(false);
  });

  it("points every export, type and bin at a file the build made", () => {
    const targets = [pkg.types, pkg.bin["openssl-tls-wasm-tunnel"], ...Object.values(pkg.exports).flatMap((v) =>
      typeof v === "string" ? [v] : Object.values(v as Record<string, string>))];
    for (const t of targets) expect(existsSync(join(root, t)), t).toBe(true);
    expect(Object.keys(pkg.exports["./tunnel"])).toEqual(["types", "node"]); // Node only
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

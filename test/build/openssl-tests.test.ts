// OpenSSL's own tests in wasm (issue 9), the smoke subset of `make
// test-openssl`: tls13secretstest, recordlentest, servername_test, two
// ssl_test recipes and the AES-GCM and ChaCha20-Poly1305 evp_test files,
// built with the product's Configure flags and run under Node by
// wasm/openssl-tests/run.mjs. Any failure not explained in
// wasm/openssl-tests/expected-failures.txt fails `make test`.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const root = resolve(import.meta.dirname, "../..");
const runner = join(root, "wasm/openssl-tests/run.mjs");
const scratch = mkdtempSync(join(tmpdir(), "openssl-tests-smoke-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const lines = (text: string) => text.split("\n").map((l) => l.replace(/#.*/, "").trim()).filter(Boolean);

interface Report {
  totals: { runs: number; pass: number; skip: number; fail: number; known: number };
  programs: { program: string; runs: number; pass: number; fail: number; stanzas: { ran: number } | null }[];
  unexpected: { id: string }[];
  stale: { id: string }[];
  known: { id: string }[];
}

function run(...args: string[]) {
  const json = join(scratch, `report-${Math.random().toString(36).slice(2)}.json`);
  const r = spawnSync(process.execPath, [runner, ...args, "--json", json], { encoding: "utf8", timeout: 10 * 60_000 });
  let report: Report | null = null;
  try { report = JSON.parse(readFileSync(json, "utf8")); } catch { /* no report: status and output say why */ }
  return { status: r.status, output: `${r.stdout}${r.stderr}`, report };
}

let dir = "";
beforeAll(() => {
  // `make test` has built them (a no-op when cached); a cold build from
  // vitest alone takes several minutes.
  execFileSync(join(root, "wasm/openssl-tests/build.sh"), ["--smoke"], { stdio: ["ignore", "inherit", "inherit"], timeout: 60 * 60_000 });
  dir = readFileSync(join(root, "wasm/build/openssl-tests-dir"), "utf8").trim();
}, 60 * 60_000);

describe("OpenSSL's own test programs built for wasm", () => {
  it("use the product's Configure flags, changed only as configure-delta.txt says", () => {
    const productPrefix = readFileSync(join(root, "wasm/build/openssl-prefix"), "utf8").trim();
    const product = lines(readFileSync(join(productPrefix, "configure-flags"), "utf8"));
    expect(lines(readFileSync(join(dir, "product-configure-flags"), "utf8"))).toEqual(product);
    const expected = [...product];
    for (const change of lines(readFileSync(join(root, "wasm/openssl-tests/configure-delta.txt"), "utf8"))) {
      const [op, flag] = change.split(/\s+/);
      if (op === "remove") {
        expect(expected, `configure-delta.txt removes ${flag}`).toContain(flag);
        expected.splice(expected.indexOf(flag), 1);
      } else {
        expect(op).toBe("add");
        expected.push(flag);
      }
    }
    expect(lines(readFileSync(join(dir, "configure-flags"), "utf8"))).toEqual(expected);
  });

  it("pass the smoke subset with no unexplained failure", () => {
    const { status, output, report } = run("--smoke");
    expect(report, output).not.toBeNull();
    expect(report!.unexpected, output).toEqual([]);
    expect(report!.stale, output).toEqual([]);
    expect(status, output).toBe(0);
    // every program really ran tests (nothing silently skipped)
    const byName = new Map(report!.programs.map((p) => [p.program, p]));
    for (const p of ["tls13secretstest", "recordlentest", "servername_test", "ssl_test", "evp_test"]) {
      expect(byName.get(p)?.pass, `${p} passed tests`).toBeGreaterThan(0);
    }
    expect(byName.get("ssl_test")!.runs).toBe(4); // two recipes, providers "none" and "default"
    expect(byName.get("evp_test")!.stanzas!.ran).toBeGreaterThan(300); // AES (GCM among them) and ChaCha20(-Poly1305) vectors
  }, 10 * 60_000);

  it("fail on a failure that is not listed, and on a listed one that passes", () => {
    // a ChaCha20-Poly1305 vector with one ciphertext digit changed
    const good = readFileSync(join(dir, "tree/test/recipes/30-test_evp_data/evpciph_chacha.txt"), "utf8");
    const bad = good.replace(/^(Ciphertext = )([0-9a-f])/m, (_, k: string, d: string) => `${k}${d === "0" ? "1" : "0"}`);
    expect(bad).not.toBe(good);
    writeFileSync(join(scratch, "good.txt"), good);
    writeFileSync(join(scratch, "bad.txt"), bad);
    const listed = join(scratch, "expected.txt");
    writeFileSync(listed, "evp_test bad.txt: all stanzas  # a vector corrupted on purpose\n");

    const unlisted = run("--evp-file", join(scratch, "bad.txt"));
    expect(unlisted.status, unlisted.output).toBe(1);
    expect(unlisted.report!.unexpected.map((u) => u.id)).toEqual(["evp_test bad.txt: all stanzas"]);

    const known = run("--evp-file", join(scratch, "bad.txt"), "--expected", listed);
    expect(known.status, known.output).toBe(0);
    expect(known.report!.known.map((k) => k.id)).toEqual(["evp_test bad.txt: all stanzas"]);

    writeFileSync(listed, "evp_test good.txt: all stanzas  # listed, but it passes\n");
    const stale = run("--evp-file", join(scratch, "good.txt"), "--expected", listed);
    expect(stale.status, stale.output).toBe(1);
    expect(stale.report!.stale.map((s) => s.id)).toEqual(["evp_test good.txt: all stanzas"]);
  }, 5 * 60_000);
});

// The API reference (`make docs`): TypeDoc on its own TypeScript 6 while the
// build stays on TypeScript 7, no warning (every one is an error), pages for
// the main classes, the OpenSSL man page links of the TSDoc `@see` tags, and
// nothing marked @internal. One TypeDoc run, about 15 s on 2 cores.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const root = resolve(import.meta.dirname, "../..");
const out = mkdtempSync(join(tmpdir(), "openssl-wasm-docs-test-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

let run: { status: number | null; output: string };
beforeAll(() => {
  const r = spawnSync("make", ["--no-print-directory", "docs", `DOCS_OUT=${out}`], { cwd: root, encoding: "utf8" });
  // eslint-disable-next-line no-control-regex
  run = { status: r.status, output: `${r.stdout}${r.stderr}`.replace(/\x1b\[[0-9;]*m/g, "") };
}, 180_000);

const page = (dir: string, name: string): string => {
  // TypeDoc names a page after the module and the symbol: classes/openssl-tls-wasm.TlsSocket.html
  const file = readdirSync(join(out, dir)).find((f) => f === `${name}.html` || f.endsWith(`.${name}.html`));
  expect(file, `${dir}/…${name}.html`).toBeDefined();
  return readFileSync(join(out, dir, file!), "utf8");
};

// The HTML of one member's section: from its anchor to the next member's.
const member = (html: string, id: string): string => {
  const start = html.indexOf(`id="${id}"`);
  expect(start, `#${id}`).toBeGreaterThan(-1);
  const end = html.indexOf("<section", start);
  return html.slice(start, end === -1 ? undefined : end);
};

describe("make docs", () => {
  it("exits 0 and prints no warning", () => {
    expect(run.output).toMatch(/html generated at/);
    expect(run.output.split("\n").filter((l) => /warning|\berror\b/i.test(l))).toEqual([]);
    expect(run.status).toBe(0);
  });

  it("runs TypeDoc on docs/'s pinned TypeScript, not the build's TypeScript 7", () => {
    const docsPkg = JSON.parse(readFileSync(join(root, "docs/package.json"), "utf8"));
    const docsRequire = createRequire(join(root, "docs/node_modules/typedoc/package.json"));
    expect(docsRequire("typescript/package.json").version).toBe(docsPkg.devDependencies.typescript);
    expect(docsRequire("typedoc/package.json").version).toBe(docsPkg.devDependencies.typedoc);
    const rootPkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
    expect(rootPkg.devDependencies.typescript).toMatch(/^7\./);
    expect(rootPkg.devDependencies.typedoc).toBeUndefined();
  });

  it("has pages for the main classes and both public entries", () => {
    expect(page("classes", "OpenSSL")).toMatch(/Class OpenSSL/);
    expect(page("classes", "TlsSocket")).toMatch(/Class TlsSocket/);
    const index = readFileSync(join(out, "index.html"), "utf8");
    expect(index).toContain(">openssl-tls-wasm<");
    expect(index).toContain(">openssl-tls-wasm/node<");
  });

  it("links the OpenSSL man page of each OpenSSL-backed method", () => {
    const connection = page("classes", "TlsConnection");
    const man = (name: string) => `href="https://docs.openssl.org/3.5/man3/${name}/"`;
    const linked: [string, string, string][] = [
      ["TlsConnection", "handshake", "SSL_do_handshake"], ["TlsConnection", "shutdown", "SSL_shutdown"],
      ["TlsConnection", "read", "SSL_read"], ["TlsConnection", "write", "SSL_write"],
      ["TlsConnection", "getsession", "SSL_get_session"], ["TlsConnection", "setsession", "SSL_set_session"],
      ["TlsConnection", "keyupdate", "SSL_key_update"], ["TlsConnection", "clear", "SSL_clear"],
      ["TlsContext", "setticketkeys", "SSL_CTX_set_tlsext_ticket_key_cb"], ["OpenSSL", "verifycertificate", "X509_verify_cert"],
      ["OpenSSL", "randombytes", "RAND_bytes"], ["TlsSession", "import", "d2i_SSL_SESSION"],
    ];
    for (const [cls, method, fn] of linked) expect(member(page("classes", cls), method), `${cls}.${method}`).toContain(man(fn));
    expect(connection).toContain(man("SSL_new"));
  });

  it("leaves out what is marked @internal", () => {
    const openssl = page("classes", "OpenSSL");
    for (const id of ["module", "malloc", "drainerrors"]) expect(openssl).not.toContain(`id="${id}"`);
    const context = page("classes", "TlsContext");
    for (const id of ["_adopt", "_selectalpn", "_onstatus", "ptr"]) expect(context, id).not.toContain(`id="${id}"`);
    expect(page("classes", "TlsConnection")).not.toContain('id="ptr"');
    expect(openssl).toContain('id="createcontext"'); // public members stay
  });
});

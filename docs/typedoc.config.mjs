// TypeDoc's configuration for `make docs`: the API reference, from the TSDoc
// comments of the package's public entries, into docs/api/ (not tracked).
//
// TypeDoc drives the TypeScript compiler API, which TypeScript 7 (the native
// compiler the build uses) does not have; it runs on the TypeScript 6.0 of
// docs/package.json, apart from the root's 7.0.2. It type-checks the sources
// again on the way, so a construct that TypeScript 6 reads differently from 7
// fails here loudly instead of being documented wrongly.
import { readFileSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dirname, "..");
const lines = (file) =>
  readFileSync(join(import.meta.dirname, file), "utf8")
    .split("\n").map((l) => l.replace(/#.*/, "").trim()).filter(Boolean);

// The generated constants keep OpenSSL's names and carry no comments (their
// documentation is OpenSSL's own); every other exported symbol needs a
// comment, except the ones listed in not-documented.txt.
const constants = [...readFileSync(join(root, "bindings/src/generated/constants.ts"), "utf8")
  .matchAll(/^export const (\w+)/gm)].map((m) => `openssl-tls-wasm.constants.${m[1]}`);

/** @type {Partial<import("typedoc").TypeDocOptions>} */
export default {
  name: "openssl-tls-wasm",
  // The package's public entries (package.json "exports"), one line each;
  // each file's first comment names its module with `@module`.
  entryPoints: [
    join(root, "bindings/src/index.ts"),
    join(root, "bindings/src/node.ts"),
    join(root, "bindings/src/edge/index.ts"),
  ],
  tsconfig: join(root, "tsconfig.json"),
  out: join(import.meta.dirname, "api"),
  readme: "none",
  includeVersion: true,
  excludeInternal: true,
  excludePrivate: true,
  // No "Defined in" lines: TypeDoc derives source links from the git remote,
  // and warns (an error here) in a checkout without one, so the output would
  // depend on the machine. The package has no public repository URL to link to.
  disableSources: true,
  treatWarningsAsErrors: true,
  validation: {
    notExported: true,
    invalidLink: true,
    rewrittenLink: true,
    notDocumented: true,
    unusedMergeModuleWith: true,
  },
  // Types that public signatures use but the entries do not export; shown by
  // name, without a page. Generated FFI types are internal (STYLE.md 2).
  // An entry that no longer applies is itself a warning.
  intentionallyNotExported: [
    "bindings/src/generated/ffi.ts:FFI", // OpenSSL.ffi (experimental; generated)
    "bindings/src/tunnel/destination.ts:Destination", // parseDestination()
  ],
  // Likewise, an entry of not-documented.txt that gets a comment must leave it.
  intentionallyNotDocumented: [...lines("not-documented.txt"), ...constants],
};

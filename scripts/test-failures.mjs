#!/usr/bin/env node
// After a failed `npx vitest run`: the failed tests, one short paragraph each
// (file, name, the first lines of the message), as the last thing printed,
// so a log that keeps only its tail (CI) still says what failed and why.
// Reads the JSON report vitest writes next to its default output (Makefile).
import { readFileSync } from "node:fs";

const file = process.argv[2] ?? "test-results/vitest.json";
let report;
try {
  report = JSON.parse(readFileSync(file, "utf8"));
} catch (e) {
  console.error(`test-failures: no report at ${file} (${e.message})`);
  process.exit(0);
}
const plain = (s) => String(s).replace(/\x1b\[[0-9;]*m/g, "");
const failed = [];
for (const f of report.testResults ?? []) {
  const name = f.name.replace(process.cwd() + "/", "");
  const tests = (f.assertionResults ?? []).filter((t) => t.status === "failed");
  if (tests.length === 0 && f.status === "failed") failed.push({ name, test: "(the file itself)", message: f.message ?? "" });
  for (const t of tests) failed.push({ name, test: t.fullName, message: (t.failureMessages ?? []).join("\n") });
}
console.log(`\n==== ${failed.length} failed test(s), from ${file}`);
for (const { name, test, message } of failed) {
  const lines = plain(message).split("\n").filter((l) => l.trim() && !/^\s+at /.test(l)).slice(0, 12);
  console.log(`\n${name} > ${test}\n  ${lines.join("\n  ")}`);
}

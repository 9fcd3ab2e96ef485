import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/unit/**/*.test.ts", "test/build/**/*.test.ts", "test/package/**/*.test.ts", "test/interop/**/*.test.ts", "test/runtimes/**/*.test.ts", "test/browser/**/*.test.ts"],
    testTimeout: 60_000,
    // wasm instantiation and certificate generation dominate; keep the pool small on 2 cores
    pool: "forks",
  },
});

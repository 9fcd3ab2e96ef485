// Bundles worker.js and the package into dist/worker.js, as wrangler would:
// the package's "workerd" export condition; cloudflare:sockets stays an
// import, for workerd to supply. The tunnel needs no wasm.
export default {
  input: "worker.js",
  platform: "neutral",
  resolve: { conditionNames: ["workerd", "worker", "import", "default"] },
  external: ["cloudflare:sockets"],
  output: { file: "dist/worker.js", format: "esm" },
};

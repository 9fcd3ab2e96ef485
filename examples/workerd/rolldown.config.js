// Bundles worker.js and the package into dist/worker.js, as wrangler would:
// the package's "workerd" export condition; cloudflare:sockets and the wasm
// stay imports, for workerd to supply (config.capnp).
export default {
  input: "worker.js",
  platform: "neutral",
  resolve: { conditionNames: ["workerd", "worker", "import", "default"] },
  external: ["cloudflare:sockets", "openssl-tls-wasm/wasm"],
  output: { file: "dist/worker.js", format: "esm" },
};

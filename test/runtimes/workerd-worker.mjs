// workerd entry: a Worker that runs the smoke test on request, over
// Cloudflare's connect() (cloudflare:sockets), with the wasm imported as a
// module: workerd refuses to compile wasm from bytes at run time, so the
// package takes the WebAssembly.Module the worker was given.
import { connect } from "cloudflare:sockets";
import wasm from "../../wasm/dist/openssl.wasm";
import * as lib from "../../bindings/dist/index.js";
import { smoke } from "./smoke.mjs";

export default {
  async fetch(request, env) {
    try {
      const transport = lib.connectCloudflare(connect, "127.0.0.1", Number(env.SMOKE_PORT));
      const result = await smoke(lib, { transport, caPem: env.SMOKE_CA, servername: env.SMOKE_SERVERNAME, wasm });
      return Response.json({ runtime: "workerd", ...result });
    } catch (e) {
      return new Response(String(e?.stack ?? e), { status: 500 });
    }
  },
};

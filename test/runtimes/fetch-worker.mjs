// workerd entry: a Worker that runs createFetch on request, over Cloudflare's
// connect() (cloudflareConnector), with the wasm imported as a module (loaded
// first, so the fetch's OpenSSL.load() finds it).
import { connect } from "cloudflare:sockets";
import wasm from "../../wasm/dist/openssl.wasm";
import * as lib from "../../bindings/dist/index.js";

export default {
  async fetch(request, env) {
    try {
      await lib.OpenSSL.load({ wasm });
      const fetch = lib.createFetch({ connector: lib.cloudflareConnector(connect), tls: { ca: [env.FETCH_CA], checkHost: env.FETCH_HOST } });
      const a = await fetch(`${env.FETCH_BASE}/chunked`);
      const textA = await a.text();
      const b = await fetch(`${env.FETCH_BASE}/gzip`);
      const textB = await b.text();
      const info = lib.tlsInfo(b);
      await fetch.close();
      return Response.json({
        runtime: "workerd", textA, gzipLength: textB.length, status: b.status,
        protocol: info.protocol, alpn: info.alpnProtocol, reused: info.connectionReused,
      });
    } catch (e) {
      return new Response(String(e?.stack ?? e), { status: 500 });
    }
  },
};

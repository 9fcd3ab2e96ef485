// The browser tests' page (blank.html): the runtime smoke test, the README's
// `for await` loop, the package tour and createFetch on the main thread (smoke-worker.mjs
// runs the same in a module Worker).
import * as lib from "/bindings/dist/index.js";
import { smoke } from "/test/runtimes/smoke.mjs";
import { readmeLoop } from "/test/browser/readme-loop.mjs";
import { tour } from "/test/browser/package-tour.mjs";

window.runSmoke = async ({ url, caPem, servername }) => {
  const transport = await lib.connectWebSocket(url);
  return smoke(lib, { transport, caPem, servername });
};
window.runReadmeLoop = (o) => readmeLoop(lib, o);
window.runTour = (ids) => tour(lib, ids);
// A module compiled from the README's engine example (runtime.test.ts), from
// its source text; `polyfill` first runs what the README tells Safari users
// of TypeScript's `using` to run (here after the package has loaded).
window.runUsingExample = async ({ code, caPem, polyfill }) => {
  if (polyfill) Symbol.dispose ??= Symbol.for("Symbol.dispose");
  const m = await import(URL.createObjectURL(new Blob([code], { type: "text/javascript" })));
  try {
    return { ok: true, value: await m.readmeExample(lib, caPem) };
  } catch (e) {
    return { ok: false, error: String(e) };
  }
};
// Handshakes both ends in the page from a cold module (runtime.test.ts:
// "ECDSA P-256 from a cold module"): "ok" or what failed, per handshake.
window.runColdHandshakes = async (o) => {
  const out = [];
  try {
    await coldHandshakes(o, out);
  } catch (e) {
    // A trap (WebAssembly.RuntimeError) leaves the instance unusable: the page's run ends with it.
    out.push(`trap: ${e?.message ?? e}`);
  }
  return out;
};

async function coldHandshakes({ ids, servername, groups, perGroup }, out) {
  const ossl = await lib.OpenSSL.load();
  for (const id of ids) for (const g of groups) {
    const ctx = ossl.createContext({ role: "client", ca: id.certPem, groups: g });
    const sctx = ossl.createContext({ role: "server", cert: id.certPem, key: id.keyPem, groups: g });
    for (let n = 0; n < perGroup; n++) {
      const c = ctx.createConnection({ servername }), s = sctx.createConnection();
      let r = c.handshake();
      for (let k = 0; k < 16 && r.ret !== 1; k++) {
        let b = c.drain();
        if (b.length) s.feed(b);
        s.handshake();
        b = s.drain();
        if (b.length) c.feed(b);
        r = c.handshake();
        if (r.ret <= 0 && r.sslError !== "want_read" && r.sslError !== "want_write") break;
      }
      out.push(r.ret === 1 ? "ok" : `${id.name} ${g}: ${r.ret} ${r.sslError} ${r.failure?.message ?? ""}`);
      c.dispose();
      s.dispose();
      // Yield between handshakes: on a loaded machine 30 cold handshakes in one task can run long
      // enough for WebKit to take the page for hung and kill it.
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    ctx.dispose();
    sctx.dispose();
  }
}

// createFetch through the tunnel (fetch.test.ts): a chunked body, then a gzip
// body on the kept-alive connection, and the TLS details; a POST's body echoed.
window.runFetch = async ({ base, tunnelUrl, caPem }) => {
  const fetch = lib.createFetch({ connector: lib.tunnelConnector(tunnelUrl), tls: { ca: [caPem], checkHost: "localhost" } });
  const a = await fetch(`${base}/chunked`);
  const textA = await a.text();
  const b = await fetch(`${base}/gzip`);
  const textB = await b.text();
  const info = lib.tlsInfo(b);
  // a request body (Firefox has no Request.body: the body must not go unsent there)
  const posted = await (await fetch(`${base}/echo`, { method: "POST", body: "posted body" })).text();
  await fetch.close();
  return { textA, gzipLength: textB.length, protocol: info.protocol, alpn: info.alpnProtocol, reused: info.connectionReused, posted };
};

window.smokeReady = true;

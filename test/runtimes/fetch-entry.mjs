// Entry for Deno and Bun: `<runtime> test/runtimes/fetch-entry.mjs`, with
// FETCH_BASE (https://127.0.0.1:port), FETCH_CA (a PEM file) and
// FETCH_HOST (the name the certificate has) in the environment. createFetch
// over the runtime's native TCP connector; prints one JSON line.
import * as lib from "../../bindings/dist/index.js";

const env = (k) => (globalThis.Deno ? Deno.env.get(k) : process.env[k]);
const caPem = globalThis.Deno ? await Deno.readTextFile(env("FETCH_CA")) : await Bun.file(env("FETCH_CA")).text();
const connector = globalThis.Deno ? lib.denoConnector() : lib.bunConnector();
const fetch = lib.createFetch({ connector, tls: { ca: [caPem], checkHost: env("FETCH_HOST") } });
const a = await fetch(`${env("FETCH_BASE")}/chunked`);
const textA = await a.text();
const b = await fetch(`${env("FETCH_BASE")}/gzip`);
const textB = await b.text();
const info = lib.tlsInfo(b);
await fetch.close();
console.log(JSON.stringify({
  runtime: globalThis.Deno ? "deno" : "bun", textA, gzipLength: textB.length, status: b.status,
  protocol: info.protocol, alpn: info.alpnProtocol, reused: info.connectionReused,
}));

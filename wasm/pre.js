// --pre-js for wasm/dist/openssl.mjs (runs inside the module factory, before
// Emscripten's environment detection).
//
// Emscripten 3.1.6's Node branch sets its script directory from __dirname,
// which ES modules do not have (a ReferenceError in Node, and in Deno and Bun,
// which also look like Node to it). The directory is only used to locate and
// read openssl.wasm, which our loader always supplies itself (bindings'
// loader: bytes or a compiled WebAssembly.Module), so an empty one is right.
var __dirname = "";

// The browser tests in a module Worker: the package, its wasm and the
// WebSocket tunnel, off the main thread. The page posts { test, ...options }.
import * as lib from "/bindings/dist/index.js";
import { smoke } from "/test/runtimes/smoke.mjs";
import { readmeLoop } from "/test/browser/readme-loop.mjs";
import { tour } from "/test/browser/package-tour.mjs";

const tests = {
  smoke: async ({ url, caPem, servername }) => smoke(lib, { transport: await lib.connectWebSocket(url), caPem, servername }),
  readme: (o) => readmeLoop(lib, o),
  tour: (o) => tour(lib, o),
};

self.onmessage = async (e) => {
  const { test, ...options } = e.data;
  try {
    self.postMessage({ ok: true, result: await tests[test](options) });
  } catch (error) {
    self.postMessage({ ok: false, error: String(error?.stack ?? error) });
  }
};

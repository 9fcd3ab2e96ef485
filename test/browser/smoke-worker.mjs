// The runtime smoke test inside a module Worker: the package, its wasm and
// the WebSocket tunnel, off the main thread.
import * as lib from "/bindings/dist/index.js";
import { smoke } from "/test/runtimes/smoke.mjs";

self.onmessage = async (e) => {
  const { url, caPem, servername } = e.data;
  try {
    const transport = await lib.connectWebSocket(url);
    self.postMessage({ ok: true, result: await smoke(lib, { transport, caPem, servername }) });
  } catch (error) {
    self.postMessage({ ok: false, error: String(error?.stack ?? error) });
  }
};

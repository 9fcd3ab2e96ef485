// bench/browser.html's module Worker: runs a workload of
// bench/browser-workload.mjs on request ({ id, fn, args } -> { id, result }
// or { id, error }), so `make bench` measures TlsSocket off the main thread.
import * as workload from "./browser-workload.mjs";

self.onmessage = async ({ data: { id, fn, args } }) => {
  try {
    self.postMessage({ id, result: await workload[fn](args) });
  } catch (e) {
    self.postMessage({ id, error: String(e?.stack ?? e) });
  }
};

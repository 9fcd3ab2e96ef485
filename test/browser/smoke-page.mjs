// The runtime smoke test on a page's main thread (see smoke-worker.mjs for the Worker).
import * as lib from "/bindings/dist/index.js";
import { smoke } from "/test/runtimes/smoke.mjs";

window.runSmoke = async ({ url, caPem, servername }) => {
  const transport = await lib.connectWebSocket(url);
  return smoke(lib, { transport, caPem, servername });
};
window.smokeReady = true;

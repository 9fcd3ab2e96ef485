// The browser tests' page (blank.html): the runtime smoke test, the README's
// `for await` loop and the package tour on the main thread (smoke-worker.mjs
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
window.smokeReady = true;

// A broken tunnel, for test/unit/fuzz.test.ts to show that the live checks
// of test/fuzz/tunnel.mjs catch what they are for: the real one
// (bindings/dist), with the fault named in this module's URL
// (tunnel-host.mjs loads it in place of the real one).
//   ?fault=fd-leak  a file descriptor opened and never closed per refused WebSocket
//   ?fault=crash    the old close-reason bug: a RangeError escapes an event
//                   handler (and ends the process) when a refusal quotes
//                   non-ASCII characters, as ws.close() threw for a
//                   123-byte limit cut by characters
import { openSync } from "node:fs";
import { createTunnel as createRealTunnel } from "../../bindings/dist/tunnel/tunnel.js";

const fault = new URL(import.meta.url).searchParams.get("fault");

export function createTunnel(options) {
  return createRealTunnel({
    ...options,
    onEvent: (e) => {
      options.onEvent?.(e);
      if (e.event !== "refused") return;
      if (fault === "fd-leak") openSync("/dev/null", "r");
      // setImmediate: the tunnel's reporter swallows what onEvent throws
      if (fault === "crash" && /[^\x20-\x7e]/.test(e.reason)) {
        setImmediate(() => {
          throw new RangeError("The message must not be greater than 123 bytes");
        });
      }
    },
  });
}

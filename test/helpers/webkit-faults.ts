// WebKit's known cold-page fault (README, "WebKit's baseline wasm compiler
// got P-256 wrong": what is left of it) in the browser tests: now and then
// WebKitGTK 2.50 loses a fresh page (its web process crashes or is taken for
// hung; WebKitWebDriver: "Could not parse script result", then "page crash or
// hang") or the module traps (`unreachable`). Never in Chromium or Firefox.
//
// A test run through `faults.run()` that fails in one of those forms in
// WebKit runs once more, in a new page (browsers.mjs starts a new session
// when the old one is lost); the second run must pass. At most `max` such
// reruns per engine and test file, so a fault that became frequent still
// fails `make test`; any other failure fails at once, in every engine.
import { it } from "vitest";
import type { Engine } from "./browsers.mjs";

/** The forms the fault takes, as the driver or the page reports them. */
export const WEBKIT_PAGE_FAULT = /Could not parse script result|session deleted because of page crash or hang|invalid session id|Unreachable code should not be executed/;

export function webkitFaults(engine: Engine, max = 2) {
  const rerun: string[] = [];
  return {
    /** What was run again, and why. */
    rerun,
    async run<T>(what: string, test: () => Promise<T>): Promise<T> {
      try {
        return await test();
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        if (engine !== "webkit" || !WEBKIT_PAGE_FAULT.test(message) || rerun.length >= max) throw e;
        rerun.push(`${what}: ${message}`);
        console.warn(`webkit: "${what}" lost its page to WebKit's known fault (${message.slice(0, 200)}); running it once more`);
        return test();
      }
    },
  };
}

/**
 * vitest's `it` for one engine's browser tests: in WebKit each test is run
 * through `webkitFaults(engine).run()` (one budget for every test declared
 * with it); elsewhere it is plain `it`.
 */
export function browserIt(engine: Engine, max = 2) {
  const faults = webkitFaults(engine, max);
  return (name: string, body: () => Promise<void>, timeout?: number) => it(name, () => faults.run(name, body), timeout);
}
